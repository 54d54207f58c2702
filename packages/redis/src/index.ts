export { RedisUnavailableError, waitForRedis } from "./health.js";
export * from "./membership.js";
export * from "./redis-reminder-store.js";
export * from "./redis-state-store.js";
