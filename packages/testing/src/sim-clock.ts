/**
 * Simulated time for a test cluster. One {@link SimClock} is the cluster's
 * time (membership heartbeats and leases run on it); each silo sees it through
 * a {@link SiloClock}, which a test can pause (timers wait, as in a long GC
 * pause), kill (a crashed process runs no timer again) or skew.
 *
 * Time moves only when told: by `advance`/`jump`, or by the test cluster's
 * driver, which moves it to the next timer whenever nothing else can happen
 * (no message to deliver, no storage call in flight) — so a run's order of
 * events follows from its seed, not from how fast the machine is.
 */
import type { Clock, TimerHandle } from "@praas/core/internal";

interface SimTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class SimClock implements Clock {
  #now: number;
  #seq = 0;
  /** Binary min-heap on (at, seq): the driver asks for the next timer after every event. */
  readonly #heap: SimTimer[] = [];

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    const timer: SimTimer = { at: this.#now + delay, seq: this.#seq++, fn, cancelled: false };
    this.#push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Time of the earliest pending timer (undefined if none). */
  nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** Timers still pending. */
  get pending(): number {
    let n = 0;
    for (const t of this.#heap) if (!t.cancelled) n++;
    return n;
  }

  /**
   * Run the earliest timer if it is due by `limit` (moving time to it when it
   * lies ahead). True if one ran.
   */
  runNext(limit: number): boolean {
    this.#dropCancelled();
    const next = this.#heap[0];
    if (next === undefined || next.at > limit) return false;
    this.#pop();
    if (next.at > this.#now) this.#now = next.at;
    next.cancelled = true;
    next.fn();
    return true;
  }

  /** Move time to `t` without running timers (they run late, when the driver gets to them). */
  setNow(t: number): void {
    if (t > this.#now) this.#now = t;
  }

  /**
   * Let `ms` pass: every timer due meanwhile runs at its time, in order, with
   * promise callbacks settling between timers. For clusters driven by hand
   * (`time: "manual"`).
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await settle();
      if (!this.runNext(target)) break;
    }
    this.setNow(target);
    await settle();
  }

  /**
   * A clock jump: time moves `ms` at once (a suspended VM, a stepped clock);
   * timers that fell due meanwhile run late, all at the new time.
   */
  async jump(ms: number): Promise<void> {
    this.setNow(this.#now + ms);
    await this.advance(0);
  }

  #dropCancelled(): void {
    while (this.#heap.length > 0 && (this.#heap[0] as SimTimer).cancelled) this.#pop();
  }

  #less(a: SimTimer, b: SimTimer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: SimTimer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as SimTimer, h[p] as SimTimer)) break;
      [h[i], h[p]] = [h[p] as SimTimer, h[i] as SimTimer];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as SimTimer;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l] as SimTimer, h[m] as SimTimer)) m = l;
      if (r < h.length && this.#less(h[r] as SimTimer, h[m] as SimTimer)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as SimTimer, h[i] as SimTimer];
      i = m;
    }
  }
}

/** One silo's view of the cluster's time: pausable, killable, skewable. */
export class SiloClock implements Clock {
  readonly #base: SimClock;
  #skew = 0;
  #paused = false;
  #dead = false;
  /** Timers that fell due while paused, in order: they run on resume. */
  #deferred: (() => void)[] = [];

  constructor(base: SimClock) {
    this.#base = base;
  }

  now(): number {
    return this.#base.now() + this.#skew;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    let cancelled = false;
    const inner = this.#base.setTimeout(() => {
      if (cancelled || this.#dead) return;
      if (this.#paused) this.#deferred.push(() => !cancelled && fn());
      else fn();
    }, ms);
    return {
      cancel: () => {
        cancelled = true;
        inner.cancel();
      },
    };
  }

  get paused(): boolean {
    return this.#paused;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Timers stop firing until `resume` (then the overdue ones run, in order). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const due = this.#deferred;
    this.#deferred = [];
    for (const fn of due) if (!this.#dead) fn();
  }

  /** The process died: no timer of this silo runs again. */
  kill(): void {
    this.#dead = true;
    this.#deferred = [];
  }

  /**
   * Step this silo's clock by `ms` (its `now()` only: timers already set keep
   * their place on the cluster's time). Models a wall-clock step on one host.
   */
  skew(ms: number): void {
    this.#skew += ms;
  }
}

/** Let queued promise callbacks and I/O callbacks already due run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
