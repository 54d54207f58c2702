/**
 * What the runtime tells its operator: one record per event worth a line in a
 * log. A silo takes a `log` function (default: one line on stderr), so an app
 * can route records into its own logger; nothing else in the runtime writes to
 * the console.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface SiloLogRecord {
  readonly level: LogLevel;
  /** One line, complete on its own: what happened, to what, and what the runtime did about it. */
  readonly message: string;
  /** The silo that logged it. */
  readonly silo: string;
  /** "Type/key" of the actor concerned, when there is one. */
  readonly actor?: string;
  /** The underlying error, for loggers that print causes or stacks. */
  readonly error?: unknown;
}

export type SiloLogger = (record: SiloLogRecord) => void;

/** The default: `[praas] warn silo-1a2b3c4d: message` on stderr, one line per record, no stacks. */
export const stderrLogger: SiloLogger = (record) => {
  if (record.level === "debug") return;
  process.stderr.write(`[praas] ${record.level} ${record.silo}: ${record.message}\n`);
};

/** A short, single-line description of an error for a log line. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const text = `${typeof code === "string" ? `${code}: ` : ""}${err.message}`;
    return text.replace(/\s*\n\s*/g, " ");
  }
  return String(err);
}
