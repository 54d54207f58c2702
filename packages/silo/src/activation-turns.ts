/**
 * Turn execution, the message pump of an activation: its mailbox runs one
 * turn at a time (several only for a reentrant type or an interleaving
 * method), and a turn is a method call, a reminder firing, an inbox delivery
 * or a timer tick. A call runs only while the silo may serve and the
 * activation is not stale; its reply leaves through the reply step, and with
 * "turn" persistence only once a write holding the turn's changes is durable
 * (the output gate). Kept apart from the lifecycle (which decides *whether*
 * turns may run) so the hot path reads in one place; it allocates nothing per
 * turn beyond the promise callbacks of an asynchronous method or a turn commit.
 */
import {
  type Actor,
  type ChainLink,
  Mailbox,
  type ReminderFiring,
  StaleActivationError,
  SYSTEM_METHODS,
  type Turn,
} from "@praas/core/internal";
import { outgoingChain } from "./activation-deadlock.js";
import type { ActivationHost } from "./activation-host.js";
import { deliverMessage, type InboxHost } from "./activation-inbox.js";
import { type ReplyHost, refusal, settle, toCallerError } from "./activation-reply.js";
import { ActorTimer } from "./activation-timers.js";
import type { Call, OverdueWatcher } from "./call.js";
import { traceTurn } from "./tracing.js";

/** Turns of an activation: method calls and timer ticks. */
export interface ActivationTurn extends Turn {
  turnId: number;
  readonly chain: readonly ChainLink[];
  /** For reports: the method (or "(timer)") this turn runs. */
  readonly method: string;
  /** Set while the turn runs. */
  runningOn?: OverdueWatcher | undefined;
}

/** What turn execution needs from its activation. */
export interface TurnsHost extends ReplyHost, InboxHost, OverdueWatcher {
  readonly ctx: Pick<
    ActivationHost,
    "servingError" | "dispatch" | "nextTurnId" | "store" | "clock" | "deadlines" | "callTimeoutMs" | "report"
  >;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** The mailbox of one activation and the turns it is running. */
export class TurnRunner {
  readonly mailbox: Mailbox<Call | ActorTimer>;
  /** The actor instance turns run on: set once it is activated, cleared when it ends. */
  instance: Actor<unknown> | undefined = undefined;
  /** Turns now running (one, unless the type is reentrant or a method interleaves). */
  readonly #running: ActivationTurn[] = [];
  readonly #host: TurnsHost;

  constructor(host: TurnsHost) {
    this.#host = host;
    // The runner is the mailbox's executor: no closure per activation.
    this.mailbox = new Mailbox<Call | ActorTimer>(this);
  }

  /** Run one turn (the mailbox calls this); true when it finished synchronously. */
  execute(turn: Call | ActorTimer): boolean {
    return turn instanceof ActorTimer
      ? this.#runTimer(turn)
      : turn.trace === undefined
        ? this.#runCall(turn)
        : this.#runTraced(turn);
  }

  /** Turns now running. */
  get running(): readonly ActivationTurn[] {
    return this.#running;
  }

  /** The chain an outgoing call from this activation carries. */
  outgoingChain(): readonly ChainLink[] {
    return outgoingChain(this.#running, this.#host.idString);
  }

  /** A turn starts: it gets its id (for call chains) and is watched for running past its deadline. */
  #begin(turn: ActivationTurn): void {
    turn.turnId = this.#host.ctx.nextTurnId();
    turn.runningOn = this.#host;
    this.#running.push(turn);
  }

  /** A turn is over. */
  #end(turn: ActivationTurn): void {
    turn.runningOn = undefined;
    const turns = this.#running;
    // Almost always the only (hence last) turn: pop instead of a splice that allocates.
    if (turns[turns.length - 1] === turn) {
      turns.pop();
      return;
    }
    const i = turns.indexOf(turn);
    if (i >= 0) turns.splice(i, 1);
  }

  /** A traced call's turn, under its span (tracing.ts). */
  #runTraced(call: Call): boolean {
    return traceTurn(call, () => this.#runCall(call));
  }

  /** Run a call as a turn. True when it finished synchronously; otherwise the mailbox hears `done` later. */
  #runCall(call: Call): boolean {
    if (call.done) return true; // its deadline passed while it waited
    const host = this.#host;
    if (host.ctx.servingError() !== undefined) {
      // Not run: the silo holds it until it may serve again (or refuses it, retryable).
      host.ctx.dispatch(call);
      return true;
    }
    if (host.stale) {
      // Dropped (its silo lost its membership) or fenced out: its state may be old.
      call.reject(new StaleActivationError(host.idString));
      return true;
    }
    if (call.method === SYSTEM_METHODS.deliver) return deliverMessage(host, call);
    this.#begin(call);
    let result: unknown;
    try {
      const instance = this.instance as Actor<unknown>;
      if (call.method === SYSTEM_METHODS.remind) {
        const [name, firing] = call.args as [string, ReminderFiring];
        result = instance.onReminder(name, firing);
      } else {
        const method = (instance as Actor<unknown> & Record<string, unknown>)[call.method];
        result = (method as (...a: unknown[]) => unknown).apply(instance, call.args as unknown[]);
      }
    } catch (err) {
      return this.#finishCall(call, false, err);
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          if (this.#finishCall(call, true, value)) this.mailbox.done(call);
        },
        (err) => {
          if (this.#finishCall(call, false, err)) this.mailbox.done(call);
        },
      );
      return false;
    }
    return this.#finishCall(call, true, result);
  }

  /** A timer tick, as a turn. True when it finished synchronously; otherwise the mailbox hears `done` later. */
  #runTimer(timer: ActorTimer): boolean {
    const host = this.#host;
    if (timer.cancelled || host.stale) return true;
    this.#begin(timer);
    let result: unknown;
    try {
      result = timer.fn.call(this.instance);
    } catch (err) {
      return this.#finishTimer(timer, err);
    }
    if (isThenable(result)) {
      // A callback that never settles must be found, like a stuck method.
      host.ctx.deadlines.add(timer, host.ctx.callTimeoutMs);
      result.then(
        () => this.mailbox.done(this.#finishTimer(timer) && timer),
        (err) => this.mailbox.done(this.#finishTimer(timer, err ?? new Error("timer callback rejected")) && timer),
      );
      return false;
    }
    return this.#finishTimer(timer);
  }

  /** A tick's turn is over (with the callback's error, if it failed). */
  #finishTimer(timer: ActorTimer, err?: unknown): true {
    const host = this.#host;
    host.ctx.deadlines.remove(timer);
    this.#end(timer);
    if (err !== undefined) host.ctx.report("timer", host.idString, err);
    timer.ticked();
    return true;
  }

  /** Reply to a call whose method has returned (true: the turn is over for the mailbox). */
  #finishCall(call: Call, ok: boolean, value: unknown): boolean {
    this.#end(call);
    const host = this.#host;
    const refused = refusal(host);
    if (refused !== undefined) {
      call.reject(refused);
      // Its changes were refused to its caller: no later write may store them.
      if (host.info.persistence === "turn") host.persistence.reset(refused, "not serving");
      return true;
    }
    if (host.info.persistence === "turn") {
      // An output gate: the reply leaves only once a write holding this turn's changes is
      // durable, so nothing acknowledged is lost; meanwhile the next turn runs, and turns that
      // end while a write is in flight share the next one.
      host.persistence.commitTurn().then(
        () => {
          // Written under fencing; the reply still checks the lease (if it ran out meanwhile,
          // another silo may already serve the key from older state: not acknowledged).
          settle(call, ok, value, host);
        },
        (err) => call.reject(toCallerError(err)),
      );
      return true;
    }
    settle(call, ok, value, host);
    return true;
  }
}
