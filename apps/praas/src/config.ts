import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { DEFAULT_HEARTBEAT_MS } from "@praas/core";
import { DEFAULT_LIMITS, type GatewayLimits } from "@praas/silo";
import { ConfigError } from "./errors.js";
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
  readonly redisKeyPrefix: string | undefined;
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

export type StorageKind = "lmdb" | "fs" | "s3" | "redis" | "memory";
export type RemindersKind = "redis" | "local";

type Kind =
  | "string"
  | "port"
  | "count"
  | "ms"
  | "boolean"
  | "modules"
  | "limits"
  | "storage"
  | "reminders"
  | "log-level"
  | "log-format"
  | "redis-url"
  | "http-url"
  | "host-port"
  | "silos"
  | "secret-file";

/** One setting: its config-file key, flag and environment variable. */
interface Setting {
  readonly key: keyof StartConfig;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
}

const CHOICES: Partial<Record<Kind, readonly string[]>> = {
  storage: ["lmdb", "fs", "s3", "redis", "memory"],
  reminders: ["redis", "local"],
  "log-level": LOG_LEVELS,
  "log-format": LOG_FORMATS,
};
/** Most silo processes `--silos` starts on one host. */
const MAX_SILOS = 256;
/** A secret file bigger than this is not a secret file (a wrong path, say a log). */
const MAX_SECRET_FILE_BYTES = 4096;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

const SETTINGS: readonly Setting[] = [
  { key: "host", flag: "host", env: "PRAAS_HOST", kind: "string" },
  { key: "port", flag: "port", env: "PRAAS_PORT", kind: "port" },
  { key: "actors", flag: "actors", env: "PRAAS_ACTORS", kind: "modules" },
  { key: "stateDir", flag: "state-dir", env: "PRAAS_STATE_DIR", kind: "string" },
  { key: "idleTimeoutMs", flag: "idle-timeout-ms", env: "PRAAS_IDLE_TIMEOUT_MS", kind: "ms" },
  { key: "callTimeoutMs", flag: "call-timeout-ms", env: "PRAAS_CALL_TIMEOUT_MS", kind: "ms" },
  { key: "maxActivations", flag: "max-activations", env: "PRAAS_MAX_ACTIVATIONS", kind: "count" },
  { key: "token", flag: "token", env: "PRAAS_TOKEN", kind: "string" },
  { key: "insecure", flag: "insecure", env: "PRAAS_INSECURE", kind: "boolean" },
  { key: "drainTimeoutMs", flag: "drain-timeout-ms", env: "PRAAS_DRAIN_TIMEOUT_MS", kind: "ms" },
  { key: "limits", flag: "", env: "", kind: "limits" },
  { key: "cluster", flag: "cluster", env: "PRAAS_CLUSTER", kind: "string" },
  { key: "redisUrl", flag: "redis-url", env: "PRAAS_REDIS_URL", kind: "redis-url" },
  {
    key: "redisConnectTimeoutMs",
    flag: "redis-connect-timeout-ms",
    env: "PRAAS_REDIS_CONNECT_TIMEOUT_MS",
    kind: "ms",
  },
  { key: "rejoinTimeoutMs", flag: "rejoin-timeout-ms", env: "PRAAS_REJOIN_TIMEOUT_MS", kind: "ms" },
  { key: "clusterHost", flag: "cluster-host", env: "PRAAS_CLUSTER_HOST", kind: "string" },
  { key: "clusterPort", flag: "cluster-port", env: "PRAAS_CLUSTER_PORT", kind: "port" },
  { key: "advertise", flag: "advertise", env: "PRAAS_ADVERTISE", kind: "host-port" },
  { key: "clusterSecret", flag: "cluster-secret", env: "PRAAS_CLUSTER_SECRET", kind: "string" },
  { key: "tokenFile", flag: "token-file", env: "PRAAS_TOKEN_FILE", kind: "secret-file" },
  {
    key: "clusterSecretFile",
    flag: "cluster-secret-file",
    env: "PRAAS_CLUSTER_SECRET_FILE",
    kind: "secret-file",
  },
  { key: "heartbeatMs", flag: "heartbeat-ms", env: "PRAAS_HEARTBEAT_MS", kind: "ms" },
  { key: "deadAfterMs", flag: "dead-after-ms", env: "PRAAS_DEAD_AFTER_MS", kind: "ms" },
  { key: "reminders", flag: "reminders", env: "PRAAS_REMINDERS", kind: "reminders" },
  { key: "storage", flag: "storage", env: "PRAAS_STORAGE", kind: "storage" },
  { key: "s3Bucket", flag: "s3-bucket", env: "PRAAS_S3_BUCKET", kind: "string" },
  { key: "s3Prefix", flag: "s3-prefix", env: "PRAAS_S3_PREFIX", kind: "string" },
  { key: "s3Endpoint", flag: "s3-endpoint", env: "PRAAS_S3_ENDPOINT", kind: "http-url" },
  { key: "s3Region", flag: "s3-region", env: "PRAAS_S3_REGION", kind: "string" },
  { key: "s3PathStyle", flag: "s3-path-style", env: "PRAAS_S3_PATH_STYLE", kind: "boolean" },
  { key: "redisKeyPrefix", flag: "redis-key-prefix", env: "PRAAS_REDIS_KEY_PREFIX", kind: "string" },
  { key: "silos", flag: "silos", env: "PRAAS_SILOS", kind: "silos" },
  { key: "workerThreads", flag: "worker-threads", env: "PRAAS_WORKER_THREADS", kind: "count" },
  { key: "logLevel", flag: "log-level", env: "PRAAS_LOG_LEVEL", kind: "log-level" },
  { key: "logFormat", flag: "log-format", env: "PRAAS_LOG_FORMAT", kind: "log-format" },
  { key: "otel", flag: "otel", env: "PRAAS_OTEL", kind: "boolean" },
];

/** The flags of `praas start` (for the argument parser). */
export const START_FLAGS: Readonly<Record<string, "string" | "boolean" | "list">> = {
  ...Object.fromEntries(
    SETTINGS.filter((s) => s.flag !== "").map((s) => [
      s.flag,
      s.kind === "boolean" ? "boolean" : s.kind === "modules" ? "list" : "string",
    ]),
  ),
  config: "string",
};

export const DEFAULTS = {
  host: "127.0.0.1",
  port: 7070,
  drainTimeoutMs: 10_000,
  redisConnectTimeoutMs: 10_000,
  rejoinTimeoutMs: 60_000,
} as const;

/** Where a value came from, for error messages. */
type Source = { readonly what: string; readonly baseDir: string };

function check(setting: Setting, raw: unknown, from: Source): unknown {
  const where = `${setting.key} (${from.what})`;
  const fromText = typeof raw === "string" && from.what !== "config file";
  switch (setting.kind) {
    case "string":
      if (typeof raw !== "string" || raw.length === 0) throw new ConfigError(`${where} must be a non-empty string`);
      return setting.key === "stateDir" ? resolve(from.baseDir, raw) : raw;
    case "secret-file":
      if (typeof raw !== "string" || raw.length === 0) throw new ConfigError(`${where} must be a file path`);
      // The value is the file's path; its content is read once every setting is known (readSecretFiles).
      return resolve(from.baseDir, raw);
    case "storage":
    case "reminders":
    case "log-level":
    case "log-format": {
      const choices = CHOICES[setting.kind] as readonly string[];
      if (typeof raw !== "string" || !choices.includes(raw)) {
        throw new ConfigError(`${where} must be one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
      }
      return raw;
    }
    case "redis-url":
    case "http-url": {
      const protocols = setting.kind === "redis-url" ? ["redis:", "rediss:"] : ["http:", "https:"];
      if (typeof raw !== "string" || !protocols.includes(urlProtocol(raw))) {
        const shown = typeof raw === "string" ? redactUrl(raw) : JSON.stringify(raw);
        throw new ConfigError(`${where} must be a ${protocols.join("//… or ")}//… URL, got ${shown}`);
      }
      return raw;
    }
    case "host-port": {
      const m = typeof raw === "string" ? HOST_PORT.exec(raw) : null;
      if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        throw new ConfigError(`${where} must be "host:port" (port 1…65535), got ${JSON.stringify(raw)}`);
      }
      return raw;
    }
    case "boolean": {
      if (typeof raw === "boolean") return raw;
      if (fromText && /^(1|true|yes)$/i.test(raw as string)) return true;
      if (fromText && /^(0|false|no)$/i.test(raw as string)) return false;
      throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(raw)}`);
    }
    case "silos": {
      if (raw === "auto") return availableParallelism();
      const n = fromText ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_SILOS) {
        throw new ConfigError(`${where} must be "auto" or an integer 1…${MAX_SILOS}, got ${JSON.stringify(raw)}`);
      }
      return n;
    }
    case "port":
    case "count":
    case "ms": {
      const n = fromText ? Number(raw) : raw;
      const min = setting.kind === "port" ? 0 : 1;
      const max = setting.kind === "port" ? 65535 : Number.MAX_SAFE_INTEGER;
      if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
        const range = setting.kind === "port" ? "an integer 0…65535" : "a positive integer";
        throw new ConfigError(`${where} must be ${range}, got ${JSON.stringify(raw)}`);
      }
      return n;
    }
    case "modules": {
      const list = fromText ? (raw as string).split(",").filter((s) => s.length > 0) : raw;
      if (!Array.isArray(list) || list.some((m) => typeof m !== "string" || m.length === 0)) {
        throw new ConfigError(`${where} must be a list of module paths or package names`);
      }
      return (list as string[]).map((m) => resolveModule(m, from.baseDir));
    }
    case "limits": {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new ConfigError(`limits (${from.what}) must be an object`);
      }
      for (const [k, v] of Object.entries(raw)) {
        if (!(k in DEFAULT_LIMITS)) {
          throw new ConfigError(
            `limits.${k} (${from.what}) is not a known limit; known: ${Object.keys(DEFAULT_LIMITS).join(", ")}`,
          );
        }
        if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
          throw new ConfigError(`limits.${k} (${from.what}) must be a positive integer, got ${JSON.stringify(v)}`);
        }
      }
      return raw;
    }
  }
}

function urlProtocol(text: string): string {
  try {
    return new URL(text).protocol;
  } catch {
    return "";
  }
}

/** A URL with any password replaced by "***" (for banners and errors). */
export function redactUrl(text: string): string {
  try {
    const u = new URL(text);
    if (u.password === "") return text;
    u.password = "***";
    return u.toString();
  } catch {
    return JSON.stringify(text.length > 40 ? `${text.slice(0, 12)}…` : text);
  }
}

/**
 * Paths (starting with "." or "/", or ending in .js/.mjs/.cjs) become absolute,
 * relative to where they were written; anything else is a package specifier
 * ("@acme/actors", "@acme/app/actors") and is imported as it is.
 */
function resolveModule(spec: string, baseDir: string): string {
  if (spec.startsWith(".") || isAbsolute(spec) || /\.[cm]?js$/.test(spec)) return resolve(baseDir, spec);
  return spec;
}

export interface ConfigInputs {
  readonly flags: Readonly<Record<string, string | boolean | string[]>>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Reads the config file (injectable for tests). */
  readonly readFile?: (path: string) => string;
}

/** Merge and validate; a bad value is a ConfigError naming the key and where it came from. */
export function resolveStartConfig(inputs: ConfigInputs): StartConfig {
  const out: Record<string, unknown> = {
    ...DEFAULTS,
    insecure: false,
    actors: [],
    limits: {},
    storage: "lmdb",
    logLevel: "info",
    otel: false,
  };
  /** Where each explicitly given setting came from. */
  const source = new Map<string, string>();
  const configPath = (inputs.flags.config as string | undefined) ?? inputs.env.PRAAS_CONFIG;
  if (configPath !== undefined) {
    const path = resolve(inputs.cwd, configPath);
    const file = readConfigFile(path, inputs.readFile ?? ((p) => readFileSync(p, "utf8")));
    const from: Source = { what: "config file", baseDir: dirname(path) };
    const known = new Map(SETTINGS.map((s) => [s.key as string, s]));
    for (const [key, raw] of Object.entries(file)) {
      const setting = known.get(key);
      if (setting === undefined) {
        throw new ConfigError(
          `Config file ${path}: "${key}" is not a known key; known: ${[...known.keys()].join(", ")}`,
        );
      }
      out[key] = check(setting, raw, from);
      source.set(key, "config file");
    }
  }
  for (const s of SETTINGS) {
    if (s.env === "") continue;
    const raw = inputs.env[s.env];
    if (raw !== undefined && raw !== "") {
      out[s.key] = check(s, raw, { what: `$${s.env}`, baseDir: inputs.cwd });
      source.set(s.key, `$${s.env}`);
    }
  }
  for (const s of SETTINGS) {
    if (s.flag === "") continue;
    const raw = inputs.flags[s.flag];
    if (raw === undefined) continue;
    const text = Array.isArray(raw) ? raw.join(",") : raw;
    out[s.key] = check(s, text, { what: `--${s.flag}`, baseDir: inputs.cwd });
    source.set(s.key, `--${s.flag}`);
  }
  checkCombinations(out, source);
  const actors = out.actors as string[];
  if (actors.length === 0) {
    throw new ConfigError(
      "No actors to host: give --actors <module> (a file or package exporting Actor classes), $PRAAS_ACTORS or actors in the config file",
    );
  }
  return out as unknown as StartConfig;
}

/** How to give a setting, for error messages: "--s3-bucket, $PRAAS_S3_BUCKET or s3Bucket in the config file". */
function how(key: keyof StartConfig): string {
  const s = SETTINGS.find((x) => x.key === key) as Setting;
  return `--${s.flag}, $${s.env} or "${s.key}" in the config file`;
}

/** Settings that are valid one by one but not together. */
function checkCombinations(out: Record<string, unknown>, source: Map<string, string>): void {
  const given = (key: keyof StartConfig) => source.has(key);
  const at = (key: keyof StartConfig) => `${key} (${source.get(key)})`;
  const storage = out.storage as StorageKind;
  const cluster = out.cluster as string | undefined;
  if (cluster !== undefined && !given("redisUrl")) {
    throw new ConfigError(`${at("cluster")} needs Redis for membership: give ${how("redisUrl")}`);
  }
  for (const [fileKey, key] of [
    ["tokenFile", "token"],
    ["clusterSecretFile", "clusterSecret"],
  ] as const) {
    if (!given(fileKey)) continue;
    if (key === "clusterSecret" && cluster === undefined) {
      // Like the secret itself: harmless in the environment without a cluster, an error elsewhere.
      if (source.get(fileKey) === "$PRAAS_CLUSTER_SECRET_FILE") continue;
      throw new ConfigError(`${at(fileKey)} only applies to a cluster silo: give ${how("cluster")} too`);
    }
    if (given(key)) throw new ConfigError(`${at(fileKey)} and ${at(key)} both give the ${key}: keep one`);
    out[key] = readSecretFile(out[fileKey] as string, at(fileKey));
    source.set(key, source.get(fileKey) as string);
  }
  if (cluster === undefined) {
    for (const key of [
      "clusterHost",
      "clusterPort",
      "advertise",
      "rejoinTimeoutMs",
      "heartbeatMs",
      "deadAfterMs",
    ] as const) {
      if (given(key)) throw new ConfigError(`${at(key)} only applies to a cluster silo: give ${how("cluster")} too`);
    }
    // A secret in the environment is harmless without a cluster (it may be set for every command).
    if (given("clusterSecret") && source.get("clusterSecret") !== "$PRAAS_CLUSTER_SECRET") {
      throw new ConfigError(`${at("clusterSecret")} only applies to a cluster silo: give ${how("cluster")} too`);
    }
  }
  out.reminders ??= cluster === undefined ? "local" : "redis";
  if (out.reminders === "redis" && !given("redisUrl")) {
    throw new ConfigError(
      `reminders (${source.get("reminders")}) is redis but no Redis URL is set: give ${how("redisUrl")}`,
    );
  }
  if (storage === "s3" && !given("s3Bucket")) {
    throw new ConfigError(`storage is s3 (${source.get("storage")}) but no bucket is set: give ${how("s3Bucket")}`);
  }
  if (storage === "redis" && !given("redisUrl")) {
    throw new ConfigError(
      `storage is redis (${source.get("storage")}) but no Redis URL is set: give ${how("redisUrl")}`,
    );
  }
  const only: readonly [keyof StartConfig, readonly StorageKind[]][] = [
    ["s3Bucket", ["s3"]],
    ["s3Prefix", ["s3"]],
    ["s3Endpoint", ["s3"]],
    ["s3Region", ["s3"]],
    ["s3PathStyle", ["s3"]],
    ["redisKeyPrefix", ["redis"]],
    ["stateDir", ["lmdb", "fs"]],
  ];
  for (const [key, kinds] of only) {
    if (given(key) && !kinds.includes(storage)) {
      const now = source.has("storage") ? `storage is ${storage} (${source.get("storage")})` : `storage is ${storage}`;
      throw new ConfigError(`${at(key)} only applies to --storage ${kinds.join(" or ")}, but ${now}`);
    }
  }
  const silos = out.silos as number | undefined;
  if (silos !== undefined) {
    if (storage === "memory" || storage === "fs") {
      throw new ConfigError(
        `${at("silos")} runs several processes, which cannot share --storage ${storage}: use lmdb (the default), s3 or redis`,
      );
    }
    const port = out.port as number;
    if (port !== 0 && port + silos - 1 > 65535) {
      throw new ConfigError(`${at("silos")} gives silo i the port --port + i, past 65535 from port ${port}`);
    }
    // Without a Redis cluster the parent keeps membership; more than one silo per host shares the cores.
    out.workerThreads ??= 1;
  }
  const heartbeat = (out.heartbeatMs as number | undefined) ?? DEFAULT_HEARTBEAT_MS;
  const deadAfter = out.deadAfterMs as number | undefined;
  if (deadAfter !== undefined && deadAfter < 2 * heartbeat) {
    throw new ConfigError(
      `${at("deadAfterMs")} must be at least 2 × the heartbeat period (${heartbeat} ms), or one late heartbeat would look like a crash`,
    );
  }
  if (given("heartbeatMs") && deadAfter === undefined && 4 * heartbeat > 86_400_000) {
    throw new ConfigError(`${at("heartbeatMs")} is too long (the detection bound would pass a day)`);
  }
  if (given("redisConnectTimeoutMs") && !given("redisUrl")) {
    throw new ConfigError(`${at("redisConnectTimeoutMs")} only applies with Redis: give ${how("redisUrl")} too`);
  }
  if (given("redisUrl") && cluster === undefined && storage !== "redis" && out.reminders !== "redis") {
    throw new ConfigError(
      `${at("redisUrl")} is not used: give ${how("cluster")}, or --storage redis, or --reminders redis`,
    );
  }
}

/**
 * The secret in `path`: its content without the trailing line break editors
 * and `echo` add. Refused when unreadable, empty or not secret-sized.
 */
function readSecretFile(path: string, where: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (bytes.length > MAX_SECRET_FILE_BYTES) {
    throw new ConfigError(
      `${where}: ${path} holds ${bytes.length} bytes; a secret file holds at most ${MAX_SECRET_FILE_BYTES}`,
    );
  }
  const text = bytes.toString("utf8").replace(/\r?\n$/, "");
  if (text.length === 0) throw new ConfigError(`${where}: ${path} is empty`);
  if (/[\r\n]/.test(text)) throw new ConfigError(`${where}: ${path} holds more than one line`);
  return text;
}

function readConfigFile(path: string, read: (path: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`Config file ${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`Config file ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}
