/**
 * The reconnect policy a user may set. The pauses themselves come from
 * @praas/core's `retryDelay`, the runtime's one backoff.
 */

/**
 * How the client reconnects after a connection drops: the pause before
 * reconnect attempt n is core's `retryDelay` with this as its `RetryPolicy`
 * (full jitter: uniform in [0, min(maxDelayMs, initialDelayMs · 2^(n-1))]), so
 * that many clients cut off by the same failure do not all come back at once.
 * Unlike `RetryPolicy.maxAttempts`, which counts the first try, `maxAttempts`
 * here counts reconnect attempts only (the lost connection was the first try).
 */
export interface ReconnectOptions {
  /** Upper bound of the first pause (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Upper bound of any pause (default 5 s). */
  readonly maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  readonly maxAttempts?: number;
}
