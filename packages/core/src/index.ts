/**
 * The public API of @praas/core — exactly what README.md documents. What the
 * sibling packages (@praas/silo, @praas/client, @praas/redis, …) share beyond
 * this lives in "@praas/core/internal": not a public API, it changes without notice.
 */
export {
  Actor,
  type ActorClass,
  type ActorMethodNames,
  type ActorRef,
  type ArgsSchema,
  type CallOptions,
  type PersistenceMode,
  type ReminderFiring,
  type ReminderSchedule,
  type RemoteMethod,
  type ThreadSettings,
  type TimerOptions,
} from "./actor.js";
export {
  ConnectionLostError,
  ForbiddenError,
  OverloadedError,
  PayloadTooLargeError,
  ProtocolError,
  UnauthenticatedError,
} from "./client-protocol.js";
export { type Clock, ManualClock, systemClock, type TimerHandle } from "./clock.js";
export { decode, encode } from "./codec.js";
export {
  ActorError,
  ActorTypeNotFoundError,
  CodecError,
  CorruptStateError,
  DeactivatedError,
  DeadlockError,
  DuplicateActorTypeError,
  InvalidArgumentError,
  MethodNotFoundError,
  PraasError,
  registerErrorClass,
  type SerializedError,
  SiloStoppedError,
  SiloUnavailableError,
  StaleActivationError,
  StateConflictError,
  StateDirLockedError,
  StateVersionError,
  StoreTimeoutError,
  StuckTurnError,
  TimeoutError,
} from "./errors.js";
export { type ActorId, formatActorId, parseActorId } from "./ids.js";
export { consoleLog, type LogDetails, type LogFunction, type LogLevel } from "./log.js";
export type { MemberRecord, MembershipProvider, MembershipView, SiloInfo, SiloStatus } from "./membership.js";
export {
  type MembershipTimings,
  type MemoryMembershipOptions,
  MemoryMembershipRegistry,
  memoryMembership,
} from "./memory-membership.js";
export { MemoryStateStore } from "./memory-store.js";
export {
  DEFAULT_SEND_RETRY,
  type InboxMessage,
  type ReceivedMessage,
  type RecvOptions,
  type SendOptions,
} from "./messages.js";
export { OptionError, type OptionSpec } from "./options.js";
export { MemoryReminderStore, type ReminderRecord, type ReminderStore } from "./reminders.js";
export { isRetryable, type RetryOptions, type RetryPolicy, retry, retryDelay } from "./retry.js";
export { decodeStateRecord, encodeStateRecord, type StateRecord } from "./state-record.js";
export type { StateStore, StoredState } from "./state-store.js";
