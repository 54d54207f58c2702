export { RedisUnavailableError, waitForRedis } from "./health.js";
export { type RedisMembershipOptions, redisMembership } from "./membership.js";
export { RedisReminderStore, type RedisReminderStoreOptions, redisReminderStore } from "./redis-reminder-store.js";
export {
  REDIS_STORE_FORMAT,
  RedisStateStore,
  type RedisStateStoreOptions,
  redisStateStore,
} from "./redis-state-store.js";
export { WriteFencedError } from "./write-fence.js";
