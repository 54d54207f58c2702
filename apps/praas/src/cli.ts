import { optionError, PraasError, parseActorId } from "@praas/core/internal";
import type { DestinationStream } from "pino";
import { parseArgs } from "./args.js";
import { resolveStartConfig } from "./config.js";
import { ConfigError, exitCodeOf, UsageError } from "./errors.js";
import { controlRequest } from "./http-client.js";
import { runLocalCluster } from "./local-cluster/supervisor.js";
import { createLogger, defaultLogFormat } from "./logger.js";
import { otelWanted, startOtel } from "./otel.js";
import { CLIENT_SETTINGS, type ClientSetting, clientFlags, START_FLAGS, type StartConfig } from "./settings.js";
import { banner, type Running, startServer } from "./start.js";
import { USAGE } from "./usage.js";

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Where `praas start` writes log lines (default stderr; tests pass a stream). */
  readonly logTo?: DestinationStream;
}

/** `praas start`: the silo could not get back into its cluster within --rejoin-timeout-ms. */
export const EXIT_MEMBERSHIP_LOST = 3;

export type Outcome = { readonly exitCode: number } | { readonly running: Running };

export { USAGE };

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
      return { exitCode: exitCodeOf(err) };
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

/** A client flag's value: the flag, else its variable, else its default; a bad one is a UsageError naming where it came from. */
function clientOption(flags: Record<string, unknown>, io: Io, flag: string): unknown {
  const s = CLIENT_SETTINGS.find((x) => x.flag === flag) as ClientSetting;
  const fromEnv = s.env === undefined ? undefined : io.env[s.env];
  const [raw, where] =
    flags[flag] !== undefined
      ? [flags[flag], `--${flag}`]
      : fromEnv !== undefined && fromEnv !== ""
        ? [fromEnv, `$${s.env}`]
        : [undefined, `--${flag}`];
  const value = s.input === "number" && typeof raw === "string" ? Number(raw) : raw;
  if (value === undefined) return s.spec.default;
  if (s.spec.accept(value) === undefined) throw new UsageError(optionError(s.spec, where, raw).message);
  return value;
}

function target(flags: Record<string, unknown>, io: Io): { url: string; token: string | undefined } {
  return {
    url: clientOption(flags, io, "url") as string,
    token: clientOption(flags, io, "token") as string | undefined,
  };
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
  const { flags, positionals } = parseArgs(argv, clientFlags("call"));
  const [actor, method, ...args] = positionals;
  if (actor === undefined || method === undefined) {
    throw new UsageError("Usage: praas call <Type/key> <method> [args as JSON values…]");
  }
  const id = parseActorId(actor);
  const { url, token } = target(flags, io);
  const timeoutMs = clientOption(flags, io, "timeout-ms");
  const query = timeoutMs === undefined ? "" : `?timeoutMs=${timeoutMs}`;
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
  const { flags, positionals } = parseArgs(argv, clientFlags("status"));
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
