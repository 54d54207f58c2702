import { PraasError, parseActorId } from "@praas/core";
import type { DestinationStream } from "pino";
import { type FlagKind, parseArgs } from "./args.js";
import { resolveStartConfig, START_FLAGS, type StartConfig } from "./config.js";
import { ConfigError, UsageError } from "./errors.js";
import { controlRequest } from "./http-client.js";
import { runLocalCluster } from "./local-cluster/supervisor.js";
import { createLogger, defaultLogFormat } from "./logger.js";
import { otelWanted, startOtel } from "./otel.js";
import { banner, type Running, startServer } from "./start.js";

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Where `praas start` writes log lines (default stderr; tests pass a stream). */
  readonly logTo?: DestinationStream;
}

/** Errors the operator fixes before trying again: exit code 2 (see USAGE). */
const EXIT_CODE_2: ReadonlySet<string> = new Set(["USAGE", "CONFIG", "REDIS_UNAVAILABLE"]);

/** `praas start`: the silo could not get back into its cluster within --rejoin-timeout-ms. */
export const EXIT_MEMBERSHIP_LOST = 3;

export type Outcome = { readonly exitCode: number } | { readonly running: Running };

export const USAGE = `praas — run and use PraaS silos (virtual actors for Node)

  praas start [options]                  run a silo with its WebSocket/HTTP gateway until SIGTERM
      --actors <module>                  module exporting Actor classes (repeatable, comma-separated)
      --host <addr>                      interface to listen on (default 127.0.0.1)
      --port <n>                         port (default 7070; 0 picks a free one)
      --state-dir <dir>                  where swapped-out state goes (default ./.praas-state)
      --idle-timeout-ms <n>              swap actors out after this much idle time (default 300000)
      --call-timeout-ms <n>              default deadline of a call (default 30000)
      --max-activations <n>              swap out least recently used actors beyond this many
      --drain-timeout-ms <n>             how long SIGTERM waits for running calls (default 10000)
      --token <secret>                   require this bearer token (prefer $PRAAS_TOKEN)
      --token-file <path>                the token from a file (a Kubernetes Secret volume, a Docker
                                         secret, a systemd credential); one line, ≤ 4 KiB
      --insecure                         allow a non-loopback --host without a token
      --silos <n>|auto                   run n silo processes (auto: one per core) as one cluster on
                                         this host, silo i on --port + i; restarted when they die;
                                         no Redis needed (with --cluster they join it instead)
      --worker-threads <n>               threads per silo for static threads types (default: cores
                                         left after the event loop; 1 per silo with --silos)
    Cluster (membership in Redis; calls go to the silo owning the actor):
      --cluster <name>                   join this cluster (needs --redis-url)
      --redis-url <redis://host:port>    Redis for membership, --storage redis and reminders
      --cluster-host <addr>              silo-to-silo listener interface (default 127.0.0.1)
      --cluster-port <n>                 silo-to-silo listener port (default 0: any free one)
      --advertise <host:port>            address other silos dial (required with 0.0.0.0 / ::)
      --cluster-secret <secret>          shared secret, ≥ 16 chars, the same on every silo (prefer
                                         $PRAAS_CLUSTER_SECRET); required, on loopback too
      --cluster-secret-file <path>       the cluster secret from a file (as --token-file)
      --heartbeat-ms <n>                 membership heartbeat period (default 500)
      --dead-after-ms <n>                peers declare a silo dead after this long without a
                                         heartbeat (default max(2000, 4 × heartbeat)); the lease ends
                                         before it; detection bound = dead-after + heartbeat
      --rejoin-timeout-ms <n>            exit (code 3) after this long out of the cluster: membership
                                         lease lost, or evicted and not yet rejoined (default 60000)
      --redis-connect-timeout-ms <n>     at start, wait this long for Redis, then exit 2 (default 10000)
      --reminders redis|local            where reminders live (default: redis in a cluster, hash
                                         praas:<cluster>:reminders; else local files or memory)
    Storage:
      --storage lmdb|fs|s3|redis|memory  where actor state goes (default lmdb: the embedded store in
                                         --state-dir, one process per folder; fs: a file per actor)
      --s3-bucket <name>                 s3: the bucket (required; it must exist)
      --s3-prefix <prefix>               s3: key prefix
      --s3-endpoint <url>                s3: S3-compatible server (MinIO, R2, …)
      --s3-region <region>               s3: region (default: AWS SDK chain, us-east-1 with an endpoint)
      --s3-path-style                    s3: path-style URLs (MinIO and most local servers)
                                         credentials: the AWS SDK default chain (AWS_ACCESS_KEY_ID, …)
      --redis-key-prefix <prefix>        redis: key prefix (default praas:state:)
    Observability (docs/observability.md):
      --log-level debug|info|warn|error|silent   lowest level logged (default info)
      --log-format json|pretty           log lines (default: readable in a terminal, JSON otherwise
                                         and with NODE_ENV=production); logs go to stderr
      --otel                             export traces over OTLP/HTTP (also on when
                                         OTEL_TRACES_EXPORTER=otlp or OTEL_EXPORTER_OTLP_*ENDPOINT is set)
      --config <file.json>               settings file: the keys above in camelCase, plus "limits"
    Environment: PRAAS_ + the flag in upper case with _ (PRAAS_ACTORS, PRAAS_PORT, PRAAS_CLUSTER,
    PRAAS_REDIS_URL, PRAAS_STORAGE, PRAAS_S3_BUCKET, PRAAS_CLUSTER_SECRET, …), and PRAAS_CONFIG.
    Flags override the environment, which overrides the config file.

  praas call <Type/key> <method> [args…] call a method; each arg is a JSON value (a bare word is a string)
  praas status [Type/key]                the cluster view, or where one actor is
      --url <http://host:port>           gateway to ask (default $PRAAS_URL or http://127.0.0.1:7070)
      --token <secret>                   bearer token (default $PRAAS_TOKEN)
      --timeout-ms <n>                   deadline of the call (call only)
      --json                             print raw JSON (status only)

  praas help, praas <command> --help     this text

  Exit codes: 0 done (start: stopped by a signal, state saved); 1 failed; 2 bad usage or settings,
  or Redis unreachable at start; 3 (start) out of the cluster for longer than --rejoin-timeout-ms.
`;

const CLIENT_FLAGS: Record<string, FlagKind> = { url: "string", token: "string" };
const COMMANDS = new Set(["start", "call", "status"]);

/** `praas <command> --help` (or -h) anywhere before a `--`: the user wants the usage, not a run. */
function asksForHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

export async function runCommand(argv: readonly string[], io: Io): Promise<Outcome> {
  const [command, ...rest] = argv;
  try {
    if (COMMANDS.has(command as string) && asksForHelp(rest)) {
      io.out(USAGE);
      return { exitCode: 0 };
    }
    switch (command) {
      case "start":
        return await start(rest, io);
      case "call":
        return { exitCode: await call(rest, io) };
      case "status":
        return { exitCode: await status(rest, io) };
      case undefined:
      case "help":
      case "--help":
      case "-h":
        io.out(USAGE);
        return { exitCode: command === undefined ? 2 : 0 };
      default:
        throw new UsageError(`Unknown command "${command}"; commands: start, call, status, help`);
    }
  } catch (err) {
    if (err instanceof PraasError) {
      io.err(`praas: ${err.message} [${err.code}]`);
      return { exitCode: EXIT_CODE_2.has(err.code) ? 2 : 1 };
    }
    throw err;
  }
}

async function start(argv: readonly string[], io: Io): Promise<Outcome> {
  const { flags, positionals } = parseArgs(argv, START_FLAGS);
  if (positionals.length > 0) throw new UsageError(`praas start takes no arguments, got ${positionals.join(" ")}`);
  const config = resolveStartConfig({ flags, env: io.env, cwd: io.cwd });
  if (config.silos !== undefined) return { exitCode: await runLocalCluster(config, io, config.silos) };
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat ?? defaultLogFormat(io.logTo === undefined && process.stderr.isTTY === true, io.env),
    destination: io.logTo,
  });
  // Before the silo starts, so its first spans are exported too.
  const otel = otelWanted(config.otel, io.env) ? await startOtel(io.env, logger.log) : undefined;
  let running: Running;
  try {
    running = await startServer(config, logger);
  } catch (err) {
    await otel?.shutdown();
    throw listenFailure(err, config) ?? err;
  }
  io.out(banner(running, config));
  if (otel === undefined) return { running };
  const stop = running.stop;
  return {
    running: {
      ...running,
      async stop() {
        try {
          return await stop();
        } finally {
          await otel.shutdown();
        }
      },
    },
  };
}

const LISTEN_PROBLEMS: Readonly<Record<string, string>> = {
  EADDRINUSE: "the port is already in use (EADDRINUSE): another process, perhaps another praas start, holds it",
  EACCES: "permission denied (EACCES): ports below 1024 need privileges",
  EADDRNOTAVAIL: "the address is not one of this machine's (EADDRNOTAVAIL)",
};

/**
 * A listener that could not open (port taken, privileged, foreign address) is
 * a setting to change, not a crash: a ConfigError naming the setting, or
 * undefined when `err` is something else.
 */
function listenFailure(err: unknown, config: StartConfig): ConfigError | undefined {
  const e = err as Partial<NodeJS.ErrnoException> & { address?: unknown; port?: unknown };
  const problem = e?.syscall === "listen" && typeof e.code === "string" ? LISTEN_PROBLEMS[e.code] : undefined;
  if (problem === undefined) return undefined;
  const host = String(e.address);
  const where = `${host.includes(":") ? `[${host}]` : host}:${String(e.port)}`;
  const gateway = e.port === config.port || config.cluster === undefined;
  const how = gateway
    ? 'choose another with --port, $PRAAS_PORT or "port" in the config file (0 picks a free one); the interface with --host'
    : 'choose another silo-to-silo port with --cluster-port, $PRAAS_CLUSTER_PORT or "clusterPort" in the config file (0, the default, picks a free one); the interface with --cluster-host';
  return new ConfigError(`Cannot listen on ${where}: ${problem}; ${how}`);
}

function target(flags: Record<string, unknown>, io: Io): { url: string; token: string | undefined } {
  const url = (flags.url as string | undefined) ?? io.env.PRAAS_URL ?? "http://127.0.0.1:7070";
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url must be an http:// or https:// URL, got ${url}`);
  return { url, token: (flags.token as string | undefined) ?? io.env.PRAAS_TOKEN };
}

/** A JSON value, or the word itself as a string (so `praas call Room/a join ana` works). */
function argValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function actorPath(type: string, key: string): string {
  return `/v1/actors/${encodeURIComponent(type)}/${encodeURIComponent(key)}`;
}

async function call(argv: readonly string[], io: Io): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...CLIENT_FLAGS, "timeout-ms": "string" });
  const [actor, method, ...args] = positionals;
  if (actor === undefined || method === undefined) {
    throw new UsageError("Usage: praas call <Type/key> <method> [args as JSON values…]");
  }
  const id = parseActorId(actor);
  const { url, token } = target(flags, io);
  let query = "";
  if (flags["timeout-ms"] !== undefined) {
    const n = Number(flags["timeout-ms"]);
    if (!(n > 0)) throw new UsageError(`--timeout-ms must be a positive number, got ${flags["timeout-ms"]}`);
    query = `?timeoutMs=${n}`;
  }
  const result = await controlRequest(
    url,
    "POST",
    `${actorPath(id.type, id.key)}/${encodeURIComponent(method)}${query}`,
    token,
    JSON.stringify(args.map(argValue)),
  );
  io.out(JSON.stringify(result, null, 2));
  return 0;
}

interface ClusterJson {
  version: number;
  self: string;
  serving?: boolean;
  reason?: string;
  silos: { id: string; address?: string; status: string; activations?: number; perType?: Record<string, number> }[];
}

async function status(argv: readonly string[], io: Io): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { ...CLIENT_FLAGS, json: "boolean" });
  if (positionals.length > 1) throw new UsageError("Usage: praas status [Type/key]");
  const { url, token } = target(flags, io);
  if (positionals.length === 1) {
    const id = parseActorId(positionals[0] as string);
    const r = (await controlRequest(url, "GET", actorPath(id.type, id.key), token)) as Record<string, unknown>;
    io.out(
      flags.json === true ? JSON.stringify(r) : `${id.type}/${id.key}: ${r.status}${r.silo ? ` on ${r.silo}` : ""}`,
    );
    return 0;
  }
  const view = (await controlRequest(url, "GET", "/v1/cluster", token)) as ClusterJson;
  if (flags.json === true) {
    io.out(JSON.stringify(view));
    return 0;
  }
  const lines = [`Cluster (membership version ${view.version}), answered by ${view.self}`];
  if (view.serving === false) lines.push(`  (${view.self} is not serving: ${view.reason ?? "no membership lease"})`);
  for (const s of view.silos) {
    const types = Object.entries(s.perType ?? {})
      .map(([t, n]) => `${t} ${n}`)
      .join(", ");
    lines.push(
      `  ${s.id}  ${s.status}${s.address ? `  ${s.address}` : ""}  activations ${s.activations ?? "?"}${types ? `  (${types})` : ""}`,
    );
  }
  io.out(lines.join("\n"));
  return 0;
}
