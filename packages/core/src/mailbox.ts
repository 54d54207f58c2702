import { Deque } from "./deque.js";

/** A unit of work for an activation: a method call, a timer tick, a hook. */
export interface Turn {
  /** True when this turn may run while another turn is running (reentrant type or interleavable method). */
  readonly interleave: boolean;
}

/**
 * Runs the turns of one activation: one ordinary turn at a time, in arrival
 * order; interleaving turns start at once. The mailbox only orders work; what a
 * turn does (and whether an expired call is skipped) is the executor's business.
 *
 * The executor returns `true` when the turn finished synchronously. Otherwise
 * it must call {@link Mailbox.done} with the turn once it has finished — a
 * direct callback rather than a promise the mailbox chains on, which saves a
 * promise, a closure and a microtask hop on every asynchronous call.
 */
export interface TurnExecutor<T extends Turn> {
  execute(turn: T): boolean;
}

/**
 * The executor is an object rather than a function so that its owner can be
 * it: an activation's mailbox then costs no closure (nor its context) per
 * activation, which matters at millions of idle activations.
 */
export class Mailbox<T extends Turn> {
  readonly #executor: TurnExecutor<T>;
  #queue: Deque<T> | undefined;
  /** The ordinary turn now running, if any. */
  #current: T | undefined;
  #running = 0;
  #idleWaiters: (() => void)[] | undefined;

  constructor(executor: TurnExecutor<T>) {
    this.#executor = executor;
  }

  /** The ordinary (non-interleaving) turn in progress. */
  get current(): T | undefined {
    return this.#current;
  }

  /** Turns running now, ordinary and interleaving. */
  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue?.length ?? 0;
  }

  get idle(): boolean {
    return this.#running === 0 && this.queued === 0;
  }

  post(turn: T): void {
    if (turn.interleave) {
      this.#running++;
      if (this.#executor.execute(turn)) this.done(turn);
      return;
    }
    if (this.#current === undefined && this.queued === 0) {
      this.#start(turn);
      return;
    }
    (this.#queue ??= new Deque<T>()).push(turn);
  }

  /** The executor reports that an asynchronous turn has finished. */
  done(turn: T): void {
    this.#running--;
    if (turn === this.#current) {
      this.#current = undefined;
      this.#pump();
    }
    if (this.#idleWaiters !== undefined && this.idle) this.#wakeIdle();
  }

  /** Resolves once nothing runs and nothing waits. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => {
      (this.#idleWaiters ??= []).push(resolve);
    });
  }

  /** Take every queued turn out (for a mailbox being torn down). */
  drainQueued(): T[] {
    return this.#queue?.drain() ?? [];
  }

  #start(turn: T): void {
    this.#current = turn;
    this.#running++;
    if (this.#executor.execute(turn)) this.done(turn);
  }

  // A loop rather than recursion: a long queue of synchronous turns must not grow the stack.
  #pump(): void {
    const queue = this.#queue;
    if (queue === undefined) return;
    while (this.#current === undefined) {
      const turn = queue.shift();
      if (turn === undefined) break;
      this.#current = turn;
      this.#running++;
      if (!this.#executor.execute(turn)) return;
      this.#running--;
      this.#current = undefined;
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters ?? [];
    this.#idleWaiters = undefined;
    for (const w of waiters) w();
  }
}
