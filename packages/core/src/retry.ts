/**
 * The one retry policy of the runtime: which errors are worth another try,
 * how long to pause between tries, and when to stop. Every retry loop in the
 * packages (durable `send`, client reconnect, silo redials, reminder firings,
 * swap-out saves, rejoin, hand-over questions, supervised restarts) goes
 * through here, so they agree on "retryable" and never outlive the caller's
 * deadline.
 */
import type { Clock } from "./clock.js";
import { systemClock } from "./clock.js";
import { PraasError, TimeoutError } from "./errors.js";

/** How a retry loop paces itself. */
export interface RetryPolicy {
  /** Upper bound of the first pause, ms. */
  readonly initialDelayMs: number;
  /** Upper bound of any pause, ms. */
  readonly maxDelayMs: number;
  /** How much the pause grows per failed try (default 2: doubling). */
  readonly multiplier?: number;
  /** Give up after this many tries in all (the first one included); default: no limit but the deadline. */
  readonly maxAttempts?: number;
  /**
   * How pauses are spread: "full" draws from [0, cap] (AWS's "full jitter":
   * clients cut off together do not come back together), "equal" from
   * [cap/2, cap] (never much shorter than the cap), "none" is the cap itself.
   * Default "full".
   */
  readonly jitter?: "full" | "equal" | "none";
}

/**
 * Is another try of the same request worth it? True for errors marked
 * `retryable` by the runtime (the silo is stopping or unavailable, the
 * connection was lost, the actor was deactivated, overloaded, a store fault
 * marked transient) — including `TIMEOUT`: a retry loop bounds its tries by the
 * caller's deadline (see {@link retry}), so a timeout that used the whole
 * deadline ends the loop by itself.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof PraasError) return err.retryable;
  return typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/**
 * The pause before try `attempt + 1`, after `attempt` (1, 2, …) tries failed:
 * exponential from `initialDelayMs` (× `multiplier` per try), capped by
 * `maxDelayMs`, jittered.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.min(30, Math.max(0, attempt - 1));
  const cap = Math.min(policy.maxDelayMs, policy.initialDelayMs * (policy.multiplier ?? 2) ** exponent);
  switch (policy.jitter ?? "full") {
    case "none":
      return cap;
    case "equal":
      return cap / 2 + random() * (cap / 2);
    default:
      return random() * cap;
  }
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  /** Absolute time on `clock` after which nothing new is tried; the loop throws the last error (or a TIMEOUT). */
  readonly deadline?: number;
  readonly clock?: Clock;
  /** Which errors to try again after; default {@link isRetryable}. */
  readonly retryable?: (err: unknown) => boolean;
  /** Checked before every pause and try: true stops the loop with the last error (a stopping silo). */
  readonly stop?: () => boolean;
  readonly random?: () => number;
}

/**
 * Run `attempt` until it succeeds, fails with an error that is not retryable,
 * runs out of tries, or would pause past the deadline. `attempt` receives the
 * try's number (1, 2, …) and the milliseconds left to the deadline (Infinity
 * without one), to bound its own wait by.
 */
export async function retry<T>(
  attempt: (n: number, remainingMs: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const retryable = options.retryable ?? isRetryable;
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const maxAttempts = options.policy.maxAttempts ?? Number.POSITIVE_INFINITY;
  for (let n = 1; ; n++) {
    const remaining = deadline - clock.now();
    try {
      return await attempt(n, remaining);
    } catch (err) {
      if (!retryable(err) || n >= maxAttempts || options.stop?.() === true) throw err;
      const pause = retryDelay(options.policy, n, options.random);
      if (clock.now() + pause >= deadline) throw err;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, pause));
      if (options.stop?.() === true) throw err;
      if (clock.now() >= deadline) throw err instanceof Error ? err : new TimeoutError("retry deadline passed");
    }
  }
}
