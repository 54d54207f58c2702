/**
 * Volatile timers of an activation (`this.setTimer` in an actor). A tick runs
 * as a turn of its activation, so it never overlaps another turn unless the
 * type is reentrant; an asynchronous callback is also a deadline entry, so
 * one that never settles is found stuck like a method. Timers live only as
 * long as the activation: they do not keep it active, and deactivation clears
 * them (durable schedules are reminders, reminders.ts).
 */
import {
  type DeadlineEntry,
  type DeadlineList,
  EMPTY_CHAIN,
  InvalidArgumentError,
  type TimerHandle,
  type TimerOptions,
} from "@praas/core/internal";
import type { ActivationHost, ActivationStatus } from "./activation-host.js";
import type { ActivationTurn } from "./activation-turns.js";
import type { OverdueWatcher } from "./call.js";
import type { ActorTypeInfo } from "./registry.js";

/** What timers need from their activation. */
export interface TimersHost extends OverdueWatcher {
  readonly info: ActorTypeInfo;
  readonly ctx: Pick<ActivationHost, "clock">;
  readonly status: ActivationStatus;
  /** Its armed timers, made on first use; cleared at deactivation. */
  timers: Set<ActorTimer> | undefined;
  /** Where a due tick goes: it runs as a turn (activation-turns.ts). */
  readonly mailbox: { post(turn: ActorTimer): void };
}

/**
 * A volatile timer of an activation: the handle the actor holds, the turn each
 * tick runs as, and (while an asynchronous callback runs) a deadline entry.
 */
export class ActorTimer implements ActivationTurn, DeadlineEntry {
  readonly interleave: boolean;
  readonly chain = EMPTY_CHAIN;
  readonly method = "(timer)";
  turnId = 0;
  runningOn: OverdueWatcher | undefined = undefined;
  handle: TimerHandle | undefined;
  cancelled = false;
  deadline = 0;
  dlPrev: DeadlineEntry | undefined = undefined;
  dlNext: DeadlineEntry | undefined = undefined;
  dlList: DeadlineList | undefined = undefined;

  /** Private: the actor holds this object as its handle, and must not reach its activation through it. */
  readonly #activation: TimersHost;

  constructor(
    activation: TimersHost,
    readonly fn: () => unknown,
    readonly periodMs: number | undefined,
  ) {
    this.#activation = activation;
    this.interleave = activation.info.reentrant;
  }

  cancel(): void {
    this.cancelled = true;
    this.handle?.cancel();
    this.#activation.timers?.delete(this);
  }

  /** Its asynchronous callback outlived the call timeout: it may be stuck. */
  expire(reason?: unknown): void {
    if (reason === undefined) this.#activation.overdue(this);
  }

  /** A tick's turn is over: arm the next tick, or end. */
  ticked(): void {
    if (this.periodMs === undefined) this.cancel();
    else if (!this.cancelled) armTimer(this.#activation, this, this.periodMs);
  }
}

/** `setTimer` of the actor facade: check the options, arm the timer (not once the activation is leaving). */
export function startTimer(a: TimersHost, fn: () => unknown, options: TimerOptions): TimerHandle {
  if (typeof fn !== "function") throw new InvalidArgumentError("setTimer needs a callback function");
  const { dueMs, periodMs } = options;
  if (!(dueMs >= 0) || (periodMs !== undefined && !(periodMs > 0))) {
    throw new InvalidArgumentError("setTimer needs dueMs ≥ 0 and, if given, periodMs > 0");
  }
  const timer = new ActorTimer(a, fn, periodMs);
  if (a.status === "deactivating" || a.status === "deactivated") return timer;
  (a.timers ??= new Set()).add(timer);
  armTimer(a, timer, dueMs);
  return timer;
}

/** Stop every timer of `a` (it is leaving). */
export function cancelTimers(a: TimersHost): void {
  for (const t of a.timers ?? []) t.cancel();
  a.timers = undefined;
}

function armTimer(a: TimersHost, timer: ActorTimer, ms: number): void {
  timer.handle = a.ctx.clock.setTimeout(() => {
    if (timer.cancelled || a.status !== "active") return;
    a.mailbox.post(timer);
  }, ms);
}
