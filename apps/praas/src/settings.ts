/**
 * What `praas start` takes, described once: every setting's key (which is
 * also its flag, environment variable and config-file key), its check and
 * default (an {@link OptionSpec}, often the silo's own description) and its
 * help line. config.ts reads the settings through this table, usage.ts writes
 * the help text from it.
 */
import { availableParallelism } from "node:os";
import {
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_REDIS_KEY_PREFIX,
  DEFAULT_STATE_DIR,
  DEFAULT_STORE_TIMEOUT_MS,
  defaultText,
  type OptionSpec,
  Options,
  remindersKey,
} from "@praas/core/internal";
import { CLUSTER_OPTIONS, DEFAULT_LIMITS, GATEWAY_OPTIONS, type GatewayLimits, SILO_OPTIONS } from "@praas/silo";
import { S3_OPTIONS } from "@praas/storage-s3";
import { type CliLogLevel, LOG_FORMATS, LOG_LEVELS, type LogFormat } from "./logger.js";

/** Everything `praas start` needs, after merging defaults < config file < environment < flags. */
export interface StartConfig {
  readonly host: string;
  readonly port: number;
  /** Module specifiers: absolute file paths (resolved already) or package names. */
  readonly actors: readonly string[];
  readonly stateDir: string | undefined;
  readonly idleTimeoutMs: number | undefined;
  readonly callTimeoutMs: number | undefined;
  readonly maxActivations: number | undefined;
  readonly token: string | undefined;
  readonly insecure: boolean;
  readonly drainTimeoutMs: number;
  readonly limits: Partial<GatewayLimits>;
  /** Join this cluster (Redis membership at `redisUrl`); undefined: a single embedded silo. */
  readonly cluster: string | undefined;
  /** Redis for membership, `storage: "redis"` and reminders. */
  readonly redisUrl: string | undefined;
  /** At start, how long to wait for Redis to answer before giving up (exit code 2). */
  readonly redisConnectTimeoutMs: number;
  /** Cluster: how long the silo may be out of the cluster (lease lost, or evicted and rejoining) before it exits (code 3). */
  readonly rejoinTimeoutMs: number;
  /** Silo-to-silo listener (the silo's defaults: 127.0.0.1, any free port). */
  readonly clusterHost: string | undefined;
  readonly clusterPort: number | undefined;
  /** "host:port" other silos dial. */
  readonly advertise: string | undefined;
  readonly clusterSecret: string | undefined;
  /** Read the gateway token / cluster secret from a file (a Kubernetes Secret volume, a Docker or systemd credential). */
  readonly tokenFile: string | undefined;
  readonly clusterSecretFile: string | undefined;
  /** Cluster membership timings (Redis): heartbeat period and how long a silo may stay silent before peers declare it dead. */
  readonly heartbeatMs: number | undefined;
  readonly deadAfterMs: number | undefined;
  /** Where actor state goes (default "lmdb": the embedded store in stateDir; "fs": the older file-per-actor store there). */
  readonly storage: StorageKind;
  readonly s3Bucket: string | undefined;
  readonly s3Prefix: string | undefined;
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string | undefined;
  readonly s3PathStyle: boolean | undefined;
  readonly s3RequestTimeoutMs: number | undefined;
  readonly redisKeyPrefix: string | undefined;
  readonly redisCommandTimeoutMs: number | undefined;
  /** Where reminders live: "redis" (default in a cluster) or "local" (beside lmdb/fs state, else memory). */
  readonly reminders: RemindersKind;
  /** Run this many silo processes on this host as one cluster (`--silos N|auto`; see docs/workers.md). */
  readonly silos: number | undefined;
  /** Worker threads per silo for `static threads` types (default: the silo's; 1 per silo with --silos). */
  readonly workerThreads: number | undefined;
  /** Lowest level logged (default info). */
  readonly logLevel: CliLogLevel;
  /** Log line format; undefined: readable in a terminal, JSON otherwise (see logger.ts). */
  readonly logFormat: LogFormat | undefined;
  /** Export traces over OTLP/HTTP (also on with the standard OTEL_* variables, see otel.ts). */
  readonly otel: boolean;
}

export const STORAGE_KINDS = ["lmdb", "fs", "s3", "redis", "memory"] as const;
export type StorageKind = (typeof STORAGE_KINDS)[number];
export const REMINDERS_KINDS = ["redis", "local"] as const;
export type RemindersKind = (typeof REMINDERS_KINDS)[number];

/** Where a setting appears in the help text. */
export type SettingGroup = "start" | "cluster" | "storage" | "observability";

/**
 * One setting of `praas start`: its description (default, check, help) and
 * how it is written. The flag, environment variable and config-file key are
 * all the key: `heartbeatMs` is `--heartbeat-ms`, `$PRAAS_HEARTBEAT_MS` and
 * "heartbeatMs" in the file.
 */
export interface Setting {
  readonly key: keyof StartConfig;
  readonly group: SettingGroup;
  readonly spec: OptionSpec<unknown>;
  /** How text (a flag, a variable) becomes a value; the config file gives JSON values as they are. */
  readonly input: "string" | "number" | "boolean" | "list" | "number-or-auto";
  /** Relative paths are relative to where they were written (the config file's folder, else the working directory). */
  readonly paths?: "path" | "modules";
  /** The value's name in the help line ("<n>"); a choice shows its choices, a boolean nothing. */
  readonly arg?: string;
  /** Only in the config file (no flag, no variable). */
  readonly fileOnly?: boolean;
  /** The library option it is passed on as (`cluster.secret`): an OptionError there names this setting. */
  readonly library?: string;
}

/** `heartbeatMs` → `heartbeat-ms`. */
export function flagOf(s: Setting): string {
  return s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `heartbeatMs` → `PRAAS_HEARTBEAT_MS`. */
export function envOf(s: Setting): string {
  return `PRAAS_${flagOf(s).replace(/-/g, "_").toUpperCase()}`;
}

/** Most silo processes `--silos` starts on one host. */
const MAX_SILOS = 256;
/** A secret file bigger than this is not a secret file (a wrong path, say a log). */
export const MAX_SECRET_FILE_BYTES = 4096;

/** Whole milliseconds or counts from the command line; `from` lends its description (the silo's default stays the silo's to apply). */
function wholeNumber(doc: string, o: { min?: number; max?: number; default?: number; defaultText?: string } = {}) {
  return Options.integer({ min: o.min ?? 1, max: o.max, doc, default: o.default, defaultText: o.defaultText });
}

/** A library option's description for a setting the CLI passes on unchanged when given: its default is the library's to apply. */
function passedOn<T>(spec: OptionSpec<T>, o: { doc?: string; defaultText?: string } = {}): OptionSpec<T> {
  return { ...spec, doc: o.doc ?? spec.doc, default: undefined, defaultText: o.defaultText ?? defaultText(spec) };
}

/** An S3 store option as a `praas start` setting: the store's own description, marked "s3:" in the help. */
function s3<T>(spec: OptionSpec<T>, more = ""): OptionSpec<T> {
  return { ...spec, doc: `s3: ${spec.doc}${more}` };
}

/** A silo duration the CLI takes in whole milliseconds (the silo takes any positive number). */
function siloMs(name: "idleTimeoutMs" | "callTimeoutMs" | "drainTimeoutMs", applied = false): OptionSpec<number> {
  const lib = SILO_OPTIONS[name];
  return wholeNumber(lib.doc, applied ? { default: lib.default } : { defaultText: defaultText(lib) });
}

const silosSpec: OptionSpec<number> = {
  expected: `"auto" or an integer 1…${MAX_SILOS}`,
  doc: "run n silo processes (auto: one per core) as one cluster on this host, silo i on --port + i; restarted when they die; no Redis needed (with --cluster they join it instead)",
  default: undefined,
  defaultText: "one silo in this process",
  accept: (v) =>
    v === "auto" ? availableParallelism() : Options.integer({ min: 1, max: MAX_SILOS, doc: "" }).accept(v),
};

const modulesSpec: OptionSpec<readonly string[]> = {
  expected: "a list of module paths or package names",
  doc: "module exporting Actor classes (repeatable, comma-separated)",
  default: [],
  defaultText: "none: required",
  accept: (v) =>
    Array.isArray(v) && v.every((m) => typeof m === "string" && m.length > 0) ? (v as string[]) : undefined,
};

const limitsSpec: OptionSpec<Partial<GatewayLimits>> = {
  expected: `an object of gateway limits (${Object.keys(DEFAULT_LIMITS).join(", ")})`,
  doc: "gateway limits (config file only)",
  default: {},
  defaultText: "the gateway's",
  accept: (v) => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Partial<GatewayLimits>) : undefined),
};

const secretFile = (what: string) =>
  Options.text({
    expected: "a file path",
    doc: `the ${what} from a file (a Kubernetes Secret volume, a Docker secret, a systemd credential); one line, ≤ ${MAX_SECRET_FILE_BYTES / 1024} KiB`,
  });

/** Every setting of `praas start`, in the order of the help text within each group. */
export const SETTINGS: readonly Setting[] = [
  {
    key: "host",
    group: "start",
    input: "string",
    arg: "<addr>",
    spec: GATEWAY_OPTIONS.host,
  },
  {
    key: "port",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: GATEWAY_OPTIONS.port,
  },
  { key: "actors", group: "start", input: "list", paths: "modules", arg: "<module>", spec: modulesSpec },
  {
    key: "stateDir",
    library: "stateDir",
    group: "start",
    input: "string",
    paths: "path",
    arg: "<dir>",
    spec: passedOn(SILO_OPTIONS.stateDir, { defaultText: `./${DEFAULT_STATE_DIR}` }),
  },
  {
    key: "idleTimeoutMs",
    library: "idleTimeoutMs",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: siloMs("idleTimeoutMs"),
  },
  {
    key: "callTimeoutMs",
    library: "callTimeoutMs",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: siloMs("callTimeoutMs"),
  },
  {
    key: "maxActivations",
    library: "maxActivations",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: passedOn(SILO_OPTIONS.maxActivations),
  },
  {
    key: "drainTimeoutMs",
    library: "drainTimeoutMs",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: siloMs("drainTimeoutMs", true),
  },
  {
    key: "token",
    group: "start",
    input: "string",
    arg: "<secret>",
    spec: { ...GATEWAY_OPTIONS.token, doc: "require this bearer token (prefer $PRAAS_TOKEN)" },
  },
  { key: "tokenFile", group: "start", input: "string", paths: "path", arg: "<path>", spec: secretFile("token") },
  {
    key: "insecure",
    group: "start",
    input: "boolean",
    spec: Options.flag({ doc: "allow a non-loopback --host without a token", default: false }),
  },
  { key: "silos", group: "start", input: "number-or-auto", arg: "<n>|auto", spec: silosSpec },
  {
    key: "workerThreads",
    library: "workerThreads",
    group: "start",
    input: "number",
    arg: "<n>",
    spec: passedOn(SILO_OPTIONS.workerThreads, {
      doc: "threads per silo for static threads types",
      defaultText: "cores left after the event loop; 1 per silo with --silos",
    }),
  },
  {
    key: "cluster",
    library: "cluster.name",
    group: "cluster",
    input: "string",
    arg: "<name>",
    spec: Options.text({ doc: "join this cluster (needs --redis-url)", defaultText: "none: a single silo" }),
  },
  {
    key: "redisUrl",
    group: "cluster",
    input: "string",
    arg: "<redis://host:port>",
    spec: Options.url(["redis:", "rediss:"], { doc: "Redis for membership, --storage redis and reminders" }),
  },
  {
    key: "clusterHost",
    library: "cluster.listen.host",
    group: "cluster",
    input: "string",
    arg: "<addr>",
    spec: passedOn(CLUSTER_OPTIONS["listen.host"]),
  },
  {
    key: "clusterPort",
    library: "cluster.listen.port",
    group: "cluster",
    input: "number",
    arg: "<n>",
    spec: passedOn(CLUSTER_OPTIONS["listen.port"]),
  },
  {
    key: "advertise",
    library: "cluster.advertise",
    group: "cluster",
    input: "string",
    arg: "<host:port>",
    spec: passedOn(CLUSTER_OPTIONS.advertise),
  },
  {
    key: "clusterSecret",
    library: "cluster.secret",
    group: "cluster",
    input: "string",
    arg: "<secret>",
    spec: Options.text({
      doc: "shared secret, ≥ 16 chars, the same on every silo (prefer $PRAAS_CLUSTER_SECRET); required, on loopback too",
      defaultText: "none",
    }),
  },
  {
    key: "clusterSecretFile",
    group: "cluster",
    input: "string",
    paths: "path",
    arg: "<path>",
    spec: secretFile("cluster secret"),
  },
  {
    key: "heartbeatMs",
    group: "cluster",
    input: "number",
    arg: "<n>",
    spec: wholeNumber("membership heartbeat period", { defaultText: String(DEFAULT_HEARTBEAT_MS) }),
  },
  {
    key: "deadAfterMs",
    group: "cluster",
    input: "number",
    arg: "<n>",
    spec: wholeNumber(
      "peers declare a silo dead after this long without a heartbeat; the lease ends before it; detection bound = dead-after + heartbeat",
      { defaultText: `max(${DEFAULT_DEAD_AFTER_MS}, 4 × heartbeat)` },
    ),
  },
  {
    key: "rejoinTimeoutMs",
    library: "cluster.rejoinTimeoutMs",
    group: "cluster",
    input: "number",
    arg: "<n>",
    spec: wholeNumber(
      "exit (code 3) after this long out of the cluster: membership lease lost, or evicted and not yet rejoined",
      { max: CLUSTER_OPTIONS.rejoinTimeoutMs.max, default: 60_000 },
    ),
  },
  {
    key: "redisConnectTimeoutMs",
    group: "cluster",
    input: "number",
    arg: "<n>",
    spec: wholeNumber("at start, wait this long for Redis, then exit 2", { default: 10_000 }),
  },
  {
    key: "reminders",
    group: "cluster",
    input: "string",
    spec: Options.oneOf(REMINDERS_KINDS, {
      doc: "where reminders live",
      defaultText: `redis in a cluster, hash ${remindersKey("<cluster>")}; else local files or memory`,
    }),
  },
  {
    key: "storage",
    group: "storage",
    input: "string",
    spec: Options.oneOf(STORAGE_KINDS, {
      doc: "where actor state goes (lmdb: the embedded store in --state-dir, one process per folder; fs: a file per actor)",
      default: "lmdb",
    }),
  },
  {
    key: "s3Bucket",
    group: "storage",
    input: "string",
    arg: "<name>",
    spec: s3(S3_OPTIONS.bucket),
  },
  {
    key: "s3Prefix",
    group: "storage",
    input: "string",
    arg: "<prefix>",
    spec: s3(S3_OPTIONS.prefix),
  },
  {
    key: "s3Endpoint",
    group: "storage",
    input: "string",
    arg: "<url>",
    spec: s3(S3_OPTIONS.endpoint),
  },
  {
    key: "s3Region",
    group: "storage",
    input: "string",
    arg: "<region>",
    spec: s3(S3_OPTIONS.region),
  },
  {
    key: "s3PathStyle",
    group: "storage",
    input: "boolean",
    spec: s3(S3_OPTIONS.forcePathStyle, "; credentials: the AWS SDK default chain (AWS_ACCESS_KEY_ID, …)"),
  },
  {
    key: "s3RequestTimeoutMs",
    group: "storage",
    input: "number",
    arg: "<n>",
    spec: s3({
      ...S3_OPTIONS.requestTimeoutMs,
      default: undefined,
      defaultText: String(S3_OPTIONS.requestTimeoutMs.default),
    }),
  },
  {
    key: "redisKeyPrefix",
    group: "storage",
    input: "string",
    arg: "<prefix>",
    spec: Options.text({ doc: "redis: key prefix", defaultText: DEFAULT_REDIS_KEY_PREFIX }),
  },
  {
    key: "redisCommandTimeoutMs",
    group: "storage",
    input: "number",
    arg: "<n>",
    spec: Options.integer({
      doc: "redis: ms a read or write of state or reminders may wait for Redis before it fails with STORE_TIMEOUT",
      min: 1,
      max: 600_000,
      defaultText: String(DEFAULT_STORE_TIMEOUT_MS),
    }),
  },
  {
    key: "logLevel",
    group: "observability",
    input: "string",
    spec: Options.oneOf(LOG_LEVELS, { doc: "lowest level logged", default: "info" }),
  },
  {
    key: "logFormat",
    group: "observability",
    input: "string",
    spec: Options.oneOf(LOG_FORMATS, {
      doc: "log lines; logs go to stderr",
      defaultText: "readable in a terminal, JSON otherwise and with NODE_ENV=production",
    }),
  },
  {
    key: "otel",
    group: "observability",
    input: "boolean",
    spec: Options.flag({
      doc: "export traces over OTLP/HTTP (also on when OTEL_TRACES_EXPORTER=otlp or OTEL_EXPORTER_OTLP_*ENDPOINT is set)",
      default: false,
    }),
  },
  { key: "limits", group: "start", input: "string", fileOnly: true, spec: limitsSpec },
];

/** The flags of `praas start` (for the argument parser). */
export const START_FLAGS: Readonly<Record<string, "string" | "boolean" | "list">> = {
  ...Object.fromEntries(
    SETTINGS.filter((s) => s.fileOnly !== true).map((s) => [
      flagOf(s),
      s.input === "boolean" ? "boolean" : s.input === "list" ? "list" : "string",
    ]),
  ),
  config: "string",
};

/**
 * The defaults `praas start` applies itself, read from the settings'
 * descriptions; the other settings stay unset for the silo (or store) to fill in.
 */
export const DEFAULTS = Object.fromEntries(
  SETTINGS.filter((s) => s.spec.default !== undefined).map((s) => [s.key, s.spec.default]),
) as Readonly<Partial<StartConfig>> &
  Pick<StartConfig, "host" | "port" | "drainTimeoutMs" | "redisConnectTimeoutMs" | "rejoinTimeoutMs" | "storage">;

/**
 * The setting a library option comes from, as the hint of an error the
 * library found in it: 'give --cluster-secret or $PRAAS_CLUSTER_SECRET (or
 * "clusterSecret" in the config file)'; undefined when no setting gives it.
 */
export function settingHint(libraryPath: string): string | undefined {
  const s = SETTINGS.find((x) => x.library === libraryPath);
  if (s === undefined) return undefined;
  return `give --${flagOf(s)} or $${envOf(s)} (or "${s.key}" in the config file)`;
}

/** A flag of `praas call` and `praas status`: read from the flag, else its variable, else the default. */
export interface ClientSetting {
  readonly flag: string;
  readonly env?: string;
  readonly input: "string" | "number" | "boolean";
  /** The value's name in the help line. */
  readonly arg?: string;
  readonly spec: OptionSpec<unknown>;
  /** Only this command takes it. */
  readonly only?: "call" | "status";
}

export const CLIENT_SETTINGS: readonly ClientSetting[] = [
  {
    flag: "url",
    env: "PRAAS_URL",
    input: "string",
    arg: "<http://host:port>",
    // The gateway `praas start` opens by default.
    spec: Options.url(["http:", "https:"], {
      doc: "gateway to ask",
      default: `http://${DEFAULTS.host}:${DEFAULTS.port}`,
    }),
  },
  { flag: "token", env: "PRAAS_TOKEN", input: "string", arg: "<secret>", spec: Options.text({ doc: "bearer token" }) },
  {
    flag: "timeout-ms",
    input: "number",
    arg: "<n>",
    only: "call",
    spec: Options.positiveNumber({ doc: "deadline of the call", defaultText: "the gateway's" }),
  },
  { flag: "json", input: "boolean", only: "status", spec: Options.flag({ doc: "print raw JSON", default: false }) },
];

/** The flags `praas <command>` parses (call or status). */
export function clientFlags(command: "call" | "status"): Record<string, "string" | "boolean"> {
  return Object.fromEntries(
    CLIENT_SETTINGS.filter((s) => s.only === undefined || s.only === command).map((s) => [
      s.flag,
      s.input === "boolean" ? "boolean" : "string",
    ]),
  );
}
