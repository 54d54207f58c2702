/**
 * Per-call opt-in retry (`ref(T, key, { retry: true })`): the caller declares
 * the call safe to run twice, so a failure that leaves it unknown whether it
 * ran — its silo died (SiloUnavailableError), or it ran on a stale activation
 * whose write was fenced (StaleActivationError) — is retried a few times within
 * the call's original deadline. Without the option nothing that may have run
 * is ever sent again (at most once).
 */
import { type Clock, type RetryPolicy, retryDelay } from "@praas/core/internal";

/** Error codes that `retry: true` retries. */
export const RETRIED_CODES: ReadonlySet<string> = new Set(["SILO_UNAVAILABLE", "STALE_ACTIVATION"]);

/** Attempts in all, the first included. */
export const MAX_ATTEMPTS = 4;

/**
 * Pauses give membership a moment to notice the dead silo: 50, 200, 800 ms.
 * They grow fourfold per attempt, i.e. every other step of this doubling
 * policy (see {@link pauseAfter}).
 */
const PAUSES: RetryPolicy = { initialDelayMs: 50, maxDelayMs: 800, jitter: "none" };

/** The pause after `n` failed attempts: step 2n − 1 of {@link PAUSES}, so 50 · 4^(n−1) ms. */
function pauseAfter(n: number): number {
  return retryDelay(PAUSES, 2 * n - 1);
}

function code(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Run `attempt(timeoutMs)` until it succeeds, fails for good, or the deadline leaves no room. */
export async function withRetry(
  attempt: (timeoutMs: number) => Promise<unknown>,
  timeoutMs: number,
  clock: Clock,
): Promise<unknown> {
  const deadline = clock.now() + timeoutMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt(Math.max(1, deadline - clock.now()));
    } catch (err) {
      const pause = pauseAfter(n);
      if (n >= MAX_ATTEMPTS || !RETRIED_CODES.has(code(err) as string) || deadline - clock.now() <= pause) throw err;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, pause));
    }
  }
}
