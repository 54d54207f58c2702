/**
 * The `praas` command's logger: pino behind the runtime's `LogFunction`.
 * Libraries only know the function (embedded users pass their own); this
 * module is the one place that picks a backend, a level and a format.
 *
 * JSON lines (one object per line, for log collectors) unless the output is a
 * terminal outside production, where lines are readable. Every line that
 * concerns a silo carries `silo`; lines about an actor carry `actor` ("Type/key").
 */

import { createRequire } from "node:module";
import type { LogDetails, LogFunction, LogLevel } from "@praas/core/internal";
import { type DestinationStream, type Logger, pino } from "pino";

/** The levels `--log-level` accepts: the runtime's four, plus "silent" (nothing at all). */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type CliLogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  readonly level: CliLogLevel;
  readonly format: LogFormat;
  /** Where lines go (default: stderr, so stdout keeps the command's own output such as the banner). */
  readonly destination?: DestinationStream;
}

export interface CliLogger {
  /** The runtime's log function: pass it as `log` to the silo and the Redis parts. */
  readonly log: LogFunction;
  /** The pino logger underneath (for the command's own lines). */
  readonly pino: Logger;
  /**
   * Name the silo once it is known: lines logged without one (say, by the Redis
   * client created before the silo) carry it from then on. A silo that rejoins
   * under a new id logs that id itself.
   */
  setSilo(id: string): void;
}

/** The format when none is configured: readable in a terminal, JSON otherwise and in production. */
export function defaultLogFormat(isTty: boolean, env: Readonly<Record<string, string | undefined>>): LogFormat {
  return isTty && env.NODE_ENV !== "production" ? "pretty" : "json";
}

export function createLogger(options: LoggerOptions): CliLogger {
  const destination = options.destination ?? pino.destination({ fd: 2, sync: true });
  const stream: DestinationStream =
    options.format === "pretty" ? prettyStream(destination, options.destination === undefined) : destination;
  const logger = pino(
    {
      level: options.level,
      // Level names, not numbers: lines stay readable in any collector.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      errorKey: "err",
    },
    stream,
  );
  let silo: string | undefined;
  const log: LogFunction = (level: LogLevel, message: string, details?: LogDetails) => {
    if (!logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const who = details?.silo ?? silo;
    if (who !== undefined) fields.silo = who;
    if (details?.actor !== undefined) fields.actor = details.actor;
    if (details?.error !== undefined) fields.err = details.error;
    logger[level](fields, message);
  };
  return {
    log,
    pino: logger,
    setSilo(id) {
      silo = id;
    },
  };
}

/**
 * Readable lines, formatted in this thread as they are written (no worker
 * thread: a line logged just before exit is not lost).
 */
function prettyStream(destination: DestinationStream, colorize: boolean): DestinationStream {
  // Loaded only for a terminal: JSON logging (servers, tests starting many processes) skips its modules.
  const { prettyFactory } = createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty");
  const format = prettyFactory({
    colorize: colorize && process.stderr.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,silo,actor",
    // "silo-1a2b Counter/a: message" on one line (the actor once); an error's stack below it.
    messageFormat: (line, messageKey) => {
      const msg = String(line[messageKey] ?? "");
      const actor = typeof line.actor === "string" && !msg.startsWith(line.actor) ? `${line.actor}: ` : "";
      return `${typeof line.silo === "string" ? `${line.silo} ` : ""}${actor}${msg}`;
    },
  });
  return {
    write(line: string) {
      destination.write(format(line));
    },
  };
}
