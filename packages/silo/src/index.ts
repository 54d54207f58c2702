export {
  Actor,
  type ActorClass,
  ActorError,
  type ActorId,
  type ActorMethodNames,
  type ActorRef,
  ActorTypeNotFoundError,
  type CallOptions,
  type Clock,
  CodecError,
  CorruptStateError,
  DEFAULT_SEND_RETRY,
  DeactivatedError,
  DeadlockError,
  DuplicateActorTypeError,
  encodeStateRecord,
  InvalidArgumentError,
  ManualClock,
  MemoryReminderStore,
  MemoryStateStore,
  MethodNotFoundError,
  type PersistenceMode,
  PraasError,
  type ReceivedMessage,
  type RecvOptions,
  type ReminderFiring,
  type ReminderRecord,
  type ReminderSchedule,
  type ReminderStore,
  type RetryPolicy,
  type SendOptions,
  SiloStoppedError,
  SiloUnavailableError,
  StaleActivationError,
  StateConflictError,
  StateDirLockedError,
  type StateStore,
  StateVersionError,
  type StoredState,
  StuckTurnError,
  systemClock,
  type ThreadSettings,
  TimeoutError,
  type TimerOptions,
} from "@praas/core/internal";
export type {
  AbandonedActivation,
  ActivationStatus,
  DeactivationReason,
  FailureKind,
} from "./activation.js";
export type { CallObserver } from "./call.js";
export {
  CLUSTER_OPTIONS,
  type ClusterOptions,
  type ClusterTransportOptions,
  type InProcessClusterHooks,
  type SiloConnector,
} from "./cluster/config.js";
export type { EmbeddedStoreOptions } from "./embedded-options.js";
export type { FileImportReport } from "./fs-import.js";
export { FileReminderStore } from "./fs-reminder-store.js";
export { FileStateStore } from "./fs-store.js";
export * from "./gateway/index.js";
export { LmdbReminderStore } from "./lmdb-reminder-store.js";
export { LmdbStateStore } from "./lmdb-store.js";
export { SILO_OPTIONS, type SiloOptions } from "./options.js";
export { RESET_LOG_WINDOW_MS } from "./reset-log.js";
export {
  type ClusterSilo,
  type ClusterView,
  Silo,
  type SiloEvents,
  type SiloFailure,
  type StopReport,
} from "./silo.js";
export type { ActorEventListener } from "./subscriptions.js";
export { WorkerCrashedError } from "./worker-pool/errors.js";
