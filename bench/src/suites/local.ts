/**
 * `local`: the cost of the framework on the in-process path. A call through a
 * reference (proxy → envelope → deadline queue → mailbox → turn → reply)
 * against the cheapest thing that does the same work: `await instance.method()`
 * on a plain object with the same method body.
 */
import { Actor, MemoryStateStore, Silo } from "@praas/silo";
import {
  batchSamples,
  canGc,
  clockOverheadNs,
  heapUsedAfterGc,
  interleavedRounds,
  median,
  opsPerSec,
  ratio,
  singleOpSamples,
  summarize,
  timeWindowed,
  warmUp,
} from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult, Table } from "../suite.js";

/** The targets of the issue, reported beside each figure (never pass/fail). */
const TARGET = {
  pipelinedCallsPerSec: 1_000_000,
  sequentialP50Us: 2,
  heapBytesPerIdleActivation: 1024,
} as const;

interface Counts {
  readonly rounds: number;
  /** Sequential: batches × batchSize awaited calls per round, plus singleOps timed one by one. */
  readonly seqBatches: number;
  readonly batchSize: number;
  readonly singleOps: number;
  /** Pipelined: calls per round for each (actors, in-flight window) shape. */
  readonly pipelinedCalls: number;
  readonly shapes: readonly { readonly actors: number; readonly window: number }[];
  /** Activations per round, started `activationWindow` at a time. */
  readonly activations: number;
  readonly activationWindow: number;
  /** Idle activations held at once for the heap figure. */
  readonly heapActivations: number;
}

const COUNTS: Record<"quick" | "full", Counts> = {
  quick: {
    rounds: 3,
    seqBatches: 200,
    batchSize: 100,
    singleOps: 20_000,
    pipelinedCalls: 200_000,
    shapes: [
      { actors: 1, window: 1_000 },
      { actors: 1, window: 10_000 },
      { actors: 1_000, window: 10_000 },
    ],
    activations: 20_000,
    activationWindow: 1_000,
    heapActivations: 100_000,
  },
  full: {
    rounds: 7,
    seqBatches: 2_000,
    batchSize: 100,
    singleOps: 200_000,
    pipelinedCalls: 2_000_000,
    shapes: [
      { actors: 1, window: 1_000 },
      { actors: 1, window: 10_000 },
      { actors: 1_000, window: 10_000 },
    ],
    activations: 200_000,
    activationWindow: 1_000,
    heapActivations: 1_000_000,
  },
};

interface CounterState {
  n: number;
}

/** The actor under test: a tiny state and a method that touches it. */
class BenchCounter extends Actor<CounterState> {
  static initialState(): CounterState {
    return { n: 0 };
  }

  async add(x: number): Promise<number> {
    this.state.n += x;
    return this.state.n;
  }
}

/** The baseline: the same state and method body on a plain object, called directly. */
class PlainCounter {
  state: CounterState = { n: 0 };

  async add(x: number): Promise<number> {
    this.state.n += x;
    return this.state.n;
  }
}

function startSilo(): Promise<Silo> {
  return Silo.start({ actors: [BenchCounter], storage: new MemoryStateStore() });
}

const us = (ns: number): number => ns / 1000;
const status = (met: boolean): string => (met ? "met" : "NOT met");

// ---- sequential ----

async function sequential(
  ctx: BenchContext,
  c: Counts,
): Promise<{ table: Table; p50Us: number; p99UsBatched: number; p99UsOneByOne: number }> {
  const silo = await startSilo();
  try {
    const ref = silo.ref(BenchCounter, "sequential");
    const plain = new PlainCounter();
    const praas = (): Promise<number> => ref.add(1);
    const direct = (): Promise<number> => plain.add(1);
    ctx.log("sequential: warming up");
    // Warm the measuring loops themselves (each callback has its own copy).
    for (const fn of [praas, direct]) {
      await warmUp(() => batchSamples(10, c.batchSize, fn), { minIterations: 10, minMs: 100 });
      await warmUp(() => singleOpSamples(1_000, fn), { minIterations: 10, minMs: 100 });
    }

    ctx.log(`sequential: ${c.rounds} rounds of ${c.seqBatches} × ${c.batchSize} calls, batched`);
    const batched = await interleavedRounds(c.rounds, {
      praas: () => batchSamples(c.seqBatches, c.batchSize, praas),
      direct: () => batchSamples(c.seqBatches, c.batchSize, direct),
    });
    ctx.log(`sequential: ${c.rounds} rounds of ${c.singleOps} calls, timed one by one`);
    const single = await interleavedRounds(c.rounds, {
      praas: () => singleOpSamples(c.singleOps, praas),
      direct: () => singleOpSamples(c.singleOps, direct),
    });
    const clockNs = clockOverheadNs();

    const s = {
      praasBatched: summarize(batched.praas.flat()),
      directBatched: summarize(batched.direct.flat()),
      praasSingle: summarize(single.praas.flat()),
      directSingle: summarize(single.direct.flat()),
    };
    const row = (variant: string, timing: string, x: typeof s.praasBatched, base?: typeof x): Row => ({
      variant,
      timing,
      "p50 µs": us(x.p50),
      "p99 µs": us(x.p99),
      "mean µs": us(x.mean),
      ...(base === undefined
        ? {}
        : {
            "p50 × direct": ratio(x.p50, base.p50),
            "target p50 µs": TARGET.sequentialP50Us,
            status: status(us(x.p50) <= TARGET.sequentialP50Us),
          }),
    });
    const table: Table = {
      title: "Sequential awaited calls (one caller, one actor)",
      rows: [
        row("praas ref.add()", `batches of ${c.batchSize}`, s.praasBatched, s.directBatched),
        row("direct await obj.add()", `batches of ${c.batchSize}`, s.directBatched),
        row("praas ref.add()", "one by one", s.praasSingle, s.directSingle),
        row("direct await obj.add()", "one by one", s.directSingle),
      ],
      notes: [
        `Batched: each sample is a batch of ${c.batchSize} awaited calls divided by ${c.batchSize}, so its p99 is that of batch means (smooths single-call outliers).`,
        `One by one: each call timed alone, including ~${clockNs.toFixed(0)} ns of clock reads; its p99 shows single-call tails (GC, timers).`,
        `${c.rounds} interleaved rounds pooled; target: p50 ≤ ${TARGET.sequentialP50Us} µs (issue), judged on the batched p50.`,
      ],
    };
    return {
      table,
      p50Us: us(s.praasBatched.p50),
      p99UsBatched: us(s.praasBatched.p99),
      p99UsOneByOne: us(s.praasSingle.p99),
    };
  } finally {
    await silo.stop();
  }
}

// ---- pipelined ----

interface PipelinedFigure {
  readonly actors: number;
  readonly window: number;
  readonly praas: number;
  readonly direct: number;
}

async function pipelined(ctx: BenchContext, c: Counts): Promise<{ table: Table; figures: PipelinedFigure[] }> {
  const silo = await startSilo();
  const figures: PipelinedFigure[] = [];
  try {
    for (const { actors, window } of c.shapes) {
      const refs = Array.from({ length: actors }, (_, i) => silo.ref(BenchCounter, `pipelined-${actors}-${i}`));
      const plains = Array.from({ length: actors }, () => new PlainCounter());
      // Calls spread round-robin over the actors; two literals, so each call site sees one kind of target.
      const praas = (i: number): Promise<number> => (refs[i % actors] as (typeof refs)[number]).add(1);
      const direct = (i: number): Promise<number> => (plains[i % actors] as PlainCounter).add(1);
      const rate = async (fn: (i: number) => Promise<number>, total: number): Promise<number> =>
        opsPerSec(total, await timeWindowed(total, window, fn));
      ctx.log(`pipelined: ${actors} actor(s), ${window} in flight: warming up`);
      await warmUp(() => rate(praas, window * 4), { minIterations: 20 });
      await warmUp(() => rate(direct, window * 4), { minIterations: 20 });
      ctx.log(`pipelined: ${actors} actor(s), ${window} in flight: ${c.rounds} rounds of ${c.pipelinedCalls} calls`);
      const r = await interleavedRounds(c.rounds, {
        praas: () => rate(praas, c.pipelinedCalls),
        direct: () => rate(direct, c.pipelinedCalls),
      });
      figures.push({ actors, window, praas: median(r.praas), direct: median(r.direct) });
    }
  } finally {
    await silo.stop();
  }
  const rows: Row[] = [];
  for (const f of figures) {
    rows.push({
      variant: "praas ref.add()",
      actors: f.actors,
      "in flight": f.window,
      "calls/s": f.praas,
      "cost × direct": ratio(f.direct, f.praas),
      "target calls/s": TARGET.pipelinedCallsPerSec,
      status: status(f.praas >= TARGET.pipelinedCallsPerSec),
    });
    rows.push({ variant: "direct await obj.add()", actors: f.actors, "in flight": f.window, "calls/s": f.direct });
  }
  return {
    figures,
    table: {
      title: "Pipelined calls, one core (calls issued in windows, Promise.all per window)",
      rows,
      notes: [
        `${c.pipelinedCalls.toLocaleString("en-US")} calls per round, median of ${c.rounds} interleaved rounds.`,
        "cost × direct = direct calls/s ÷ praas calls/s (how many times the time per call).",
        `Target: ≥ ${TARGET.pipelinedCallsPerSec.toLocaleString("en-US")} pipelined local calls/s (issue); headline: first row.`,
      ],
    },
  };
}

// ---- activations ----

async function activations(ctx: BenchContext, c: Counts): Promise<{ table: Table; praas: number; direct: number }> {
  // Fresh keys, a fresh silo and a fresh Map every round; the callbacks stay
  // the same functions (reading these variables) so their timing loops stay warm.
  let round = 0;
  let keys: string[] = [];
  let silo: Silo | undefined;
  let instances = new Map<string, PlainCounter>();
  const nextKeys = (): void => {
    round++;
    keys = Array.from({ length: c.activations }, (_, i) => `act-${round}-${i}`);
  };
  const praas = (i: number): Promise<number> => (silo as Silo).ref(BenchCounter, keys[i] as string).add(1);
  // The baseline for activation: a Map of plain instances created on first use.
  const direct = (i: number): Promise<number> => {
    const key = keys[i] as string;
    let p = instances.get(key);
    if (p === undefined) {
      p = new PlainCounter();
      instances.set(key, p);
    }
    return p.add(1);
  };
  const praasRound = async (): Promise<number> => {
    nextKeys();
    silo = await startSilo();
    try {
      return opsPerSec(c.activations, await timeWindowed(c.activations, c.activationWindow, praas));
    } finally {
      await silo.stop();
      silo = undefined;
    }
  };
  const directRound = async (): Promise<number> => {
    nextKeys();
    instances = new Map();
    return opsPerSec(c.activations, await timeWindowed(c.activations, c.activationWindow, direct));
  };
  ctx.log("activations: warming up");
  await warmUp(praasRound, { minIterations: 2, minMs: 0 });
  await warmUp(directRound, { minIterations: 2, minMs: 0 });
  ctx.log(`activations: ${c.rounds} rounds of ${c.activations} new keys, ${c.activationWindow} in flight`);
  const r = await interleavedRounds(c.rounds, { praas: praasRound, direct: directRound });
  instances = new Map();
  const praasRate = median(r.praas);
  const directRate = median(r.direct);
  return {
    praas: praasRate,
    direct: directRate,
    table: {
      title: "Activations (first call to a new key)",
      rows: [
        {
          variant: "praas first ref(key).add()",
          "activations/s": praasRate,
          "µs each": 1e6 / praasRate,
          "cost × direct": ratio(directRate, praasRate),
        },
        { variant: "Map get-or-create + obj.add()", "activations/s": directRate, "µs each": 1e6 / directRate },
      ],
      notes: [
        `${c.activations.toLocaleString("en-US")} keys per round (fresh silo each round), ${c.activationWindow} in flight, median of ${c.rounds} rounds.`,
        "An activation here: ref, envelope, table insert, state load from an empty MemoryStateStore, initialState, instance, onActivate, the call.",
      ],
    },
  };
}

// ---- heap per idle activation ----

/** Heap bytes retained per item after `populate` creates `count` of them (forced GC before and after). */
async function heapPerItem(count: number, populate: (count: number) => Promise<unknown>): Promise<number> {
  const before = heapUsedAfterGc();
  const keepAlive = await populate(count);
  const after = heapUsedAfterGc();
  // Touch the holder after measuring so it cannot be collected early.
  if (keepAlive === null) throw new Error("unreachable");
  return (after - before) / count;
}

async function heap(ctx: BenchContext, c: Counts): Promise<{ table: Table; praas: number; direct: number }> {
  const n = c.heapActivations;
  ctx.log(`heap: ${n.toLocaleString("en-US")} idle activations`);
  const silo = await startSilo();
  let praas: number;
  try {
    praas = await heapPerItem(n, async (count) => {
      const window = 10_000;
      for (let i = 0; i < count; i += window) {
        const batch: Promise<number>[] = [];
        for (let j = i; j < Math.min(count, i + window); j++) batch.push(silo.ref(BenchCounter, `h${j}`).add(0));
        await Promise.all(batch);
      }
      if (silo.activationCount !== count)
        throw new Error(`expected ${count} activations, have ${silo.activationCount}`);
      return silo;
    });
  } finally {
    ctx.log("heap: stopping the silo");
    await silo.stop();
  }
  ctx.log(`heap: ${n.toLocaleString("en-US")} plain instances in a Map`);
  const direct = await heapPerItem(n, async (count) => {
    const map = new Map<string, PlainCounter>();
    for (let j = 0; j < count; j++) {
      const p = new PlainCounter();
      map.set(`h${j}`, p);
      await p.add(0);
    }
    return map;
  });
  const notes = [
    `${n.toLocaleString("en-US")} activations of an actor whose state is { n: number }, each called once, then idle; heapUsed after forced GC, after − before, ÷ count.`,
    "Both sides include their key strings. Target: ≤ 1 KiB per idle activation (issue).",
  ];
  if (!canGc())
    notes.push("WARNING: run with node --expose-gc (npm run bench does); without a forced GC these are noise.");
  return {
    praas,
    direct,
    table: {
      title: "Heap per idle activation",
      rows: [
        {
          variant: "praas activation",
          "bytes each": praas,
          "cost × direct": ratio(praas, direct),
          "target bytes": TARGET.heapBytesPerIdleActivation,
          status: status(praas <= TARGET.heapBytesPerIdleActivation),
        },
        { variant: "plain instance in a Map", "bytes each": direct },
      ],
      notes,
    },
  };
}

export const local: Suite = {
  name: "local",
  description: "in-process calls through a ref + mailbox vs a direct await; activations; heap per activation",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const c = COUNTS[ctx.profile];
    const seq = await sequential(ctx, c);
    const pipe = await pipelined(ctx, c);
    const act = await activations(ctx, c);
    const mem = await heap(ctx, c);
    const headline = pipe.figures[0] as PipelinedFigure;
    const met = [
      seq.p50Us <= TARGET.sequentialP50Us,
      headline.praas >= TARGET.pipelinedCallsPerSec,
      mem.praas <= TARGET.heapBytesPerIdleActivation,
    ].filter(Boolean).length;
    return {
      tables: [seq.table, pipe.table, act.table, mem.table],
      summary: {
        sequentialP50Us: seq.p50Us,
        sequentialP99UsBatched: seq.p99UsBatched,
        sequentialP99UsOneByOne: seq.p99UsOneByOne,
        pipelinedCallsPerSec: headline.praas,
        pipelinedCostVsDirect: ratio(headline.direct, headline.praas),
        activationsPerSec: act.praas,
        activationCostVsDirect: ratio(act.direct, act.praas),
        heapBytesPerIdleActivation: mem.praas,
        targetsMet: `${met}/3`,
      },
    };
  },
};
