/**
 * Ownership hand-over between silos: a key moves to a new owner only after
 * its previous owner has let go of it.
 *
 * The ring alone is not enough. When the view changes, every silo applies it
 * at its own moment: a silo that gains keys (a peer died or left, or this
 * silo just joined or rejoined) could activate a key — load its state, answer
 * a read — while the silo that owned it a moment ago has not yet seen the
 * new view, or is still finishing a turn and saving it. Both would serve the
 * key at once: the new owner's reads lag the old owner's acknowledged writes.
 *
 * So:
 * - A silo *releases* view version v once it has applied a view ≥ v and no
 *   activation is left in its table for a key it does not own (it hands
 *   those over: each finishes its turn and saves, see node.ts #handOver).
 * - A silo that *gains* keys in view v (a ring member other than itself
 *   disappeared, or it appeared) activates nothing new until every peer that
 *   is still a live member has said it released v. Peers declared dead need
 *   no answer: a silo loses its lease before its peers can declare it dead,
 *   and without a lease it serves nothing (see node.ts).
 * - Keys can only move to this silo at a gain, so between two gains nothing
 *   needs asking, and existing activations never wait.
 *
 * Peers are asked with a small request on the silo-to-silo connection (a call
 * to the reserved type {@link SILO_TYPE}, method "released", argument v); the
 * peer answers once it released v, or with an error after a while, and the
 * question is asked again for as long as it matters. Because envelopes on a
 * connection are in order, a call this silo forwarded to the peer before
 * asking is there before the question is, so the peer releases its activation
 * too.
 *
 * Calls for fresh activations wait here at most PARK_LIMIT_MS, then fail with
 * a retryable SiloUnavailableError marked "not run".
 */
import {
  type ChainLink,
  type Clock,
  type PraasError,
  type RetryPolicy,
  retryDelay,
  SiloUnavailableError,
  type TimerHandle,
} from "@praas/core/internal";
import type { OutboundCall } from "./peer-connection.js";

/** The reserved actor type of silo-to-silo control requests (never a user type: `#` cannot start an actor type name). */
export const SILO_TYPE = "#silo";
/** Method of the hand-over question. */
export const RELEASED_METHOD = "released";

/** How long one question may wait at the peer before it answers "not yet". */
const QUESTION_TIMEOUT_MS = 2_000;
/** Pause before asking again after failed questions (connection down, peer busy): 20 ms, doubling, at most 500 ms. */
const ASK_AGAIN: RetryPolicy = { initialDelayMs: 20, maxDelayMs: 500, jitter: "none" };
/** Longest a call waits for a hand-over before it is refused as not run. */
export const HANDOVER_WAIT_LIMIT_MS = 3_000;

export interface HandoverHost {
  readonly clock: Clock;
  /** This silo's id. */
  readonly selfId: string;
  /** Live members other than this silo (active or leaving). */
  livePeers(): readonly string[];
  /** Send a request to one peer (it dials when needed). */
  send(peerId: string, request: OutboundCall): void;
  /** Has this incarnation stopped for good (no more questions)? */
  readonly closed: boolean;
}

interface Waiter {
  readonly at: number;
  readonly resume: () => void;
  readonly refuse: (error: PraasError) => void;
}

export class HandoverGate {
  readonly #host: HandoverHost;
  /** The view version of this silo's latest gain; 0: nothing gained yet. */
  #gainedAt = 0;
  /** Live peers at the latest gain: the ones that may still hold a key that moved here. */
  #owners = new Set<string>();
  /** The gain whose releases were all heard. */
  #settledAt = 0;
  /** Failed questions in a row per peer (for the pause before the next). */
  readonly #failures = new Map<string, number>();
  /** Highest version each peer said it released. */
  readonly #released = new Map<string, number>();
  /** Peers with a question in flight. */
  readonly #asking = new Set<string>();
  #waiters: Waiter[] = [];
  #timer: TimerHandle | undefined;

  constructor(host: HandoverHost) {
    this.#host = host;
  }

  /** This silo gained keys in view `version`: fresh activations wait for the live peers' release. */
  gained(version: number): void {
    if (version < this.#gainedAt) return;
    this.#gainedAt = version;
    // Only silos live now can have held what moved here; one that joins later never owned it.
    this.#owners = new Set(this.#host.livePeers());
    this.#askAll();
  }

  /** The view changed: peers that died no longer need to answer. */
  viewChanged(): void {
    const live = new Set(this.#host.livePeers());
    for (const id of this.#released.keys()) if (!live.has(id)) this.#released.delete(id);
    for (const id of this.#failures.keys()) if (!live.has(id)) this.#failures.delete(id);
    for (const id of this.#owners) if (!live.has(id)) this.#owners.delete(id);
    this.#check();
  }

  /** Are fresh activations allowed now? The hot path: one compare once the latest gain is settled. */
  get open(): boolean {
    if (this.#settledAt === this.#gainedAt) return true;
    if (this.#pending().length > 0) return false;
    this.#settledAt = this.#gainedAt;
    return true;
  }

  /**
   * Run `resume` once every live peer released the latest gain (now, if they
   * have), or `refuse` after HANDOVER_WAIT_LIMIT_MS.
   */
  wait(resume: () => void, refuse: (error: PraasError) => void): void {
    if (this.open) {
      resume();
      return;
    }
    this.#waiters.push({ at: this.#host.clock.now(), resume, refuse });
    this.#askAll();
    this.#armTimer();
  }

  /** Stop: refuse whatever waits. */
  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const waiters = this.#waiters.splice(0);
    const error = new SiloUnavailableError(`Silo ${this.#host.selfId} is stopping`);
    for (const w of waiters) w.refuse(error);
  }

  /** Peers whose release of the latest gain has not been heard. */
  #pending(): string[] {
    if (this.#gainedAt === 0) return [];
    const out: string[] = [];
    for (const id of this.#host.livePeers()) {
      if (this.#owners.has(id) && (this.#released.get(id) ?? 0) < this.#gainedAt) out.push(id);
    }
    return out;
  }

  #askAll(): void {
    for (const id of this.#pending()) this.#ask(id);
  }

  #ask(peerId: string): void {
    if (this.#asking.has(peerId) || this.#host.closed) return;
    this.#asking.add(peerId);
    const version = this.#gainedAt;
    this.#host.send(
      peerId,
      new ReleaseQuestion(version, this.#host.clock.now() + QUESTION_TIMEOUT_MS * 2, (answer) => {
        this.#asking.delete(peerId);
        if (answer !== undefined) {
          this.#failures.delete(peerId);
          if (answer > (this.#released.get(peerId) ?? 0)) this.#released.set(peerId, answer);
          this.#check();
        }
        if (!this.#host.closed && this.#pending().includes(peerId)) {
          // Not answered (connection down, peer still handing over or draining): ask again shortly.
          const failures = answer === undefined ? (this.#failures.get(peerId) ?? 0) + 1 : 0;
          this.#failures.set(peerId, failures);
          const pause = failures === 0 ? 0 : retryDelay(ASK_AGAIN, failures);
          this.#host.clock.setTimeout(() => this.#ask(peerId), pause, true);
        }
      }),
    );
  }

  #check(): void {
    if (this.#waiters.length === 0 || !this.open) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w.resume();
  }

  #armTimer(): void {
    if (this.#timer !== undefined) return;
    const oldest = this.#waiters[0];
    if (oldest === undefined) return;
    const clock = this.#host.clock;
    this.#timer = clock.setTimeout(
      () => {
        this.#timer = undefined;
        const now = clock.now();
        const late: Waiter[] = [];
        while (this.#waiters.length > 0 && now - (this.#waiters[0] as Waiter).at >= HANDOVER_WAIT_LIMIT_MS) {
          late.push(this.#waiters.shift() as Waiter);
        }
        if (late.length > 0) {
          const error = new SiloUnavailableError(
            `Silo ${this.#host.selfId} is waiting for ${this.#pending().join(", ")} to hand over the actors it took over; send the call again`,
          );
          for (const w of late) w.refuse(error);
        }
        this.#armTimer();
      },
      Math.max(1, oldest.at + HANDOVER_WAIT_LIMIT_MS - clock.now()),
      true,
    );
  }
}

/** The question "have you released view `version`?" as a call on the silo-to-silo connection. */
export class ReleaseQuestion implements OutboundCall {
  readonly type = SILO_TYPE;
  readonly key = "handover";
  readonly method = RELEASED_METHOD;
  readonly args: readonly unknown[];
  readonly chain: readonly ChainLink[] = [];
  readonly hops = 0;
  #done = false;
  readonly #answer: (released: number | undefined) => void;

  constructor(
    version: number,
    readonly deadline: number,
    answer: (released: number | undefined) => void,
  ) {
    this.args = [version];
    this.#answer = answer;
  }

  get done(): boolean {
    return this.#done;
  }

  replied(ok: boolean, value: unknown): void {
    this.#settle(ok && typeof value === "number" && Number.isSafeInteger(value) ? value : undefined);
  }

  refused(): void {
    this.#settle(undefined);
  }

  lost(): void {
    this.#settle(undefined);
  }

  #settle(released: number | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#answer(released);
  }
}

/** Check the argument of a "released" question from the network. */
export function parseReleasedQuestion(args: readonly unknown[]): number | undefined {
  const v = args[0];
  return args.length === 1 && typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Release bookkeeping on the answering side: questions wait until this silo released their version. */
export class ReleaseTracker {
  /** Highest view version this silo has released. */
  released = 0;
  #questions: Question[] = [];
  #closed = false;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * False after {@link retract}: an activation for a key this silo does not
   * own appeared after the last release (a call forwarded by a peer that still
   * had the old view ran here), and must be handed over before any answer.
   */
  #clean = true;

  /** Answer now if `version` is released, else when it is (or "not yet" after QUESTION_TIMEOUT_MS). */
  ask(version: number, answer: (released: number) => void, notYet: () => void): void {
    if (version <= this.released && this.#clean) {
      answer(this.released);
      return;
    }
    if (this.#closed) {
      notYet();
      return;
    }
    const entry: Question = {
      version,
      answer,
      notYet,
      timer: this.#clock.setTimeout(
        () => {
          this.#questions = this.#questions.filter((q) => q !== entry);
          notYet();
        },
        QUESTION_TIMEOUT_MS,
        true,
      ),
    };
    this.#questions.push(entry);
  }

  /** Until the next release, answer nothing (see #clean). */
  retract(): void {
    this.#clean = false;
  }

  /** This silo released `version` (nothing it does not own is left here): answer the questions it settles. */
  release(version: number): void {
    if (version <= this.released && this.#clean) return;
    this.released = Math.max(this.released, version);
    this.#clean = true;
    const released = this.released;
    const ready = this.#questions.filter((q) => q.version <= released);
    if (ready.length === 0) return;
    this.#questions = this.#questions.filter((q) => q.version > released);
    for (const q of ready) {
      q.timer.cancel();
      q.answer(released);
    }
  }

  /**
   * Draining or evicted: answer "not yet" to every open and later question at
   * once (a draining silo's bye, or its death in the view, ends the asking).
   */
  close(): void {
    this.#closed = true;
    for (const q of this.#questions.splice(0)) {
      q.timer.cancel();
      q.notYet();
    }
  }
}

interface Question {
  readonly version: number;
  readonly answer: (released: number) => void;
  readonly notYet: () => void;
  readonly timer: TimerHandle;
}
