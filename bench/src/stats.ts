/**
 * Measuring helpers shared by suites.
 *
 * Conventions (every suite should follow them, so figures are comparable):
 * - Warm up first: run each variant with {@link warmUp} until the JIT has had
 *   both enough iterations and enough wall time to reach its optimizing tier;
 *   otherwise the first variant measured pays for compilation.
 * - Measure the subject and its baseline in the same process, in interleaved
 *   rounds ({@link interleavedRounds}: A B A B …), and report the median of
 *   the rounds. A noisy neighbour or a GC then hurts both sides alike, and the
 *   ratio stays meaningful even when absolute times drift between runs.
 * - Times are nanoseconds internally (`process.hrtime.bigint()`); tables show
 *   µs or ms as their column names say.
 */

/** Monotonic nanoseconds, as a number (exact below 2^53 ns ≈ 104 days of uptime). */
export function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) of already sorted values, by linear
 * interpolation between closest ranks (so p50 of an even count is the mean of
 * the middle two, like {@link median}).
 */
export function percentile(sorted: readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  return percentile(sortedCopy(values), 50);
}

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const s = sortedCopy(values);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean: s.length === 0 ? Number.NaN : sum / s.length,
  };
}

/** Operations per second for `ops` operations that took `ns` nanoseconds. */
export function opsPerSec(ops: number, ns: number): number {
  return ns > 0 ? (ops * 1e9) / ns : Number.NaN;
}

/** `subject / baseline`, e.g. how many times slower (times) or fewer (rates) the subject is. */
export function ratio(subject: number, baseline: number): number {
  return baseline !== 0 ? subject / baseline : Number.NaN;
}

/** Nanoseconds one run of `fn` takes (awaited if it returns a promise). */
export async function measure(fn: () => unknown): Promise<number> {
  const t0 = nowNs();
  await fn();
  return nowNs() - t0;
}

// ---- timing loops, one compiled copy per measured function ----
//
// V8 keeps type feedback per function. One timing loop shared by a subject
// and its baseline sees both callbacks at its `fn(i)` call site, turns
// polymorphic and stops inlining them, which distorts exactly the cheap
// baseline we compare against (measured here: a shared pipelined loop showed
// the framework ~1.6× slower than its own loop did). So every loop below is a
// self-contained template — it may use only its parameters and globals such
// as `process` and `Promise` — and each measured callback gets its own copy,
// compiled from the template's source and cached, so its call site stays
// monomorphic, as it would be in user code. Keep the callback identity stable
// across rounds (define it once) so the copy stays warm.

type Template = (...args: never[]) => unknown;
const copies = new WeakMap<object, Map<Template, Template>>();

function ownCopy<T extends Template>(template: T, fn: object): T {
  let mine = copies.get(fn);
  if (mine === undefined) {
    mine = new Map();
    copies.set(fn, mine);
  }
  let copy = mine.get(template);
  if (copy === undefined) {
    // A fresh script gets a fresh SharedFunctionInfo, hence its own feedback.
    copy = new Function(`return (${template.toString()});`)() as T;
    mine.set(template, copy);
  }
  return copy as T;
}

async function timeLoopTemplate(iterations: number, fn: (i: number) => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0);
}

async function batchTemplate(batches: number, batchSize: number, fn: (i: number) => unknown): Promise<number[]> {
  const samples = new Array<number>(batches);
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batchSize; i++) await fn(i);
    samples[b] = Number(process.hrtime.bigint() - t0) / batchSize;
  }
  return samples;
}

async function singleTemplate(count: number, fn: (i: number) => unknown): Promise<number[]> {
  const samples = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  return samples;
}

async function windowedTemplate(total: number, window: number, fn: (i: number) => unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; ) {
    const end = Math.min(total, i + window);
    const inFlight = new Array<unknown>(end - i);
    for (let j = 0; i < end; i++, j++) inFlight[j] = fn(i);
    await Promise.all(inFlight);
  }
  return Number(process.hrtime.bigint() - t0);
}

async function warmUpTemplate(minIterations: number, untilNs: bigint, fn: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < minIterations || process.hrtime.bigint() < untilNs; i++) await fn(i);
}

/**
 * Nanoseconds for `iterations` sequential runs of `fn(i)`, each awaited before
 * the next starts. The loop and the `await` cost the same for subject and
 * baseline, so they cancel out in ratios.
 */
export function timeLoop(iterations: number, fn: (i: number) => unknown): Promise<number> {
  return ownCopy(timeLoopTemplate, fn)(iterations, fn);
}

/**
 * Per-operation latency samples: `batches` batches of `batchSize` sequential
 * awaited runs of `fn`, each sample being the batch time divided by its size.
 * Batching keeps the two clock reads (tens of ns) out of sub-µs figures; the
 * price is that a sample's p99 is the p99 of batch means: a GC pause lands in
 * more than 1 % of batches, so that p99 shows GC cost spread over a batch,
 * not single-call tails (see {@link singleOpSamples} for those).
 */
export function batchSamples(batches: number, batchSize: number, fn: (i: number) => unknown): Promise<number[]> {
  return ownCopy(batchTemplate, fn)(batches, batchSize, fn);
}

/** One sample per awaited run of `fn`; includes the clock overhead ({@link clockOverheadNs}). */
export function singleOpSamples(count: number, fn: (i: number) => unknown): Promise<number[]> {
  return ownCopy(singleTemplate, fn)(count, fn);
}

/**
 * Nanoseconds for `total` runs of `fn(i)` issued `window` at a time without
 * awaiting each (pipelined), awaiting the window with `Promise.all` before the
 * next. Divide with {@link opsPerSec}.
 */
export function timeWindowed(total: number, window: number, fn: (i: number) => unknown): Promise<number> {
  return ownCopy(windowedTemplate, fn)(total, window, fn);
}

/** Median cost of a pair of clock reads, to judge how much of a single-op sample is the clock. */
export function clockOverheadNs(pairs = 10_000): number {
  const samples = new Array<number>(pairs);
  for (let i = 0; i < pairs; i++) {
    const t0 = nowNs();
    samples[i] = nowNs() - t0;
  }
  return median(samples);
}

export interface WarmUpOptions {
  /** At least this many runs (default 10,000). */
  readonly minIterations?: number;
  /** And at least this much wall time (default 200 ms). */
  readonly minMs?: number;
}

/**
 * Run `fn` until both the iteration count and the wall time are reached,
 * discarding the results: by then V8 has optimized the hot path. Pass the
 * same callback you will measure, or a call of the measuring helper itself.
 */
export function warmUp(fn: (i: number) => unknown, options: WarmUpOptions = {}): Promise<void> {
  const untilNs = process.hrtime.bigint() + BigInt(Math.round((options.minMs ?? 200) * 1e6));
  return ownCopy(warmUpTemplate, fn)(options.minIterations ?? 10_000, untilNs, fn);
}

/**
 * Run each variant `rounds` times, interleaved (A B A B …, in the order of
 * the record), and collect what each run returns (a time, a rate, a list of
 * samples…). Summarize each list afterwards (median of rounds, or all samples
 * pooled).
 */
export async function interleavedRounds<K extends string, T>(
  rounds: number,
  variants: Readonly<Record<K, () => Promise<T>>>,
): Promise<Record<K, T[]>> {
  const names = Object.keys(variants) as K[];
  const out = {} as Record<K, T[]>;
  for (const name of names) out[name] = [];
  for (let r = 0; r < rounds; r++) {
    for (const name of names) out[name].push(await variants[name]());
  }
  return out;
}

/** Is a full GC available (node --expose-gc)? */
export function canGc(): boolean {
  return typeof globalThis.gc === "function";
}

/** Force full collections (twice: the first can leave work for finalizers). No-op without --expose-gc. */
export function forceGc(): void {
  const gc = globalThis.gc;
  if (typeof gc !== "function") return;
  gc();
  gc();
}

/** V8 heap in use after a forced GC, in bytes. */
export function heapUsedAfterGc(): number {
  forceGc();
  return process.memoryUsage().heapUsed;
}

/** Let pending promise callbacks and due I/O callbacks run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
