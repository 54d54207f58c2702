import { DEFAULT_STORE_TIMEOUT_MS, InvalidArgumentError } from "@praas/core/internal";

/** A store's `commandTimeoutMs` option checked (whole ms, 1…600000), or the default. */
export function commandTimeoutOf(value: unknown, store: string): number {
  if (value === undefined) return DEFAULT_STORE_TIMEOUT_MS;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 600_000) {
    throw new InvalidArgumentError(`${store} commandTimeoutMs must be an integer 1…600000 (ms), got ${String(value)}`);
  }
  return value;
}

/**
 * Settle with `op`, or with `timeout()` once `ms` have passed, whichever is
 * first. The command behind `op` is not withdrawn: ioredis still holds it and
 * may send it once the connection answers again, so a write given up on may
 * or may not be applied (the conditional scripts and the membership fence keep
 * that safe). What the deadline bounds is how long a caller, and the actor
 * behind it, waits.
 */
export function withinDeadline<T>(op: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout()), ms);
    op.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
