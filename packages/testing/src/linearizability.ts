/**
 * A linearizability checker (Wing & Gong's search, with Lowe's memoisation of
 * (linearized set, state) pairs), for histories of one object: a register, a
 * counter, or any sequential model you give it.
 *
 * A history is linearizable when its operations can be put in one order that
 * (a) respects real time — an operation that returned before another began
 * comes first — and (b) replays on the sequential model with every observed
 * output. An operation whose outcome is unknown (it failed or timed out: it
 * may or may not have taken effect) has no return: it may be placed anywhere
 * after its start, or nowhere.
 *
 * The search is exponential in the worst case (many concurrent operations);
 * `maxSteps` bounds it and the answer is then "unknown" instead of a verdict.
 * Check each key on its own: linearizability is compositional.
 */
import type { Op } from "./history.js";

/** One operation: its input, when it began and ended, and what it returned. */
export interface LinOp<I, O> {
  readonly input: I;
  readonly start: number;
  /** Undefined: it never returned, or failed in a way that may or may not have taken effect. */
  readonly end: number | undefined;
  /** What it returned (ignored when `end` is undefined). */
  readonly output?: O;
  /** For reports. */
  readonly label?: string;
}

/** The sequential specification of the object. */
export interface Model<S, I, O> {
  readonly init: S;
  /**
   * The state after an operation with `input` ran in `state`, or undefined if
   * in that state it could not have returned `output` (`output` undefined:
   * unknown, anything goes).
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** Equal states, equal keys (the memo). */
  key(state: S): string;
}

export type LinearizabilityResult =
  | { readonly verdict: "linearizable"; readonly steps: number }
  | {
      readonly verdict: "violation";
      readonly steps: number;
      /** Most operations the search could put in order. */
      readonly longestPrefix: number;
      /** The returned operations that could not be placed after that prefix (labels or indexes). */
      readonly stuck: readonly string[];
    }
  | { readonly verdict: "unknown"; readonly steps: number };

interface Entry {
  readonly call: boolean;
  readonly op: number;
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Is `ops` linearizable with respect to `model`? */
export function checkLinearizable<S, I, O>(
  ops: readonly LinOp<I, O>[],
  model: Model<S, I, O>,
  options: { readonly maxSteps?: number } = {},
): LinearizabilityResult {
  const maxSteps = options.maxSteps ?? 200_000;
  // Events in time order; a call before a return at the same instant (they overlap).
  const events: { time: number; call: boolean; op: number }[] = [];
  let completed = 0;
  ops.forEach((op, i) => {
    events.push({ time: op.start, call: true, op: i });
    if (op.end !== undefined) {
      events.push({ time: op.end, call: false, op: i });
      completed++;
    }
  });
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Entry = { call: false, op: -1, match: undefined, prev: undefined, next: undefined };
  const calls = new Map<number, Entry>();
  let tail = head;
  for (const e of events) {
    const entry: Entry = { call: e.call, op: e.op, match: undefined, prev: tail, next: undefined };
    tail.next = entry;
    tail = entry;
    if (e.call) calls.set(e.op, entry);
    else (calls.get(e.op) as Entry).match = entry;
  }
  const lift = (e: Entry): void => {
    (e.prev as Entry).next = e.next;
    if (e.next !== undefined) e.next.prev = e.prev;
    const m = e.match;
    if (m !== undefined) {
      (m.prev as Entry).next = m.next;
      if (m.next !== undefined) m.next.prev = m.prev;
    }
  };
  const unlift = (e: Entry): void => {
    const m = e.match;
    if (m !== undefined) {
      (m.prev as Entry).next = m;
      if (m.next !== undefined) m.next.prev = m;
    }
    (e.prev as Entry).next = e;
    if (e.next !== undefined) e.next.prev = e;
  };

  // Operations that never returned, by input: two of them with the same input are interchangeable
  // once both are called (either may be placed anywhere from then on, or nowhere), so the search
  // tries only the first of such a pair at a point. Without it, k unanswered adds cost 2^k orders.
  const unanswered = ops.map((op) => (op.end === undefined ? JSON.stringify(op.input) : undefined));
  const twinBefore = (e: Entry): boolean => {
    const input = unanswered[e.op];
    if (input === undefined) return false;
    // Everything before `e` in the list is a call not placed yet (a return there would have ended the scan).
    for (let p = e.prev; p !== undefined && p !== head; p = p.prev) if (unanswered[p.op] === input) return true;
    return false;
  };

  const bits = new Uint32Array(Math.ceil(ops.length / 32) || 1);
  const flip = (i: number): void => {
    bits[i >>> 5] = (bits[i >>> 5] as number) ^ (1 << (i & 31));
  };
  const cache = new Set<string>();
  const stack: { entry: Entry; state: S }[] = [];
  let state = model.init;
  let entry = head.next;
  let done = 0;
  let steps = 0;
  let longest = 0;
  let stuckAtLongest: string[] = [];
  const pending = (): string[] => {
    const out: string[] = [];
    for (let e = head.next; e !== undefined; e = e.next) {
      if (!e.call) out.push(ops[e.op]?.label ?? `#${e.op}`);
    }
    return out;
  };
  const backtrack = (): boolean => {
    const top = stack.pop();
    if (top === undefined) return false;
    state = top.state;
    flip(top.entry.op);
    if (top.entry.match !== undefined) done--;
    unlift(top.entry);
    entry = top.entry.next;
    return true;
  };

  while (done < completed) {
    if (++steps > maxSteps) return { verdict: "unknown", steps };
    if (entry === undefined) {
      if (!backtrack()) return { verdict: "violation", steps, longestPrefix: longest, stuck: stuckAtLongest };
      continue;
    }
    if (entry.call) {
      if (twinBefore(entry)) {
        entry = entry.next;
        continue;
      }
      const op = ops[entry.op] as LinOp<I, O>;
      const next = model.step(state, op.input, op.end === undefined ? undefined : op.output);
      if (next !== undefined) {
        flip(entry.op);
        const key = `${bits.join(",")}|${model.key(next)}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ entry, state });
          state = next;
          if (entry.match !== undefined) done++;
          lift(entry);
          if (stack.length > longest) {
            longest = stack.length;
            stuckAtLongest = [];
          }
          entry = head.next;
          continue;
        }
        flip(entry.op);
      }
      entry = entry.next;
    } else {
      // A returned operation that nothing placed yet: this branch cannot work.
      if (stack.length === longest && stuckAtLongest.length === 0) stuckAtLongest = pending().slice(0, 5);
      if (!backtrack()) return { verdict: "violation", steps, longestPrefix: longest, stuck: stuckAtLongest };
    }
  }
  return { verdict: "linearizable", steps };
}

// ---- models ----

export type CounterInput = { readonly kind: "add"; readonly n: number } | { readonly kind: "read" };

/** A counter: `add(n)` returns the new value, a read returns the value. Starts at `initial` (default 0). */
export function counterModel(initial = 0): Model<number, CounterInput, number> {
  return {
    init: initial,
    step(value, input, output) {
      const next = input.kind === "add" ? value + input.n : value;
      return output === undefined || output === next ? next : undefined;
    },
    key: (value) => String(value),
  };
}

export type RegisterInput<V> = { readonly kind: "write"; readonly value: V } | { readonly kind: "read" };

/** A register: a write stores a value (its output is ignored), a read returns the last value written. */
export function registerModel<V>(
  initial: V,
  keyOf: (v: V) => string = (v) => JSON.stringify(v),
): Model<V, RegisterInput<V>, V> {
  return {
    init: initial,
    step(value, input, output) {
      if (input.kind === "write") return input.value;
      return output === undefined || keyOf(output) === keyOf(value) ? value : undefined;
    },
    key: keyOf,
  };
}

/**
 * Check counter histories recorded with `History` (history.ts), key by key:
 * acknowledged adds and reads return at their end; failed adds may or may not
 * have been applied; failed reads say nothing and are left out. `finals` (the
 * value observed after the load, e.g. read from the store) becomes a read at
 * the very end.
 */
export function checkCounterLinearizable(
  ops: readonly Op[],
  finals: ReadonlyMap<string, number> = new Map(),
  options: { readonly maxSteps?: number } = {},
): Map<string, LinearizabilityResult> {
  const byKey = new Map<string, LinOp<CounterInput, number>[]>();
  let last = Number.NEGATIVE_INFINITY;
  for (const op of ops) {
    last = Math.max(last, op.start, op.end ?? op.start);
    const ok = op.outcome?.ok === true;
    if (op.kind === "read" && !ok) continue;
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push({
      input: op.kind === "add" ? { kind: "add", n: op.n } : { kind: "read" },
      start: op.start,
      end: ok ? op.end : undefined,
      output: ok ? (op.outcome as { value: number }).value : undefined,
      label: `${op.kind === "add" ? `add(${op.n})` : "get"}#${op.id}${ok ? ` → ${(op.outcome as { value: number }).value}` : " (failed)"} [${op.start}–${op.end ?? "…"}]`,
    });
  }
  for (const [key, value] of finals) {
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, (list = []));
    list.push({
      input: { kind: "read" },
      start: last + 1,
      end: last + 1,
      output: value,
      label: `final value ${value}`,
    });
  }
  const results = new Map<string, LinearizabilityResult>();
  for (const [key, list] of byKey) results.set(key, checkLinearizable(list, counterModel(), options));
  return results;
}
