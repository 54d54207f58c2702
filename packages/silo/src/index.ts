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
  DeadlockError,
  DuplicateActorTypeError,
  InvalidArgumentError,
  ManualClock,
  MemoryStateStore,
  MethodNotFoundError,
  type PersistenceMode,
  PraasError,
  SiloStoppedError,
  StaleActivationError,
  StateConflictError,
  type StateStore,
  StateVersionError,
  type StoredState,
  systemClock,
  TimeoutError,
  type TimerOptions,
} from "@praas/core";
export type { ActivationStatus, DeactivationReason, FailureKind } from "./activation.js";
export type { CallObserver } from "./call.js";
export { FileStateStore } from "./fs-store.js";
export * from "./gateway/index.js";
export type { SiloOptions } from "./options.js";
export { callableMethods } from "./registry.js";
export { type ClusterSilo, type ClusterView, Silo, type SiloEvents, type SiloFailure } from "./silo.js";
export type { ActorEventListener } from "./subscriptions.js";
