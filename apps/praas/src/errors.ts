import { PraasError } from "@praas/core";

/** Bad command line, environment or config file; the message names the culprit and where it came from. */
export class ConfigError extends PraasError {
  constructor(message: string) {
    super("CONFIG", message);
  }
}

/** A bad invocation of the command itself (unknown command, flag or argument). */
export class UsageError extends PraasError {
  constructor(message: string) {
    super("USAGE", message);
  }
}
