/**
 * A history of calls on counters, and the checker that judges it.
 *
 * The counter under test has two operations: `add(n)` (n > 0) returns the new
 * value, `get()` returns the current one. Every call is recorded with its start
 * and end on one monotonic clock and its outcome: acknowledged with a value, or
 * failed with an error code. A failed call may or may not have run (a timeout,
 * a lost connection, a silo that died mid-turn), so the checker never trusts a
 * failure to mean "not applied" — only an acknowledgement is a promise.
 *
 * Checks, per key (see `checkHistory`):
 * - final ≥ sum of acknowledged adds                    (no acknowledged write lost)
 * - final ≤ acknowledged + failed/unknown adds          (nothing applied that nobody sent)
 * - no value acknowledged by two adds                   (each add is applied once, in one order)
 * - an add acknowledges a value above every value acknowledged (or read) before it began,
 *   and at least the sum of the adds acknowledged before it began plus its own n
 * - a read returns at least every value acknowledged before it began (no stale read)
 * - no value above the adds started before the call ended (no invented increments)
 * - the value read through a silo at the end equals the value in the store
 *
 * Pure bookkeeping and arithmetic: no I/O, no timers, so the same checker
 * serves the chaos runner, a multi-host suite and in-process test clusters.
 */

export type OpKind = "add" | "read";

/** How a call ended: acknowledged with the counter's value, or failed with an error code. */
export type Outcome = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly code: string };

/** One call. `end` and `outcome` are unset while it runs. */
export interface Op {
  readonly id: number;
  readonly key: string;
  readonly kind: OpKind;
  /** Amount added (0 for a read). */
  readonly n: number;
  /** Where the call entered the system (a gateway's name), for reports. */
  readonly via: string;
  /** Monotonic ms (the history's clock). */
  readonly start: number;
  end: number | undefined;
  outcome: Outcome | undefined;
}

/** A call in flight: settle it exactly once with `ok` or `fail`. */
export interface PendingOp {
  readonly op: Op;
  ok(value: number): void;
  fail(code: string): void;
}

/** A fault injected into the system under test, kept next to the calls so reports can line them up. */
export interface FaultMark {
  readonly at: number;
  readonly label: string;
}

export class History {
  readonly #now: () => number;
  readonly #ops: Op[] = [];
  readonly #byKey = new Map<string, Op[]>();
  /** Per key: start of the latest acknowledged and of the latest failed call (for "has every key recovered?"). */
  readonly #lastOkStart = new Map<string, number>();
  readonly #lastFailStart = new Map<string, number>();
  #nextId = 1;

  /** `now`: a monotonic clock in ms (default `performance.now`). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  now(): number {
    return this.#now();
  }

  /**
   * A history of calls recorded elsewhere (another process, on the same
   * clock), so that `recoveryMs` and the other queries work on them. Ops keep
   * their fields but are numbered 1…n in the order given (ids of several
   * recorders would clash).
   */
  static fromOps(ops: Iterable<Op>, now: () => number = () => performance.now()): History {
    const h = new History(now);
    for (const source of ops) {
      const op: Op = { ...source, id: h.#nextId++ };
      h.#ops.push(op);
      let list = h.#byKey.get(op.key);
      if (list === undefined) h.#byKey.set(op.key, (list = []));
      list.push(op);
      if (op.outcome !== undefined) {
        const latest = op.outcome.ok ? h.#lastOkStart : h.#lastFailStart;
        if ((latest.get(op.key) ?? Number.NEGATIVE_INFINITY) < op.start) latest.set(op.key, op.start);
      }
    }
    return h;
  }

  /** Record the start of a call on `key`. `n` is the amount an add adds (a positive integer). */
  begin(key: string, kind: OpKind, options: { readonly n?: number; readonly via?: string } = {}): PendingOp {
    const n = kind === "add" ? (options.n ?? 1) : 0;
    if (kind === "add" && !(Number.isSafeInteger(n) && n > 0)) {
      throw new RangeError(`An add must add a positive integer, got ${n}`);
    }
    const op: Op = {
      id: this.#nextId++,
      key,
      kind,
      n,
      via: options.via ?? "",
      start: this.#now(),
      end: undefined,
      outcome: undefined,
    };
    this.#ops.push(op);
    let list = this.#byKey.get(key);
    if (list === undefined) this.#byKey.set(key, (list = []));
    list.push(op);
    const settle = (outcome: Outcome): void => {
      if (op.outcome !== undefined) throw new Error(`op ${op.id} on ${key} settled twice`);
      op.end = this.#now();
      op.outcome = outcome;
      const latest = outcome.ok ? this.#lastOkStart : this.#lastFailStart;
      if ((latest.get(key) ?? Number.NEGATIVE_INFINITY) < op.start) latest.set(key, op.start);
    };
    return {
      op,
      ok: (value) => settle({ ok: true, value }),
      fail: (code) => settle({ ok: false, code }),
    };
  }

  get ops(): readonly Op[] {
    return this.#ops;
  }

  keys(): string[] {
    return [...this.#byKey.keys()];
  }

  opsOf(key: string): readonly Op[] {
    return this.#byKey.get(key) ?? [];
  }

  /** Calls not settled yet. */
  pending(): number {
    let n = 0;
    for (const op of this.#ops) if (op.outcome === undefined) n++;
    return n;
  }

  /**
   * Keys (of `keys`) not recovered from a fault at `t`: a key has recovered
   * when a call that began at or after `t`, and after the latest failed call
   * on it began, was acknowledged. (Served once is not enough: a fault may
   * take effect a moment late, e.g. a silo learns of its eviction at its
   * next heartbeat, and a key that fails again has not recovered.)
   */
  keysNotRecovered(t: number, keys: Iterable<string>): string[] {
    const out: string[] = [];
    for (const k of keys) {
      const ok = this.#lastOkStart.get(k) ?? Number.NEGATIVE_INFINITY;
      if (ok < t || ok < (this.#lastFailStart.get(k) ?? Number.NEGATIVE_INFINITY)) out.push(k);
    }
    return out;
  }

  /** Start of the latest failed call on any of `keys` (-∞ if none). */
  lastFailureStart(keys: Iterable<string>): number {
    let last = Number.NEGATIVE_INFINITY;
    for (const k of keys) last = Math.max(last, this.#lastFailStart.get(k) ?? Number.NEGATIVE_INFINITY);
    return last;
  }

  /**
   * Time from `t` until every key of `keys` had recovered (as in
   * `keysNotRecovered`, judged on the calls settled by `until`): the slowest
   * key's first acknowledgement of a call begun after its last failure. Undefined if
   * some key had not recovered by `until`.
   */
  recoveryMs(t: number, keys: Iterable<string>, until: number): number | undefined {
    return this.slowestRecovery(t, keys, until)?.ms;
  }

  /**
   * The key that took longest to recover from a fault at `t` (see
   * `recoveryMs`): its recovery time (undefined if it had not by `until`) and
   * the calls on it that failed meanwhile — what a report needs to explain a
   * slow recovery.
   */
  slowestRecovery(
    t: number,
    keys: Iterable<string>,
    until: number,
  ): { key: string; ms: number | undefined; failures: Op[] } | undefined {
    let worst: { key: string; first: number; failures: Op[] } | undefined;
    for (const key of keys) {
      const window = this.opsOf(key).filter((o) => o.start >= t && o.end !== undefined && o.end <= until);
      const failures = window.filter((o) => o.outcome?.ok === false);
      const after = Math.max(t, ...failures.map((o) => o.start));
      let first = Number.POSITIVE_INFINITY;
      for (const op of window) {
        if (op.outcome?.ok === true && op.start >= after && (op.end as number) < first) first = op.end as number;
      }
      if (worst === undefined || first > worst.first) worst = { key, first, failures };
    }
    if (worst === undefined) return undefined;
    const ms = worst.first === Number.POSITIVE_INFINITY ? undefined : worst.first - t;
    return { key: worst.key, ms, failures: worst.failures };
  }
}

/** What is known about a key after the load stopped and the system settled. */
export interface FinalObservation {
  readonly key: string;
  /** The value in the store, read directly from it (0 when nothing is stored); undefined: not read. */
  readonly stored: number | undefined;
  /** Values read through silos after the load stopped (also recorded in the history as reads). */
  readonly reads: readonly { readonly via: string; readonly value: number }[];
}

export type ViolationKind =
  /** Final value below the sum of acknowledged adds: an acknowledged write was lost. */
  | "lost-acked-write"
  /** Final value above acknowledged + failed adds: increments nobody sent. */
  | "final-above-attempted"
  /** Two adds acknowledged the same value. */
  | "duplicate-ack"
  /** An add acknowledged a value at or below one acknowledged (or read) before it began. */
  | "stale-ack"
  /** An add's value misses increments acknowledged before it began. */
  | "missing-increment"
  /** A read returned less than a value acknowledged before it began. */
  | "stale-read"
  /** A value above every add started before the call ended. */
  | "invented-value"
  /** The value read through a silo differs from the store's. */
  | "read-store-mismatch"
  /** No final value could be established (store unread and no final read, or reads disagree). */
  | "no-final-value"
  /** A call never settled (the harness must settle every call). */
  | "unsettled-call";

export interface Violation {
  readonly kind: ViolationKind;
  readonly key: string;
  readonly message: string;
  /** The calls involved (the offending one first). */
  readonly ops: readonly Op[];
}

export interface KeySummary {
  readonly key: string;
  readonly calls: number;
  readonly acks: number;
  /** Sum of n over acknowledged adds. */
  readonly ackedSum: number;
  /** Sum of n over adds that failed or never settled (may or may not have been applied). */
  readonly uncertainSum: number;
  readonly final: number | undefined;
}

export interface CheckResult {
  readonly violations: readonly Violation[];
  /** Violations per kind, all counted (details are capped, see `maxDetailsPerKind`). */
  readonly counts: Readonly<Partial<Record<ViolationKind, number>>>;
  readonly keys: readonly KeySummary[];
}

export interface CheckOptions {
  /** Keep at most this many detailed violations per kind and key (all are counted). Default 5. */
  readonly maxDetailsPerKind?: number;
}

/**
 * Judge a history. `finals` gives, per key, the store's value and the values
 * read through silos at the end; keys of the history without one get
 * "no-final-value".
 */
export function checkHistory(
  history: History | readonly Op[],
  finals: Iterable<FinalObservation>,
  options: CheckOptions = {},
): CheckResult {
  const ops = history instanceof History ? history.ops : history;
  const maxDetails = options.maxDetailsPerKind ?? 5;
  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const finalOf = new Map<string, FinalObservation>();
  for (const f of finals) {
    finalOf.set(f.key, f);
    if (!byKey.has(f.key)) byKey.set(f.key, []);
  }
  const violations: Violation[] = [];
  const counts: Partial<Record<ViolationKind, number>> = {};
  const keys: KeySummary[] = [];
  for (const [key, list] of byKey) {
    const perKind = new Map<ViolationKind, number>();
    const report = (kind: ViolationKind, message: string, involved: readonly Op[]): void => {
      counts[kind] = (counts[kind] ?? 0) + 1;
      const seen = perKind.get(kind) ?? 0;
      perKind.set(kind, seen + 1);
      if (seen < maxDetails) violations.push({ kind, key, message, ops: involved });
    };
    keys.push(checkKey(key, list, finalOf.get(key), report));
  }
  return { violations, counts, keys };
}

type Report = (kind: ViolationKind, message: string, ops: readonly Op[]) => void;

/** A value with the call that established it, for "before B began" queries. */
interface Mark {
  readonly time: number;
  readonly value: number;
  readonly op: Op | undefined;
}

function checkKey(key: string, ops: readonly Op[], final: FinalObservation | undefined, report: Report): KeySummary {
  let ackedSum = 0;
  let uncertainSum = 0;
  let acks = 0;
  const settled: Op[] = [];
  for (const op of ops) {
    if (op.outcome === undefined || op.end === undefined) {
      report("unsettled-call", `call ${describe(op)} never settled`, [op]);
      if (op.kind === "add") uncertainSum += op.n;
      continue;
    }
    if (op.outcome.ok) {
      acks++;
      if (op.kind === "add") ackedSum += op.n;
      settled.push(op);
    } else if (op.kind === "add") uncertainSum += op.n;
  }

  // Acknowledged values in order of end time, with running maxima and sums, so
  // "what was acknowledged before time t" is one binary search.
  const byEnd = [...settled].sort((a, b) => (a.end as number) - (b.end as number));
  const maxBefore: Mark[] = [];
  const ackedSumBefore: Mark[] = [];
  let max: Mark = { time: Number.NEGATIVE_INFINITY, value: 0, op: undefined };
  let sum = 0;
  for (const op of byEnd) {
    const v = ackedValue(op);
    if (v > max.value) max = { time: op.end as number, value: v, op };
    maxBefore.push({ ...max, time: op.end as number });
    if (op.kind === "add") sum += op.n;
    ackedSumBefore.push({ time: op.end as number, value: sum, op });
  }
  // Adds in order of start, so "how much was sent before time t" is one binary search.
  const addStarts = ops
    .filter((o) => o.kind === "add")
    .map((o) => ({ time: o.start, n: o.n }))
    .sort((a, b) => a.time - b.time);
  const sentBefore: number[] = [];
  let sent = 0;
  for (const a of addStarts) sentBefore.push((sent += a.n));

  const seenValues = new Map<number, Op>();
  for (const op of settled) {
    const v = ackedValue(op);
    const prior = lastBefore(maxBefore, op.start);
    const priorSum = lastBefore(ackedSumBefore, op.start)?.value ?? 0;
    // Adds started at or before this call's end (a call's own start counts).
    const idx = upperBound(addStarts, op.end as number) - 1;
    const sentByEnd = idx >= 0 ? (sentBefore[idx] as number) : 0;
    if (op.kind === "add") {
      const twin = seenValues.get(v);
      if (twin !== undefined) {
        report("duplicate-ack", `${describe(op)} acknowledged ${v}, already acknowledged by ${describe(twin)}`, [
          op,
          twin,
        ]);
      } else seenValues.set(v, op);
      if (prior !== undefined && v <= prior.value) {
        report(
          "stale-ack",
          `${describe(op)} acknowledged ${v}, but ${describe(prior.op as Op)} had returned ${prior.value} before it began`,
          [op, prior.op as Op],
        );
      }
      if (v < priorSum + op.n) {
        report(
          "missing-increment",
          `${describe(op)} acknowledged ${v}, but adds acknowledged before it began sum to ${priorSum} (+${op.n} of its own)`,
          [op],
        );
      }
    } else {
      if (prior !== undefined && v < prior.value) {
        report(
          "stale-read",
          `${describe(op)} read ${v}, but ${describe(prior.op as Op)} had returned ${prior.value} before it began`,
          [op, prior.op as Op],
        );
      } else if (v < priorSum) {
        report("stale-read", `${describe(op)} read ${v}, but adds acknowledged before it began sum to ${priorSum}`, [
          op,
        ]);
      }
    }
    if (v > sentByEnd) {
      report(
        "invented-value",
        `${describe(op)} returned ${v}, but only ${sentByEnd} was added by calls begun before it ended`,
        [op],
      );
    }
  }

  let finalValue: number | undefined;
  if (final === undefined || (final.stored === undefined && final.reads.length === 0)) {
    report("no-final-value", "no final value: neither the store nor a silo was read after the load", []);
  } else {
    if (final.stored !== undefined) {
      finalValue = final.stored;
      for (const r of final.reads) {
        if (r.value !== final.stored) {
          report("read-store-mismatch", `read ${r.value} through ${r.via}, but the store holds ${final.stored}`, []);
        }
      }
    } else {
      const distinct = new Set(final.reads.map((r) => r.value));
      if (distinct.size === 1) finalValue = final.reads[0]?.value;
      else {
        report(
          "no-final-value",
          `final reads disagree (${final.reads.map((r) => `${r.value} via ${r.via}`).join(", ")}) and the store was not read`,
          [],
        );
      }
    }
  }
  if (finalValue !== undefined) {
    if (finalValue < ackedSum) {
      report("lost-acked-write", `final value ${finalValue} < ${ackedSum} acknowledged`, []);
    }
    if (finalValue > ackedSum + uncertainSum) {
      report(
        "final-above-attempted",
        `final value ${finalValue} > ${ackedSum} acknowledged + ${uncertainSum} failed or unknown`,
        [],
      );
    }
  }
  return { key, calls: ops.length, acks, ackedSum, uncertainSum, final: finalValue };
}

function ackedValue(op: Op): number {
  return (op.outcome as { ok: true; value: number }).value;
}

/** The last mark with time strictly before t (marks sorted by time). */
function lastBefore(marks: readonly Mark[], t: number): Mark | undefined {
  let lo = 0;
  let hi = marks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((marks[mid] as Mark).time < t) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : marks[lo - 1];
}

/** Index of the first entry with time > t. */
function upperBound(list: readonly { readonly time: number }[], t: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as { time: number }).time <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "add#12 via s2 [1.234 s–1.300 s]" for messages. */
export function describe(op: Op): string {
  const span = `${(op.start / 1000).toFixed(3)}–${op.end === undefined ? "…" : (op.end / 1000).toFixed(3)} s`;
  const what = op.kind === "add" ? `add(${op.n})#${op.id}` : `get#${op.id}`;
  return `${what}${op.via ? ` via ${op.via}` : ""} [${span}]`;
}
