export { combineWeb, type LoadedModules, loadActorModules } from "./actors.js";
export { type FlagKind, type ParsedArgs, parseArgs } from "./args.js";
export { type Io, type Outcome, runCommand, USAGE } from "./cli.js";
export { type ConfigInputs, resolveStartConfig } from "./config.js";
export { ConfigError, UsageError } from "./errors.js";
export {
  type CliLogger,
  type CliLogLevel,
  createLogger,
  defaultLogFormat,
  LOG_LEVELS,
  type LogFormat,
} from "./logger.js";
export {
  DEFAULTS,
  envOf,
  flagOf,
  type RemindersKind,
  SETTINGS,
  type Setting,
  START_FLAGS,
  type StartConfig,
  type StorageKind,
  settingHint,
} from "./settings.js";
export { banner, type Running, remindersKey, startServer } from "./start.js";
export { settingHelp } from "./usage.js";
