/**
 * The activation collector: swaps activations out of memory. Periodically,
 * those idle longer than their type's idle timeout, and swap-outs that failed
 * to save once their backoff has passed; on demand, the least recently used
 * beyond `maxActivations`.
 */
import type { Clock, PraasError, TimerHandle } from "@praas/core/internal";
import type { Activation, DeactivationReason } from "./activation.js";
import type { ActivationTable } from "./activation-table.js";

/** What the collector needs from its silo. */
export interface CollectorHost {
  readonly clock: Clock;
  /** Why the silo may not serve now (no membership lease): nothing is saved then. */
  servingError(): PraasError | undefined;
}

export interface CollectorOptions {
  readonly maxActivations: number;
  /** The shortest idle timeout of any type: activations used more recently are never idle. */
  readonly minIdleTimeoutMs: number;
  /** How often the idle scan runs. */
  readonly everyMs: number;
}

export class ActivationCollector {
  readonly #table: ActivationTable;
  readonly #host: CollectorHost;
  readonly #options: CollectorOptions;
  #timer: TimerHandle | undefined;
  #stopped = false;
  /** Activations now deactivating: capacity eviction does not count them as resident. */
  #leaving = 0;
  /** Swap-outs that failed to save (other than idle ones, which the idle scan retries), by activation. */
  readonly #retries = new Map<Activation, DeactivationReason>();

  constructor(table: ActivationTable, host: CollectorHost, options: CollectorOptions) {
    this.#table = table;
    this.#host = host;
    this.#options = options;
  }

  /** Start the periodic idle scan. */
  start(): void {
    this.#timer = this.#host.clock.setTimeout(
      () => {
        this.#collectIdle();
        if (!this.#stopped) this.start();
      },
      this.#options.everyMs,
      true,
    );
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  /** An activation entered (+1) or left (−1) the "deactivating" status. */
  leaving(delta: 1 | -1): void {
    this.#leaving += delta;
  }

  /** A swap-out could not save: try again at `a.saveRetryAt` (idle ones the idle scan finds by itself). */
  retryLater(a: Activation, reason: DeactivationReason): void {
    if (reason !== "idle") this.#retries.set(a, reason);
  }

  /**
   * Swap out the least recently used activations while more than
   * `maxActivations` are resident. Activations already on their way out do
   * not count, or every new key would evict another one while saves run.
   */
  enforceCapacity(): void {
    let excess = this.#table.size - this.#leaving - this.#options.maxActivations;
    if (excess <= 0) return;
    const now = this.#host.clock.now();
    for (const a of this.#table.byAge()) {
      if (excess <= 0) break;
      if (a.status !== "active" || a.saveRetryAt > now) continue;
      excess--;
      // A save failure keeps the activation and is reported by the activation itself.
      void a.deactivate("capacity").catch(() => {});
    }
  }

  /**
   * Deactivate every activation idle for longer than its type's idle timeout,
   * and retry swap-outs that failed to save once their backoff has passed.
   */
  #collectIdle(): void {
    // Without a lease nothing is saved: the activations wait for membership's verdict.
    if (this.#host.servingError() !== undefined) return;
    const now = this.#host.clock.now();
    for (const [a, reason] of this.#retries) {
      if (a.status === "deactivated") this.#retries.delete(a);
      else if (a.status === "active" && a.saveRetryAt <= now) {
        this.#retries.delete(a);
        void a.deactivate(reason).catch(() => {});
      }
    }
    for (const a of this.#table.byAge()) {
      // The list is in order of last use: past this point everything is too recent for any type.
      if (now - a.lastUsed < this.#options.minIdleTimeoutMs) break;
      if (a.status !== "active" || !a.mailbox.idle || a.saveRetryAt > now) continue;
      // A save failure keeps the activation and is reported (once) by the activation itself.
      if (now - a.lastUsed >= a.info.idleTimeoutMs) void a.deactivate("idle").catch(() => {});
    }
  }
}
