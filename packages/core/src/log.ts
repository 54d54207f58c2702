/**
 * Where the runtime's operational messages go (a lost lease, a Redis outage, a
 * rejoin): one function, so that a structured logger can replace the console
 * later without touching the places that log.
 */
export type LogLevel = "info" | "warn" | "error";

/** One message, one line. */
export type LogFunction = (level: LogLevel, message: string) => void;

/** The default: `[praas] message` on stdout (info) or stderr (warn, error). */
export const consoleLog: LogFunction = (level, message) => {
  const line = `[praas] ${message}`;
  if (level === "info") console.log(line);
  else if (level === "warn") console.warn(line);
  else console.error(line);
};
