/**
 * The lifecycle of an activation — one in-memory copy of an actor on this
 * silo — and nothing else: which status it is in, what happens to a call in
 * each, and the transitions between them. The steps a call goes through live
 * beside it, each in its own module: turn execution (activation-turns.ts),
 * the reply (activation-reply.ts), state persistence (activation-state.ts),
 * the inbox (activation-inbox.ts), timers (activation-timers.ts), what the
 * actor sees (activation-facade.ts), deadlocks (activation-deadlock.ts) and
 * stuck turns (activation-stuck.ts); the silo's side of the contract is
 * activation-host.ts. As in Orleans, the lifecycle decides *whether* turns
 * run and state is written; the parts decide *how*.
 *
 *   activating ──loaded, onActivate ran──▶ active ──deactivate(reason), abandon──▶ deactivating ──▶ deactivated
 *       │                                   ▲                                         │                ▲
 *       │                                   └──── swap-out save failed (not "stop") ──┘                │
 *       └──────────────────────────── loading or onActivate failed ────────────────────────────────────┘
 *
 * - activating: calls wait; then run (active) or are refused with the error.
 * - active: calls go to the mailbox (refused at once if they would deadlock).
 * - deactivating: timers stop, `recv` waiters fail, running and queued turns
 *   drain, then `onDeactivate` and a save (skipped for "stale", "delete",
 *   "lost" or a stale copy). New calls wait and are routed afresh at the end;
 *   a call made by one of its own draining turns still runs. A failed save
 *   (not at "stop") returns it to active; `abandon` (stuck turn, or a stop's
 *   drain deadline) cuts the wait short and never writes again.
 * - deactivated: gone from the table; calls are routed afresh (a new activation).
 * - stale is a flag, not a status: a conditional write found newer state, the
 *   silo lost its membership, or it was abandoned. A stale activation answers
 *   no call and writes nothing; a write conflict also starts its deactivation.
 */
import {
  type ActorId,
  type ChainLink,
  type Clock,
  constructActor,
  describeError,
  type Mailbox,
  StaleActivationError,
  TimeoutError,
} from "@praas/core/internal";
import { rejectIfDeadlock } from "./activation-deadlock.js";
import { ActorFacade, toActorId } from "./activation-facade.js";
import type {
  AbandonedActivation,
  ActivationHost,
  ActivationStatus,
  DeactivationOutcome,
  DeactivationReason,
} from "./activation-host.js";
import { toCallerError } from "./activation-reply.js";
import { PersistentState } from "./activation-state.js";
import { StuckTurnWatch } from "./activation-stuck.js";
import { type ActorTimer, cancelTimers } from "./activation-timers.js";
import { type ActivationTurn, isThenable, TurnRunner } from "./activation-turns.js";
import { Call } from "./call.js";
import { Inbox } from "./inbox.js";
import type { ActorTypeInfo } from "./registry.js";

/** Settles a promise from outside its executor. */
interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}
const ACTIVATED: Promise<void> = Promise.resolve();

export class Activation {
  #status: ActivationStatus = "activating";
  readonly id: ActorId;
  /** What the actor instance sees as its host (its state lives there). */
  readonly facade: ActorFacade;
  /** Its mailbox and running turns. */
  readonly turns: TurnRunner;
  readonly mailbox: Mailbox<Call | ActorTimer>;
  lastUsed = 0;
  lruPrev: Activation | undefined = undefined;
  lruNext: Activation | undefined = undefined;
  /** True once a conditional write found newer state: this activation must never write again. */
  stale = false;
  timers: Set<ActorTimer> | undefined;
  /** Calls that arrived while activating, or parked while deactivating. */
  #waiting: Call[] | undefined;
  /** Its stored state and the writes of it. */
  readonly persistence: PersistentState = new PersistentState(this);
  /** Its inbox (PraaS send/recv), made on first use. */
  inbox: Inbox | undefined = undefined;
  #deactivation: Promise<DeactivationOutcome> | undefined;
  #activation: Promise<void> | undefined;
  /** Answers the deactivation under way (`abandon()` may answer it first). */
  #outcome: Settle<DeactivationOutcome> | undefined;
  #abandoning: Promise<AbandonedActivation> | undefined;
  /** Made when a turn first runs past its deadline. */
  #stuck: StuckTurnWatch | undefined;

  constructor(
    readonly idString: string,
    readonly info: ActorTypeInfo,
    key: string,
    readonly ctx: ActivationHost,
  ) {
    this.id = { type: info.name, key };
    this.facade = new ActorFacade(this);
    this.turns = new TurnRunner(this);
    this.mailbox = this.turns.mailbox;
  }

  /** When a failed swap-out may be tried again (clock ms; see PersistentState.saveFailed). */
  get saveRetryAt(): number {
    return this.persistence.saveRetryAt;
  }

  get status(): ActivationStatus {
    return this.#status;
  }

  /** Every status change goes through here: the silo counts activations on their way out. */
  #setStatus(next: ActivationStatus): void {
    const prev = this.#status;
    if (prev === next) return;
    this.#status = next;
    if (next === "deactivating") this.ctx.leaving(1);
    else if (prev === "deactivating") this.ctx.leaving(-1);
  }

  /** Load state and run `onActivate`; calls that arrive meanwhile wait. */
  start(): Promise<void> {
    this.#activation ??= this.#activate();
    return this.#activation;
  }

  /** Take a call routed to this activation. */
  accept(call: Call): void {
    switch (this.#status) {
      case "active":
        if (!rejectIfDeadlock(call, this.mailbox, this.idString)) this.mailbox.post(call);
        return;
      case "activating":
        (this.#waiting ??= []).push(call);
        return;
      case "deactivating":
        // A call made by a turn we are waiting for must run, or draining would wait on itself.
        if (call.chain.some((l) => l[0] === this.idString)) {
          if (!rejectIfDeadlock(call, this.mailbox, this.idString)) this.mailbox.post(call);
        } else (this.#waiting ??= []).push(call);
        return;
      case "deactivated":
        this.ctx.dispatch(call);
        return;
    }
  }

  /** Messages waiting in the inbox (for tests and introspection). */
  get inboxSize(): number {
    return this.inbox?.size ?? 0;
  }

  inboxOrNew(): Inbox {
    this.inbox ??= new Inbox(this.ctx.deadlines);
    return this.inbox;
  }

  /** The chain an outgoing call from this activation carries. */
  outgoingChain(): readonly ChainLink[] {
    return this.turns.outgoingChain();
  }

  async #activate(): Promise<void> {
    try {
      await this.persistence.load();
      const instance = constructActor(this.info.cls, this.facade);
      this.turns.instance = instance;
      // Awaited only when it returns a promise: the base class's no-op would cost a promise hop
      // on every swap-in, before the waiting calls run.
      const hook = instance.onActivate();
      if (isThenable(hook)) await hook;
    } catch (err) {
      this.#setStatus("deactivated");
      this.ctx.release(this);
      const waiting = this.#waiting ?? [];
      this.#waiting = undefined;
      const callerError = toCallerError(err);
      for (const call of waiting) call.reject(callerError);
      this.ctx.report("activate", this.idString, err);
      this.#activation = ACTIVATED;
      return;
    }
    // Done: later start() calls get a shared settled promise, so an idle activation
    // does not keep one of its own (memory per activation counts at millions).
    this.#activation = ACTIVATED;
    if (this.#status === "activating") this.#setStatus("active");
    this.ctx.activated(this);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) for (const call of waiting) this.accept(call);
  }

  /**
   * Swap this activation out: stop its timers, let running and queued turns
   * finish, run `onDeactivate`, save the state, leave the table. Calls that
   * arrive meanwhile wait and then go to a fresh activation. If the state
   * cannot be saved the activation stays and serves on (its state would
   * otherwise be lost); the swap-out is retried later with a growing pause,
   * and an explicit request rejects with the error.
   */
  deactivate(reason: DeactivationReason): Promise<DeactivationOutcome> {
    if (this.#deactivation === undefined) {
      let outcome!: Settle<DeactivationOutcome>;
      this.#deactivation = new Promise<DeactivationOutcome>((resolve, reject) => {
        outcome = { resolve, reject };
      });
      this.#outcome = outcome;
      void this.#deactivate(reason, outcome);
    }
    return this.#deactivation;
  }

  /**
   * The steps of a swap-out. It answers through `outcome`, not by returning: `abandon()` may
   * answer first, while a step here still waits (a turn that never ends, a store that does not
   * answer), and after every wait this gives up if it did. A race per wait would do the same at
   * the price of a promise hop each, on every swap-out.
   */
  async #deactivate(reason: DeactivationReason, outcome: Settle<DeactivationOutcome>): Promise<void> {
    try {
      if (this.#status === "activating") await this.start();
      if (this.#abandoning !== undefined) return outcome.resolve("abandoned");
      if (this.#status === "deactivated") return outcome.resolve("discarded");
      this.#setStatus("deactivating");
      cancelTimers(this);
      // A turn blocked in recv would never let the mailbox drain: fail it with a clear error.
      this.inbox?.failWaiters(this.idString);
      // Each wait below is skipped when there is nothing to wait for: a swap-out is a hot path
      // (idle collection, maxActivations, drains), and every await is a promise hop.
      if (!this.mailbox.idle) {
        await this.mailbox.whenIdle();
        if (this.#abandoning !== undefined) return;
      }
      let saveError: unknown;
      const discard = reason === "stale" || reason === "delete" || reason === "lost" || this.stale;
      if (!discard) {
        try {
          const hook = this.turns.instance?.onDeactivate();
          if (isThenable(hook)) await hook;
        } catch (err) {
          this.ctx.report("deactivate", this.idString, err);
          this.ctx.log("warn", `${this.idString}: onDeactivate failed: ${describeError(err)}`, this.idString, err);
        }
        if (this.#abandoning !== undefined) return;
        try {
          await this.persistence.persist();
        } catch (err) {
          saveError = err;
        }
        if (this.#abandoning !== undefined) return;
        if (!this.mailbox.idle) {
          await this.mailbox.whenIdle();
          if (this.#abandoning !== undefined) return;
        }
      }
      if (saveError !== undefined && !this.stale && reason !== "stop") {
        // Keep the state in memory rather than lose it; try again later.
        this.persistence.saveFailed(saveError);
        if (reason !== "request") this.ctx.retryLater(this, reason);
        this.#setStatus("active");
        this.#deactivation = undefined;
        this.#outcome = undefined;
        const parked = this.#waiting;
        this.#waiting = undefined;
        for (const call of parked ?? []) this.accept(call);
        if (reason === "request") return outcome.reject(saveError);
        return outcome.resolve("discarded");
      }
      if (saveError === undefined && this.persistence.saveFailures > 0) {
        this.ctx.log(
          "info",
          `${this.idString}: saved after ${this.persistence.saveFailures} failed attempt(s)`,
          this.idString,
        );
      }
      if (reason === "delete") {
        // Delete before anyone waiting can activate afresh, so they start from nothing.
        try {
          await this.ctx.store.delete(this.id);
        } catch (err) {
          saveError = err;
        }
        if (this.#abandoning !== undefined) return;
      }
      this.#end(this.stale && reason !== "lost" ? "stale" : reason);
      if (saveError !== undefined && !(saveError instanceof StaleActivationError)) return outcome.reject(saveError);
      outcome.resolve(discard ? "discarded" : "saved");
    } catch (err) {
      // Nothing above throws by design; should something, the caller hears of it rather than waiting for ever.
      outcome.reject(err);
    }
  }

  /** Leave the table for good; calls parked meanwhile are routed afresh. */
  #end(reason: DeactivationReason): void {
    this.#stuck?.stop();
    this.#setStatus("deactivated");
    this.ctx.release(this);
    this.turns.instance = undefined;
    this.ctx.deactivated(this, reason);
    const parked = this.#waiting;
    this.#waiting = undefined;
    for (const call of parked ?? []) this.ctx.dispatch(call);
  }

  /** A turn outlived its deadline (its call's, or the call timeout for a timer): watch it for being stuck. */
  overdue(turn: ActivationTurn): void {
    if (this.#status === "deactivated") return;
    (this.#stuck ??= new StuckTurnWatch(this)).add(turn);
  }

  /** The abandonment under way (stuck, or a stop's drain deadline), if any. */
  get abandonment(): Promise<AbandonedActivation> | undefined {
    return this.#abandoning;
  }

  /**
   * Give up on this activation although turns are still running (a JavaScript
   * promise cannot be cancelled): with "deactivate" persistence its state is
   * saved as it is now — earlier, acknowledged changes survive, and so do
   * whatever changes the running turn had made; with "turn" every
   * acknowledged change is already stored and nothing more is written. It
   * never writes again (a turn that resumes later changes only this orphan),
   * and queued calls go to a fresh activation.
   */
  abandon(reason: "stuck" | "stop", saveWithinMs = this.ctx.stuckTurnGraceMs): Promise<AbandonedActivation> {
    this.#abandoning ??= this.#abandon(reason, saveWithinMs);
    return this.#abandoning;
  }

  async #abandon(reason: "stuck" | "stop", saveWithinMs: number): Promise<AbandonedActivation> {
    // No turn running: only its save was still in progress when the deadline came.
    const method = [...new Set(this.turns.running.map((t) => t.method))].join(", ") || "(saving)";
    const report = (saved: boolean): AbandonedActivation => ({ actor: this.idString, method, saved });
    if (this.#status === "deactivated") return report(false);
    this.#setStatus("deactivating");
    // Whoever waits for the swap-out under way hears now; its steps give up after their current wait.
    this.#outcome?.resolve("abandoned");
    cancelTimers(this);
    this.inbox?.failWaiters(this.idString);
    const queued = this.mailbox.drainQueued();
    let saved = !this.stale && this.info.persistence === "turn";
    if (this.info.persistence === "deactivate" && !this.stale) {
      try {
        await withDeadline(this.persistence.persist(), saveWithinMs, this.ctx.clock);
        saved = true;
      } catch (err) {
        this.ctx.report("save", this.idString, err);
        this.ctx.log("error", `${this.idString}: abandoned unsaved: ${describeError(err)}`, this.idString, err);
      }
    }
    // The running turn may still resume: nothing it does may reach the store.
    this.stale = true;
    this.#end(reason);
    for (const turn of queued) if (turn instanceof Call) this.ctx.dispatch(turn);
    return report(saved);
  }
}

/** `p`, or a TimeoutError after `ms` on `clock`. */
function withDeadline<T>(p: Promise<T>, ms: number, clock: Clock): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TimeoutError(`no answer within ${ms} ms`)), ms, true);
    p.then(
      (v) => {
        timer.cancel();
        resolve(v);
      },
      (e) => {
        timer.cancel();
        reject(e);
      },
    );
  });
}

// The silo, the cluster and the package index import these from here.
export type {
  AbandonedActivation,
  ActivationHost,
  ActivationStatus,
  DeactivationOutcome,
  DeactivationReason,
  FailureKind,
} from "./activation-host.js";
export { toActorId, toCallerError };
