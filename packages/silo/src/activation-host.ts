/**
 * The contract between an activation and its silo: what an activation needs
 * from the silo (ActivationHost), and the words both use about an
 * activation's life — its status, why and how it ended, what an abandonment
 * reports, what kinds of failure it reports. Kept apart from the lifecycle so
 * the silo's side can be read without the implementation (and the parts of an
 * activation can name these types without importing the lifecycle).
 */
import type {
  ActorClass,
  ActorId,
  CallOptions,
  Clock,
  DeadlineQueue,
  LogLevel,
  PraasError,
  ReminderSchedule,
  SendOptions,
  StateStore,
} from "@praas/core/internal";
import type { Activation } from "./activation.js";
import type { Call } from "./call.js";

/** Where an activation is in its life; the transitions are described in activation.ts. */
export type ActivationStatus = "activating" | "active" | "deactivating" | "deactivated";

/**
 * Why an activation ended. "rebalance": another silo of the cluster owns it
 * now; "stale": a conditional write found newer state; "lost": this silo lost
 * its membership (dropped unsaved); "stuck": a turn outlived its deadline and
 * the activation was abandoned.
 */
export type DeactivationReason =
  | "idle"
  | "stop"
  | "request"
  | "capacity"
  | "stale"
  | "delete"
  | "rebalance"
  | "lost"
  | "stuck";

/** How a deactivation ended: state stored (or already current), dropped unsaved, or abandoned with turns still running. */
export type DeactivationOutcome = "saved" | "discarded" | "abandoned";

/** An activation given up on while a turn was still running (stuck, or still busy when a stop's drain timed out). */
export interface AbandonedActivation {
  readonly actor: string;
  /** Methods whose turns were still running ("(timer)" for a timer callback, "(saving)" when only its save was). */
  readonly method: string;
  /** Is what its callers were told stored? (see docs/architecture.md, "Stuck turns"). */
  readonly saved: boolean;
}

/** What an activation needs from its silo. */
export interface ActivationHost {
  /** Undefined while the silo may serve (a cluster silo holds its membership lease); else the error to fail a call with. */
  servingError(): PraasError | undefined;
  readonly store: StateStore;
  readonly clock: Clock;
  nextTurnId(): number;
  makeRef(cls: ActorClass, key: string, options: CallOptions | undefined, caller: Activation): unknown;
  /** Route a call again (after the activation it waited on went away). */
  dispatch(call: Call): void;
  /** The activation is gone: drop it from the table. */
  release(a: Activation): void;
  /** The activation is ready (for events and metrics). */
  activated(a: Activation): void;
  /** The activation ended (for events and metrics). */
  deactivated(a: Activation, reason: DeactivationReason): void;
  readonly deadlines: DeadlineQueue;
  readonly callTimeoutMs: number;
  /** Put a message in the inbox of `target` (routing it like a call). */
  send(
    from: Activation,
    target: ActorId,
    channel: string,
    data: unknown,
    options: SendOptions | undefined,
  ): Promise<void>;
  remind(a: Activation, name: string, schedule: ReminderSchedule): Promise<void>;
  forget(a: Activation, name: string): Promise<void>;
  emit(a: Activation, event: string, payload: unknown): void;
  subscriberCount(a: Activation, event?: string): number;
  /** Something failed that has no caller to tell (a `failure` event and a metric). */
  report(kind: FailureKind, actor: string, error: unknown): void;
  /** One line for the operator. */
  log(level: LogLevel, message: string, actor: string, error?: unknown): void;
  /** A turn still running this long after its call's deadline is stuck. */
  readonly stuckTurnGraceMs: number;
  /** An activation entered (+1) or left (−1) the "deactivating" status (capacity counts only the others). */
  leaving(delta: 1 | -1): void;
  /** A swap-out could not save: try again at `a.saveRetryAt` with `reason`. */
  retryLater(a: Activation, reason: DeactivationReason): void;
}

export type FailureKind = "activate" | "deactivate" | "save" | "timer" | "reminder" | "conflict" | "stuck";
