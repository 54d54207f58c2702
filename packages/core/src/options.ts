/**
 * Option descriptions: each option of the silo, its cluster and the `praas`
 * command is described once, as an {@link OptionSpec}, and everything else is
 * read from that description — the default, the check (an {@link OptionError}
 * naming the option's path and the bad value) and the help text.
 *
 * A small typed table rather than effect's Schema: the same option arrives as
 * a JavaScript value (library), as text (flags, environment) and as JSON
 * (config file), is named differently in each (`cluster.transport.backoffMs`,
 * `--heartbeat-ms`, `$PRAAS_HEARTBEAT_MS`), and its help line needs the
 * default and the expected form as plain words. Schema would carry those as
 * untyped annotations and report failures in its own wording, which we would
 * then have to translate back into the option's path; the table is the
 * description and its own check in a few lines, shared by every package
 * through core.
 *
 * Defaults that several packages need are defined here once too.
 */
import { InvalidArgumentError } from "./errors.js";

/** Folder of the embedded store when none is given (relative to the working directory). */
export const DEFAULT_STATE_DIR = ".praas-state";
/** Prefix of every key the Redis state store writes when none is given. */
export const DEFAULT_REDIS_KEY_PREFIX = "praas:state:";
/** How long the networked state stores (S3, Redis) wait for one request before STORE_TIMEOUT, in ms. */
export const DEFAULT_STORE_TIMEOUT_MS = 10_000;

/** The Redis hash holding a cluster's reminders (one per cluster; a lone silo's is `praas:reminders`). */
export function remindersKey(cluster: string | undefined): string {
  return cluster === undefined ? "praas:reminders" : `praas:${cluster}:reminders`;
}

/**
 * A value an option's description refuses. Still an InvalidArgumentError
 * (code INVALID_ARGUMENT), so callers that catch bad arguments keep working;
 * `path` says which option, as the caller wrote it (`cluster.listen.port`,
 * `--port`, `$PRAAS_PORT`, `/etc/praas.json: port`), so that a front end maps
 * it to its own settings without reading the message.
 */
export class OptionError extends InvalidArgumentError {
  readonly path: string;
  readonly value: unknown;
  constructor(path: string, value: unknown, message: string) {
    super(message);
    this.name = "OptionError";
    this.path = path;
    this.value = value;
  }
}

/** One option: what it accepts, its default and how help text describes it. */
export interface OptionSpec<T> {
  /** Completes "must be …" and "<n>" in help: "an integer 0…65535". */
  readonly expected: string;
  /** What the option does, one sentence without the default (help text). */
  readonly doc: string;
  /** The value when the option is not given; undefined: the option stays unset. */
  readonly default: T | undefined;
  /** The default in words when it is not one value ("a fifth of the shortest idle timeout"). */
  readonly defaultText?: string;
  /** The accepted values, for options that are a choice (help text shows them). */
  readonly choices?: readonly string[];
  /** The value if `value` is acceptable, else undefined. */
  readonly accept: (value: unknown) => T | undefined;
  /** How a refused value is shown in the error (default JSON); URLs hide their password. */
  readonly show?: (value: unknown) => string;
}

/** The default of `spec` as help text shows it. */
export function defaultText(spec: OptionSpec<unknown>): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.default === undefined) return "none";
  return Array.isArray(spec.default) ? spec.default.join(",") : String(spec.default);
}

/** A value for an error message: strings quoted, numbers as they are (NaN too). */
export function showValue(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint" || value === undefined) return String(value);
  if (typeof value === "function") return "a function";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The error for `value` refused by `spec`; `name` is how the message names the option (default its path). */
export function optionError(spec: OptionSpec<unknown>, path: string, value: unknown, name = path): OptionError {
  const shown = (spec.show ?? showValue)(value);
  return new OptionError(path, value, `${name} must be ${spec.expected}, got ${shown}`);
}

/** `value` checked against `spec`, or its default when undefined; an OptionError naming `path` otherwise. */
export function readOption<T>(spec: OptionSpec<T>, path: string, value: unknown, name = path): T | undefined {
  if (value === undefined) return spec.default;
  const ok = spec.accept(value);
  if (ok === undefined) throw optionError(spec, path, value, name);
  return ok;
}

interface Described<T> {
  readonly doc: string;
  readonly default?: T;
  readonly defaultText?: string;
}

/** An integer in min…max (max defaults to the largest safe integer). */
function integer(
  o: Described<number> & { readonly min: number; readonly max?: number },
): OptionSpec<number> & { readonly min: number; readonly max: number } {
  const max = o.max ?? Number.MAX_SAFE_INTEGER;
  return {
    expected: max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${o.min}` : `an integer ${o.min}…${max}`,
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    min: o.min,
    max,
    accept: (v) => (typeof v === "number" && Number.isInteger(v) && v >= o.min && v <= max ? v : undefined),
  };
}

/** A finite number above 0 (fractions allowed: the library takes milliseconds as any number). */
function positiveNumber(o: Described<number>): OptionSpec<number> {
  return {
    expected: "a positive number",
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    accept: (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined),
  };
}

/** A non-empty string. */
function text(o: Described<string> & { readonly expected?: string }): OptionSpec<string> {
  return {
    expected: o.expected ?? "a non-empty string",
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    accept: (v) => (typeof v === "string" && v.length > 0 ? v : undefined),
  };
}

/** One of a few words. */
function oneOf<const C extends string>(choices: readonly C[], o: Described<C>): OptionSpec<C> {
  return {
    expected: `one of ${choices.join(", ")}`,
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    choices,
    accept: (v) => (typeof v === "string" && (choices as readonly string[]).includes(v) ? (v as C) : undefined),
  };
}

/** true or false. */
function flag(o: Described<boolean>): OptionSpec<boolean> {
  return {
    expected: "true or false",
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    accept: (v) => (typeof v === "boolean" ? v : undefined),
  };
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** "host:port" (an IPv6 host in brackets), port 1…65535: an address other machines dial. */
function hostPort(o: Described<string>): OptionSpec<string> {
  return {
    expected: '"host:port" (port 1…65535)',
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    accept: (v) => {
      const m = typeof v === "string" ? HOST_PORT.exec(v) : null;
      return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65_535 ? (v as string) : undefined;
    },
  };
}

/** A URL with one of `protocols` ("redis:"); a refused one is shown without its password. */
function url(protocols: readonly string[], o: Described<string>): OptionSpec<string> {
  return {
    expected: `a ${protocols.join("//… or ")}//… URL`,
    doc: o.doc,
    default: o.default,
    defaultText: o.defaultText,
    accept: (v) => (typeof v === "string" && protocols.includes(urlProtocol(v)) ? v : undefined),
    show: (v) => {
      if (typeof v !== "string") return showValue(v);
      const shown = redactUrl(v);
      // Quoted like every other refused value (redactUrl quotes only what is not a URL).
      return shown.startsWith('"') ? shown : JSON.stringify(shown);
    },
  };
}

/** The kinds of option, each building an {@link OptionSpec}. */
export const Options = { integer, positiveNumber, text, oneOf, flag, hostPort, url } as const;

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
