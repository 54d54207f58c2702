export interface ReconnectOptions {
  /** Upper bound of the first delay (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Upper bound of any delay (default 5 s). */
  readonly maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  readonly maxAttempts?: number;
}

/**
 * Delay before reconnect attempt `attempt` (1, 2, …): exponential backoff with
 * full jitter, i.e. uniform in [0, min(max, initial · 2^(attempt-1))], so that
 * many clients cut off by the same failure do not all come back at once.
 */
export function backoffDelay(
  attempt: number,
  initialDelayMs: number,
  maxDelayMs: number,
  random = Math.random,
): number {
  const cap = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return random() * cap;
}
