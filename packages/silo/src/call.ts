import {
  type ChainLink,
  type DeadlineEntry,
  type DeadlineList,
  type DeadlineQueue,
  TimeoutError,
  type Turn,
} from "@praas/core/internal";
import type { CallTrace } from "./tracing.js";

/** Told when a turn it runs outlives its call's deadline. */
export interface OverdueWatcher {
  overdue(turn: { readonly method: string }): void;
}

/** Sees every call's outcome (metrics). Installed with `silo.observeCalls`. */
export interface CallObserver {
  callCompleted(type: string, method: string, durationMs: number, errorCode: string | undefined): void;
}

/**
 * One invocation on its way through a silo: a mailbox turn, a deadline queue
 * entry and the caller's promise, in one object so a call costs one allocation
 * (plus its promise).
 */
export class Call implements Turn, DeadlineEntry {
  deadline = 0;
  dlPrev: DeadlineEntry | undefined = undefined;
  dlNext: DeadlineEntry | undefined = undefined;
  dlList: DeadlineList | undefined = undefined;
  /** Set when the turn starts; names this turn in call chains. */
  turnId = 0;
  /** True once the caller has its answer (result, error or timeout). */
  done = false;
  /** The activation running this call's turn, from the turn's start to its end (for stuck-turn detection). */
  runningOn: OverdueWatcher | undefined = undefined;
  /** Its trace context, when an OpenTelemetry SDK is registered (tracing.ts). */
  trace: CallTrace | undefined = undefined;
  readonly promise: Promise<unknown>;
  #resolve!: (value: unknown) => void;
  #reject!: (reason: unknown) => void;

  constructor(
    readonly idString: string,
    readonly type: string,
    readonly key: string,
    readonly method: string,
    readonly args: readonly unknown[],
    readonly chain: readonly ChainLink[],
    readonly interleave: boolean,
    readonly timeoutMs: number,
    readonly deadlines: DeadlineQueue,
    readonly observer: CallObserver | undefined,
    readonly startedAt: number,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  resolve(value: unknown): void {
    if (this.done) return;
    this.done = true;
    this.deadlines.remove(this);
    this.#resolve(value);
    if (this.observer !== undefined) this.#observe(undefined);
  }

  reject(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.deadlines.remove(this);
    this.#reject(error);
    if (this.observer !== undefined) this.#observe(error);
  }

  expire(reason?: unknown): void {
    if (this.done) return;
    this.done = true;
    const err = reason ?? this.timeoutError();
    this.#reject(err);
    if (this.observer !== undefined) this.#observe(err);
    // The caller has its answer; a turn still running past the deadline may be stuck.
    this.runningOn?.overdue(this);
  }

  timeoutError(): TimeoutError {
    return new TimeoutError(`Call ${this.idString}.${this.method} got no reply within ${this.timeoutMs} ms`);
  }

  #observe(error: unknown): void {
    const code =
      error === undefined ? undefined : (((error as { code?: unknown }).code as string | undefined) ?? "ERROR");
    try {
      this.observer?.callCompleted(this.type, this.method, performance.now() - this.startedAt, code);
    } catch {
      // Metrics must never break a call.
    }
  }
}
