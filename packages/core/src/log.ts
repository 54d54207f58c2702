/**
 * Where the runtime's operational messages go (a lost lease, a Redis outage, a
 * rejoin, a stuck turn, a conflicting write): one function, so an application
 * can route them into its own logger without touching the places that log.
 * Nothing in the runtime writes to the console except through it.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Who and what a message is about, for loggers that keep fields. */
export interface LogDetails {
  /** The silo that logged it. */
  readonly silo?: string;
  /** "Type/key" of the actor concerned. */
  readonly actor?: string;
  /** The underlying error, for loggers that print causes or stacks. */
  readonly error?: unknown;
}

/**
 * One message, one line, complete on its own: what happened, to what, and
 * what the runtime did about it. Conditions that repeat log once, not per retry.
 */
export type LogFunction = (level: LogLevel, message: string, details?: LogDetails) => void;

/**
 * The default: `[praas] silo-1a2b3c4d: Type/key: message` on stdout (info) or
 * stderr (warn, error); no stacks, no debug. Where there is no `process` (a
 * browser using the client), errors go to the host's `reportError`.
 */
export const consoleLog: LogFunction = (level, message, details) => {
  if (level === "debug") return;
  const silo = details?.silo === undefined ? "" : `${details.silo}: `;
  const actor = details?.actor === undefined || message.startsWith(details.actor) ? "" : `${details.actor}: `;
  const line = `[praas] ${silo}${actor}${message}\n`;
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (proc?.stdout === undefined) {
    if (level === "error") (globalThis as { reportError?: (e: unknown) => void }).reportError?.(new Error(line));
    return;
  }
  if (level === "info") proc.stdout.write(line);
  else proc.stderr.write(line);
};

/** Levels from least to most severe. */
export const LOG_LEVEL_ORDER: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/**
 * `log` keeping only messages at `minLevel` or above (for embedded users who
 * pass a plain function and want `debug` lines off, or on).
 */
export function logAtLeast(minLevel: LogLevel, log: LogFunction): LogFunction {
  const min = LOG_LEVEL_ORDER.indexOf(minLevel);
  return (level, message, details) => {
    if (LOG_LEVEL_ORDER.indexOf(level) >= min) log(level, message, details);
  };
}

/** A short, single-line description of an error for a log line. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const text = `${typeof code === "string" ? `${code}: ` : ""}${err.message}`;
    return text.replace(/\s*\n\s*/g, " ");
  }
  return String(err);
}
