export { combineWeb, type LoadedModules, loadActorModules } from "./actors.js";
export { type FlagKind, type ParsedArgs, parseArgs } from "./args.js";
export { type Io, type Outcome, runCommand, USAGE } from "./cli.js";
export {
  type ConfigInputs,
  type RemindersKind,
  resolveStartConfig,
  START_FLAGS,
  type StartConfig,
  type StorageKind,
} from "./config.js";
export { ConfigError, UsageError } from "./errors.js";
export {
  type CliLogger,
  type CliLogLevel,
  createLogger,
  defaultLogFormat,
  LOG_LEVELS,
  type LogFormat,
} from "./logger.js";
export { banner, type Running, remindersKey, startServer } from "./start.js";
