/**
 * Group commit for a store: writes that arrive while a commit is in flight
 * wait and go together in the next one, so under load a store pays one round
 * trip (or one fsync) per batch rather than per write, and when idle a write
 * goes out at the end of the event-loop turn it was issued in (with every
 * other write of that turn) — or, with `start: "microtask"`, as soon as the
 * code that issued it yields (with every write that code issued), which saves
 * an event-loop phase where the commit itself is the wait (a local flush) —
 * or, with `start: "at once"`, inside `add` itself when no commit is running:
 * the commit (an O_DSYNC write) is issued before the writer's call stack
 * unwinds, so that unwinding overlaps the disk's wait instead of preceding it;
 * writes issued right after it share the next commit.
 *
 * `commit` receives the batch and must settle every item in it (each item
 * carries its own resolve/reject); a commit that throws rejects the items it
 * did not settle.
 */
export interface GroupItem {
  resolve(value: string): void;
  reject(error: unknown): void;
}

export class GroupCommit<T extends GroupItem> {
  readonly #commit: (batch: T[]) => Promise<void>;
  readonly #maxBatch: number;
  /** Undefined: start a commit inside `add` itself when idle ("at once"). */
  readonly #startSoon: ((start: () => void) => void) | undefined;
  #queue: T[] = [];
  #running = false;
  #scheduled = false;
  #idle: (() => void)[] = [];

  constructor(
    commit: (batch: T[]) => Promise<void>,
    options?: { maxBatch?: number; start?: "end of turn" | "microtask" | "at once" },
  ) {
    this.#commit = commit;
    this.#maxBatch = options?.maxBatch ?? 1024;
    const start = options?.start ?? "end of turn";
    this.#startSoon = start === "at once" ? undefined : start === "microtask" ? queueMicrotask : setImmediate;
  }

  /** Queue `item`; it is committed with the next batch. */
  add(item: T): void {
    this.#queue.push(item);
    if (this.#running || this.#scheduled) return;
    if (this.#startSoon === undefined) {
      void this.#drain();
      return;
    }
    this.#scheduled = true;
    // By default after the I/O callbacks of this loop turn: every write they issue joins the batch.
    this.#startSoon(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  /** Writes queued (not yet sent). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once every write added so far has been committed (or failed). For a store's `close()`. */
  idle(): Promise<void> {
    if (!this.#running && !this.#scheduled && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
        this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
        try {
          await this.#commit(batch);
        } catch (err) {
          // Settling twice is harmless: items already settled keep their outcome.
          for (const item of batch) item.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
    for (const wake of this.#idle.splice(0)) wake();
  }
}
