import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { DEFAULT_HEARTBEAT_MS, optionError } from "@praas/core/internal";
import { LIMIT_OPTIONS } from "@praas/silo";
import { ConfigError } from "./errors.js";
import {
  DEFAULTS,
  envOf,
  flagOf,
  MAX_SECRET_FILE_BYTES,
  SETTINGS,
  type Setting,
  type StartConfig,
  type StorageKind,
} from "./settings.js";

export {
  DEFAULTS,
  type RemindersKind,
  START_FLAGS,
  type StartConfig,
  type StorageKind,
  settingHint,
} from "./settings.js";

/** Where a value came from: how errors name it, and the folder its relative paths start from. */
interface Source {
  /** "--port", "$PRAAS_PORT" or "config file". */
  readonly what: string;
  /** The option's path as the error's `path`: "--port", "$PRAAS_PORT", "/etc/praas.json: port". */
  readonly path: string;
  readonly baseDir: string;
}

/** Text from a flag or a variable as the value its description checks (the file's JSON values are used as they are). */
function fromText(setting: Setting, raw: string): unknown {
  switch (setting.input) {
    case "string":
      return raw;
    case "number":
      return Number(raw);
    case "number-or-auto":
      return raw === "auto" ? raw : Number(raw);
    case "boolean":
      if (/^(1|true|yes)$/i.test(raw)) return true;
      if (/^(0|false|no)$/i.test(raw)) return false;
      return raw;
    case "list":
      return raw.split(",").filter((s) => s.length > 0);
  }
}

/** One setting's value from one source, checked by its description; a ConfigError naming the setting and source. */
function check(setting: Setting, raw: unknown, from: Source): unknown {
  const value = typeof raw === "string" && from.what !== "config file" ? fromText(setting, raw) : raw;
  const ok = setting.spec.accept(value);
  if (ok === undefined) {
    throw ConfigError.from(optionError(setting.spec, from.path, raw, `${setting.key} (${from.what})`));
  }
  if (setting.key === "limits") checkLimits(ok as Record<string, unknown>, from);
  if (setting.paths === "path") return resolve(from.baseDir, ok as string);
  if (setting.paths === "modules") return (ok as string[]).map((m) => resolveModule(m, from.baseDir));
  return ok;
}

function checkLimits(limits: Record<string, unknown>, from: Source): void {
  for (const [k, v] of Object.entries(limits)) {
    const limitSpec = (LIMIT_OPTIONS as Record<string, (typeof LIMIT_OPTIONS)[keyof typeof LIMIT_OPTIONS]>)[k];
    if (limitSpec === undefined) {
      throw new ConfigError(
        `limits.${k} (${from.what}) is not a known limit; known: ${Object.keys(LIMIT_OPTIONS).join(", ")}`,
        `${from.path}.${k}`,
      );
    }
    if (limitSpec.accept(v) === undefined) {
      throw ConfigError.from(optionError(limitSpec, `${from.path}.${k}`, v, `limits.${k} (${from.what})`));
    }
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
  const out: Record<string, unknown> = { ...DEFAULTS };
  /** Where each explicitly given setting came from. */
  const source = new Map<string, string>();
  const configPath = (inputs.flags.config as string | undefined) ?? inputs.env.PRAAS_CONFIG;
  if (configPath !== undefined) {
    const path = resolve(inputs.cwd, configPath);
    const file = readConfigFile(path, inputs.readFile ?? ((p) => readFileSync(p, "utf8")));
    const known = new Map(SETTINGS.map((s) => [s.key as string, s]));
    for (const [key, raw] of Object.entries(file)) {
      const setting = known.get(key);
      if (setting === undefined) {
        throw new ConfigError(
          `Config file ${path}: "${key}" is not a known key; known: ${[...known.keys()].join(", ")}`,
          `${path}: ${key}`,
        );
      }
      out[key] = check(setting, raw, { what: "config file", path: `${path}: ${key}`, baseDir: dirname(path) });
      source.set(key, "config file");
    }
  }
  for (const s of SETTINGS) {
    if (s.fileOnly === true) continue;
    const env = `$${envOf(s)}`;
    const raw = inputs.env[envOf(s)];
    if (raw !== undefined && raw !== "") {
      out[s.key] = check(s, raw, { what: env, path: env, baseDir: inputs.cwd });
      source.set(s.key, env);
    }
  }
  for (const s of SETTINGS) {
    if (s.fileOnly === true) continue;
    const flag = `--${flagOf(s)}`;
    const raw = inputs.flags[flagOf(s)];
    if (raw === undefined) continue;
    const text = Array.isArray(raw) ? raw.join(",") : raw;
    out[s.key] = check(s, text, { what: flag, path: flag, baseDir: inputs.cwd });
    source.set(s.key, flag);
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
  return `--${flagOf(s)}, $${envOf(s)} or "${s.key}" in the config file`;
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
    ["s3RequestTimeoutMs", ["s3"]],
    ["redisKeyPrefix", ["redis"]],
    ["stateDir", ["lmdb", "fs"]],
  ];
  for (const [key, kinds] of only) {
    if (given(key) && !kinds.includes(storage)) {
      const now = source.has("storage") ? `storage is ${storage} (${source.get("storage")})` : `storage is ${storage}`;
      throw new ConfigError(`${at(key)} only applies to --storage ${kinds.join(" or ")}, but ${now}`);
    }
  }
  // The Redis command timeout covers what this silo keeps in Redis: state, reminders, or both.
  if (given("redisCommandTimeoutMs") && storage !== "redis" && out.reminders !== "redis") {
    throw new ConfigError(
      `${at("redisCommandTimeoutMs")} only applies where Redis holds state or reminders (--storage redis, or --reminders redis: the default in a cluster), but storage is ${storage} and reminders are ${String(out.reminders)}`,
    );
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
