/**
 * A scope: the undo list of a multi-step start. Each step that acquires
 * something (a store, a timer, a membership, a listener) registers how to
 * give it back; `close()` gives everything back in reverse order, running
 * every cleanup even when some fail, and returns their errors. A start that
 * fails half way closes its scope and rethrows, so nothing it began is left
 * running.
 */
import type { Clock } from "@praas/core/internal";

export type Cleanup = () => unknown;

export class Scope {
  #cleanups: Cleanup[] = [];
  #closed = false;

  /** Run `cleanup` when the scope closes (after every cleanup registered later). */
  defer(cleanup: Cleanup): void {
    if (this.#closed) throw new Error("scope already closed");
    this.#cleanups.push(cleanup);
  }

  /** Run the cleanups last-in first-out, once; resolves with the errors they threw (none: empty). */
  async close(): Promise<unknown[]> {
    if (this.#closed) return [];
    this.#closed = true;
    const errors: unknown[] = [];
    const cleanups = this.#cleanups;
    this.#cleanups = [];
    for (let i = cleanups.length - 1; i >= 0; i--) {
      try {
        await (cleanups[i] as Cleanup)();
      } catch (err) {
        errors.push(err);
      }
    }
    return errors;
  }
}

/**
 * Wait for `work` at most `ms` on `clock`: true if it settled in time (its
 * error rethrown), false if it is still running. For the steps of a stop that
 * must not hang it (closing a store whose backend stopped answering).
 */
export async function settlesWithin(work: Promise<unknown>, ms: number, clock: Clock): Promise<boolean> {
  let timer: { cancel(): void } | undefined;
  const late = new Promise<false>((resolve) => {
    // Unref'ed: a stop waiting on this timer must not be what keeps the process alive.
    timer = clock.setTimeout(() => resolve(false), ms, true);
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    timer?.cancel();
  }
}
