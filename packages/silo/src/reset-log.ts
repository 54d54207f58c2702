/**
 * One log line for a burst of activation resets, not one per activation. When
 * the store goes down, every "turn" actor that writes is reset (see
 * activation-state.ts), and a line each would bury the line that says what
 * happened. The first reset after a quiet spell is logged in full; the ones
 * that follow within RESET_LOG_WINDOW_MS are counted and summed up in one
 * line when the window closes, window after window while they go on. Every
 * reset after a failed write is still reported on its own as a `failure`
 * event (kind "save").
 */
import { type Clock, describeError, type LogLevel, type TimerHandle } from "@praas/core/internal";

export const RESET_LOG_WINDOW_MS = 10_000;

/** What the reset log needs from the silo: shared by all its activations. */
export interface ResetLogHost {
  readonly clock: Clock;
  log(level: LogLevel, message: string, actor: string, error?: unknown): void;
}

const WHAT =
  "the changes made since its last durable write are dropped, calls waiting on them fail with STALE_ACTIVATION, the next call loads the stored state";

class ResetLog {
  #quietFrom = Number.NEGATIVE_INFINITY;
  #counted = 0;
  #last: { actor: string; cause: string; error: unknown } | undefined;
  #timer: TimerHandle | undefined;
  readonly #host: ResetLogHost;

  constructor(host: ResetLogHost) {
    this.#host = host;
  }

  reset(actor: string, cause: string, error: unknown): void {
    const now = this.#host.clock.now();
    if (now >= this.#quietFrom && this.#timer === undefined) {
      this.#host.log(
        "error",
        `${actor}: ${cause}, so the activation is reset (${WHAT}): ${describeError(error)}`,
        actor,
        error,
      );
      this.#quietFrom = now + RESET_LOG_WINDOW_MS;
      return;
    }
    this.#counted++;
    this.#last = { actor, cause, error };
    this.#timer ??= this.#host.clock.setTimeout(() => this.#summarize(), this.#quietFrom - now, true);
  }

  #summarize(): void {
    this.#timer = undefined;
    const last = this.#last;
    if (this.#counted === 0 || last === undefined) return;
    this.#host.log(
      "error",
      `${this.#counted} more activation(s) reset in the last ${RESET_LOG_WINDOW_MS / 1000} s (${WHAT}); the last: ${last.actor}: ${last.cause}: ${describeError(last.error)}`,
      last.actor,
      last.error,
    );
    this.#counted = 0;
    this.#last = undefined;
    // Still going on: the next ones are summed up a window from now.
    this.#quietFrom = this.#host.clock.now() + RESET_LOG_WINDOW_MS;
  }
}

const logs = new WeakMap<ResetLogHost, ResetLog>();

/** Log that `actor` was reset, and why (coalesced per silo, see above). */
export function logReset(host: ResetLogHost, actor: string, cause: string, error: unknown): void {
  let log = logs.get(host);
  if (log === undefined) logs.set(host, (log = new ResetLog(host)));
  log.reset(actor, cause, error);
}
