/**
 * Per-call opt-in retry (`ref(T, key, { retry: true })`): the caller declares
 * the call safe to run twice, so a failure that leaves it unknown whether it
 * ran — its silo died (SiloUnavailableError), or it ran on a stale activation
 * whose write was fenced (StaleActivationError) — is retried a few times within
 * the call's original deadline. Without the option nothing that may have run
 * is ever sent again (at most once).
 */
import { type Clock, type RetryPolicy, retry } from "@praas/core/internal";

/**
 * Error codes that `retry: true` retries: the ones that leave it unknown
 * whether the call ran, which only the caller's opt-in makes safe to resend
 * (calls that surely did not run are resent by the router without asking).
 */
export const RETRIED_CODES: ReadonlySet<string> = new Set(["SILO_UNAVAILABLE", "STALE_ACTIVATION"]);

/** Attempts in all, the first included. */
export const MAX_ATTEMPTS = 4;

/** Pauses give membership a moment to notice the dead silo: 50, 200, 800 ms. */
const PAUSES: RetryPolicy = {
  initialDelayMs: 50,
  multiplier: 4,
  maxDelayMs: 800,
  jitter: "none",
  maxAttempts: MAX_ATTEMPTS,
};

function code(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Run `attempt(timeoutMs)` until it succeeds, fails for good, or the deadline leaves no room. */
export function withRetry(
  attempt: (timeoutMs: number) => Promise<unknown>,
  timeoutMs: number,
  clock: Clock,
): Promise<unknown> {
  return retry((_n, remainingMs) => attempt(Math.max(1, remainingMs)), {
    policy: PAUSES,
    deadline: clock.now() + timeoutMs,
    clock,
    retryable: (err) => RETRIED_CODES.has(code(err) as string),
  });
}
