import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { DEFAULT_LIMITS, type GatewayLimits } from "@praas/silo";
import { ConfigError } from "./errors.js";

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
}

type Kind = "string" | "port" | "count" | "ms" | "boolean" | "modules" | "limits";

/** One setting: its config-file key, flag and environment variable. */
interface Setting {
  readonly key: keyof StartConfig;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
}

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

export const DEFAULTS = { host: "127.0.0.1", port: 7070, drainTimeoutMs: 10_000 } as const;

/** Where a value came from, for error messages. */
type Source = { readonly what: string; readonly baseDir: string };

function check(setting: Setting, raw: unknown, from: Source): unknown {
  const where = `${setting.key} (${from.what})`;
  const fromText = typeof raw === "string" && from.what !== "config file";
  switch (setting.kind) {
    case "string":
      if (typeof raw !== "string" || raw.length === 0) throw new ConfigError(`${where} must be a non-empty string`);
      return setting.key === "stateDir" ? resolve(from.baseDir, raw) : raw;
    case "boolean": {
      if (typeof raw === "boolean") return raw;
      if (fromText && /^(1|true|yes)$/i.test(raw as string)) return true;
      if (fromText && /^(0|false|no)$/i.test(raw as string)) return false;
      throw new ConfigError(`${where} must be true or false, got ${JSON.stringify(raw)}`);
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
  const out: Record<string, unknown> = { ...DEFAULTS, insecure: false, actors: [], limits: {} };
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
    }
  }
  for (const s of SETTINGS) {
    if (s.env === "") continue;
    const raw = inputs.env[s.env];
    if (raw !== undefined && raw !== "") out[s.key] = check(s, raw, { what: `$${s.env}`, baseDir: inputs.cwd });
  }
  for (const s of SETTINGS) {
    if (s.flag === "") continue;
    const raw = inputs.flags[s.flag];
    if (raw === undefined) continue;
    const text = Array.isArray(raw) ? raw.join(",") : raw;
    out[s.key] = check(s, text, { what: `--${s.flag}`, baseDir: inputs.cwd });
  }
  const actors = out.actors as string[];
  if (actors.length === 0) {
    throw new ConfigError(
      "No actors to host: give --actors <module> (a file or package exporting Actor classes), $PRAAS_ACTORS or actors in the config file",
    );
  }
  return out as unknown as StartConfig;
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
