import { join } from "node:path";
import {
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_STATE_DIR,
  type LogFunction,
  type MembershipProvider,
  OptionError,
  redactUrl,
  remindersKey as remindersHash,
} from "@praas/core/internal";
import {
  RedisUnavailableError,
  redisMembership,
  redisReminderStore,
  redisStateStore,
  waitForRedis,
} from "@praas/redis";
import {
  type ClusterOptions,
  describeTypes,
  FileReminderStore,
  FileStateStore,
  type Gateway,
  InvalidArgumentError,
  LmdbStateStore,
  MemoryStateStore,
  PraasError,
  type ReminderStore,
  Silo,
  type StateStore,
  type StopReport,
  startGateway,
} from "@praas/silo";
import { s3Storage } from "@praas/storage-s3";
import { combineWeb, loadActorModules } from "./actors.js";
import { ConfigError } from "./errors.js";
import { type CliLogger, createLogger } from "./logger.js";
import { type StartConfig, settingHint } from "./settings.js";

export interface Running {
  readonly silo: Silo;
  /** The runtime's logger (pino), silo id bound. */
  readonly logger: CliLogger;
  readonly gateway: Gateway;
  /** Did a module offer web routes (`praasWeb`)? */
  readonly hasWeb: boolean;
  /** Drain the gateway (running calls finish), then stop the silo (state saved); says what it saved and abandoned. */
  stop(): Promise<StopReport>;
}

/**
 * What a silo process of `praas start --silos N` (local-cluster/child.ts) adds:
 * the parent's membership when no Redis cluster is configured, and the
 * embedded store opened shared (every silo of the host uses the one folder).
 */
export interface LocalSilo {
  readonly membership: MembershipProvider | undefined;
  readonly secret: string | undefined;
}

/** Start a silo hosting the configured actors and its gateway. */
export async function startServer(
  config: StartConfig,
  logger = createLogger({ level: "info", format: "json" }),
  local?: LocalSilo,
): Promise<Running> {
  const { log } = logger;
  const { classes, web } = await loadActorModules(config.actors);
  if (config.redisUrl !== undefined) {
    // Bounded: Redis that does not answer is a clear error (exit code 2), not a hang.
    await waitForRedis(config.redisUrl, { timeoutMs: config.redisConnectTimeoutMs }).catch((err: unknown) => {
      throw explain(err);
    });
  }
  const parts: Partial<Parts> = {};
  let silo: Silo;
  try {
    Object.assign(parts, buildParts(config, log, local));
    silo = await Silo.start({
      actors: classes,
      // Given always: the CLI read $PRAAS_STATE_DIR from its own environment already.
      stateDir: stateDirOf(config),
      idleTimeoutMs: config.idleTimeoutMs,
      callTimeoutMs: config.callTimeoutMs,
      maxActivations: config.maxActivations,
      drainTimeoutMs: config.drainTimeoutMs,
      storage: parts.storage,
      reminders: parts.reminders,
      cluster: parts.cluster,
      workerThreads: config.workerThreads,
      log,
    });
    logger.setSilo(silo.siloId);
  } catch (err) {
    // The silo may not have taken ownership yet: close whatever was opened (closing twice is harmless).
    await Promise.all([
      parts.storage?.close().catch(() => {}),
      parts.reminders?.close().catch(() => {}),
      parts.cluster?.membership.close().catch(() => {}),
    ]);
    throw explain(err);
  }
  let gateway: Gateway;
  try {
    gateway = await startGateway(silo, {
      host: config.host,
      port: config.port,
      token: config.token,
      insecure: config.insecure,
      limits: config.limits,
      fallback: combineWeb(web),
    });
  } catch (err) {
    await silo.stop();
    throw err;
  }
  let stopping: Promise<StopReport> | undefined;
  return {
    silo,
    logger,
    gateway,
    hasWeb: web.length > 0,
    stop() {
      stopping ??= (async () => {
        await gateway.close({ drainTimeoutMs: config.drainTimeoutMs });
        return silo.stop();
      })();
      return stopping;
    },
  };
}

interface Parts {
  readonly storage: StateStore | undefined;
  readonly reminders: ReminderStore | undefined;
  readonly cluster: ClusterOptions | undefined;
}

/** The stores and the cluster option the configuration asks for (undefined: the silo's defaults). */
function buildParts(config: StartConfig, log: LogFunction, local?: LocalSilo): Parts {
  const redisUrl = config.redisUrl as string;
  let storage: StateStore | undefined;
  if (config.storage === "lmdb" && local !== undefined) {
    storage = new LmdbStateStore(stateDirOf(config), { shared: true });
  } else if (config.storage === "memory") storage = new MemoryStateStore();
  else if (config.storage === "fs") storage = new FileStateStore(stateDirOf(config));
  else if (config.storage === "redis")
    storage = redisStateStore({
      url: redisUrl,
      keyPrefix: config.redisKeyPrefix,
      log,
      commandTimeoutMs: config.redisCommandTimeoutMs,
    });
  else if (config.storage === "s3") {
    try {
      storage = s3Storage({
        bucket: config.s3Bucket as string,
        prefix: config.s3Prefix,
        endpoint: config.s3Endpoint,
        region: config.s3Region,
        forcePathStyle: config.s3PathStyle,
        requestTimeoutMs: config.s3RequestTimeoutMs,
      });
    } catch (err) {
      // Whatever the S3 store refuses here is one of its options, each an --s3-* setting.
      if (err instanceof InvalidArgumentError) {
        throw new ConfigError(`${err.message} (S3 settings: --s3-bucket, --s3-prefix, …)`);
      }
      throw err;
    }
  }
  let reminders: ReminderStore | undefined;
  if (config.reminders === "redis") {
    reminders = redisReminderStore({
      url: redisUrl,
      key: remindersKey(config),
      log,
      commandTimeoutMs: config.redisCommandTimeoutMs,
    });
  } else if (config.storage === "fs") reminders = new FileReminderStore(stateDirOf(config));
  let cluster: ClusterOptions | undefined;
  if (config.cluster !== undefined) {
    const membership: MembershipProvider = redisMembership({
      url: redisUrl,
      cluster: config.cluster,
      connectTimeoutMs: config.redisConnectTimeoutMs,
      ...(config.heartbeatMs === undefined ? {} : { heartbeatMs: config.heartbeatMs }),
      ...(config.deadAfterMs === undefined ? {} : { deadAfterMs: config.deadAfterMs }),
      log,
    });
    cluster = {
      name: config.cluster,
      membership,
      rejoinTimeoutMs: config.rejoinTimeoutMs,
      listen: { host: config.clusterHost, port: config.clusterPort },
      advertise: config.advertise,
      secret: config.clusterSecret,
    };
  }
  if (local?.membership !== undefined) {
    cluster = {
      name: "local",
      membership: local.membership,
      listen: { host: config.clusterHost, port: config.clusterPort },
      secret: local.secret,
      rejoinTimeoutMs: config.rejoinTimeoutMs,
    };
  }
  return { storage, reminders, cluster };
}

/** The Redis hash holding reminders: one per cluster. */
export function remindersKey(config: StartConfig): string {
  return remindersHash(config.cluster);
}

/**
 * An option the silo refused (an OptionError, by its path) becomes a
 * ConfigError naming the praas setting that gives it; Redis that does not
 * answer says what to check.
 */
function explain(err: unknown): unknown {
  if (err instanceof RedisUnavailableError) {
    return new RedisUnavailableErrorWithHint(
      `${err.message} — is it running? Check --redis-url, or wait longer with --redis-connect-timeout-ms`,
    );
  }
  if (!(err instanceof OptionError)) return err;
  const hint = settingHint(err.path);
  if (hint !== undefined) return new ConfigError(`${err.message} — ${hint}`, err.path);
  if (err.path.startsWith("cluster")) {
    return new ConfigError(`${err.message} (cluster settings: --cluster, --cluster-host, …)`, err.path);
  }
  return err;
}

/** The state folder of the lmdb and fs stores (the silo's own default for lmdb). */
function stateDirOf(config: StartConfig): string {
  return config.stateDir ?? join(process.cwd(), DEFAULT_STATE_DIR);
}

/** Where state goes, for the banner. */
function describeStorage(config: StartConfig): string {
  switch (config.storage) {
    case "lmdb":
      return `${stateDirOf(config)} (embedded store, this process only)`;
    case "fs":
      return `${stateDirOf(config)} (one file per actor)`;
    case "memory":
      return "in memory (lost when the process exits)";
    case "redis":
      return `Redis ${redactUrl(config.redisUrl as string)}, keys ${config.redisKeyPrefix ?? DEFAULT_REDIS_KEY_PREFIX}…`;
    case "s3":
      return `s3://${config.s3Bucket}/${config.s3Prefix ?? ""}${config.s3Endpoint ? ` at ${config.s3Endpoint}` : ""}`;
  }
}

/** The methods clients may call, per type (as GET /v1/types shows them). */
function callableLines(silo: Silo): string[] {
  return describeTypes(silo).map((t, i) => {
    const how = t.explicit
      ? ""
      : "   (all public methods, TypeScript private/protected too: narrow with static expose)";
    return `  ${i === 0 ? "callable" : "        "}   ${t.name}: ${t.methods.join(", ") || "(none)"}${how}`;
  });
}

/** The banner: where to connect and what to try. */
export function banner(running: Running, config: StartConfig): string {
  const { silo, gateway } = running;
  const types = silo.actorTypes;
  const counter = types.includes("Counter") && silo.methodsOf("Counter")?.has("add");
  const type = counter ? "Counter" : (types[0] as string);
  const method = counter ? "add" : ([...(silo.methodsOf(type) ?? [])][0] ?? "method");
  const args = counter ? "1" : "";
  const auth = config.token === undefined ? "" : ` -H "Authorization: Bearer $PRAAS_TOKEN"`;
  const lines = [
    `PraaS silo ${silo.siloId} is up, hosting ${types.join(", ")}`,
    `  WebSocket  ${gateway.wsUrl}`,
    `  HTTP       ${gateway.url}   (GET /healthz, /readyz, /metrics, /v1/cluster, /v1/types)`,
    `  dashboard  ${gateway.url}/dashboard${config.token === undefined ? "" : "   (asks for the token)"}`,
    `  state      ${describeStorage(config)}`,
    ...callableLines(silo),
  ];
  const imported = silo.store instanceof LmdbStateStore ? silo.store.imported : undefined;
  const replayed = silo.store instanceof LmdbStateStore ? silo.store.replayed : 0;
  if (replayed > 0) {
    lines.push(
      `  recovered  ${replayed} acknowledged write(s) from the commit log (the last run did not stop cleanly)`,
    );
  }
  if (imported !== undefined) {
    const skipped = imported.skipped.length > 0 ? `; ${imported.skipped.length} unreadable file(s) left alone` : "";
    lines.push(
      `  imported   ${imported.states} state(s) and ${imported.reminders} reminder(s) from the file store (files kept${skipped})`,
    );
  }
  if (config.cluster !== undefined) {
    lines.push(
      `  cluster    ${config.cluster}: silo-to-silo ${silo.clusterAddress}, membership in Redis ${redactUrl(config.redisUrl as string)}`,
    );
  }
  if (config.reminders === "redis") lines.push(`  reminders  Redis hash ${remindersKey(config)}`);
  lines.push(
    "Try:",
    `  curl -X POST ${gateway.url}/v1/actors/${type}/alice/${method}${auth} -d '[${args}]'`,
    `  npx praas call ${type}/alice ${method}${args ? ` ${args}` : ""} --url ${gateway.url}`,
    `  npx praas status --url ${gateway.url}`,
  );
  if (running.hasWeb) lines.push(`  open ${gateway.url}/ in a browser`);
  lines.push("SIGTERM or Ctrl-C drains running calls, saves state and stops.");
  return lines.join("\n");
}

/** RedisUnavailableError with what to do about it (same code: `praas start` exits 2). */
class RedisUnavailableErrorWithHint extends PraasError {
  constructor(message: string) {
    super("REDIS_UNAVAILABLE", message);
  }
}
