/**
 * Time as the runtime sees it. Everything that waits (deadlines, idle
 * collection, actor timers) goes through a Clock so that tests can drive time
 * with a manual clock instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
  /**
   * Make the timer keep the process alive (Node's `ref`) or not (`unref`).
   * Optional: a manual clock has no process to keep alive.
   */
  ref?(): void;
  unref?(): void;
}

export interface Clock {
  /** Milliseconds, monotonic within a process. */
  now(): number;
  /**
   * Run `fn` once after `ms`. The handle cancels it. A `weak` timer does not
   * keep the process alive on its own (Node's `unref`).
   */
  setTimeout(fn: () => void, ms: number, weak?: boolean): TimerHandle;
}

const origin = Date.now() - performance.now();

/** What `setTimeout` returns: a Node `Timeout` (with ref/unref), or a number in browsers. */
type PlatformTimer = ReturnType<typeof setTimeout> & { ref?: () => unknown; unref?: () => unknown };

/**
 * The real clock: `performance.now()` anchored at the wall clock, and the
 * platform's timers. Browser-safe: `ref`/`unref` are Node's and are skipped
 * where timers do not have them (the client runs in browsers).
 */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
  setTimeout(fn, ms, weak) {
    const t: PlatformTimer = setTimeout(fn, Math.max(0, ms));
    if (weak === true) t.unref?.();
    return {
      cancel: () => clearTimeout(t),
      ref: () => {
        t.ref?.();
      },
      unref: () => {
        t.unref?.();
      },
    };
  },
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told. `advance(ms)` runs every timer that falls
 * due, in time order, letting promise callbacks settle between timers so that
 * async work a timer starts can schedule further timers.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers still pending. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)))
          next = t;
      }
      if (next === undefined) break;
      this.#now = Math.max(this.#now, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.#now = target;
    await settle();
  }
}

/** Let queued promise callbacks and I/O callbacks already due run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
