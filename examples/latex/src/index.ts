export * from "./actor.js";
export * from "./compiler.js";
export * from "./errors.js";
export { firstError, MAX_LOG_CHARS } from "./latex-log.js";
export { LIMITS, validatePath, validateProjectId } from "./paths.js";
export * from "./sample.js";
export * from "./stateless.js";
