import { type OptionError, PraasError } from "@praas/core/internal";

/**
 * Bad command line, environment or config file; the message names the culprit
 * and where it came from, `path` the setting as written ("--port",
 * "$PRAAS_PORT", "/etc/praas.json: port") when one setting is at fault.
 */
export class ConfigError extends PraasError {
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super("CONFIG", message);
    this.path = path;
  }

  /** A value refused by its option's description, as a setting to fix (exit code 2). */
  static from(err: OptionError): ConfigError {
    return new ConfigError(err.message, err.path);
  }
}

/** A bad invocation of the command itself (unknown command, flag or argument). */
export class UsageError extends PraasError {
  constructor(message: string) {
    super("USAGE", message);
  }
}

/** Codes of errors the operator fixes before trying again (settings, usage, Redis not there yet). */
const SETTINGS_CODES: ReadonlySet<string> = new Set(["USAGE", "CONFIG", "REDIS_UNAVAILABLE"]);

/** The exit code for `err`: 2 for a setting or invocation to fix (see USAGE), 1 for anything else. */
export function exitCodeOf(err: unknown): 1 | 2 {
  return err instanceof PraasError && SETTINGS_CODES.has(err.code) ? 2 : 1;
}
