/**
 * Per-call opt-in retry (`ref(T, key, { retry: true })`): the caller declares
 * the call safe to run twice, so a failure that leaves it unknown whether it
 * ran — its silo died (SiloUnavailableError), or it ran on a stale activation
 * whose write was fenced (StaleActivationError) — is retried a few times within
 * the call's original deadline. Without the option nothing that may have run
 * is ever sent again (at most once).
 */
import type { Clock } from "@praas/core";

/** Error codes that `retry: true` retries. */
export const RETRIED_CODES: ReadonlySet<string> = new Set(["SILO_UNAVAILABLE", "STALE_ACTIVATION"]);

/** Attempts in all, the first included. */
export const MAX_ATTEMPTS = 4;

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
      // Give membership a moment to notice the dead silo, growing with each attempt.
      const pause = 50 * 4 ** (n - 1);
      if (n >= MAX_ATTEMPTS || !RETRIED_CODES.has(code(err) as string) || deadline - clock.now() <= pause) throw err;
      await new Promise<void>((resolve) => clock.setTimeout(resolve, pause));
    }
  }
}
