/**
 * `cores`: does a silo use more than one core?
 * 1. Isolation: a keyed counter's call latency while 4 CPU-bound calls
 *    (≈ 50 ms of hashing each) run on worker threads, against the same 4
 *    calls on the event loop, in the same run.
 * 2. Scaling: CPU-bound invocations/s with a pool of 2 threads against 1.
 * 3. Silos per host: WebSocket counter calls/s against `praas start --silos 2`
 *    and `--silos 1`, both running, rounds interleaved.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { MemoryStateStore, Silo } from "@praas/silo";
import { interleavedRounds, median, percentile, ratio, singleOpSamples, sortedCopy, summarize } from "../stats.js";
import type { BenchContext, Row, Suite, Table } from "../suite.js";
import type { LoadJob, LoadResult } from "./client-load-worker.js";
import { CoreCounter, hashRounds, LoopHasher, ThreadedHasher } from "./cores-actors.js";

const TARGET = { isolationP99Ms: 5, twoThreadsRatio: 1.7, twoSilosRatio: 1.3 } as const;

interface Counts {
  readonly isolationRounds: number;
  readonly scalingRounds: number;
  readonly scalingCalls: number;
  readonly silosRounds: number;
  readonly silosLoadMs: number;
  /** Client connections per load thread (two load threads). */
  readonly silosConnections: number;
}

const COUNTS: Record<"quick" | "full", Counts> = {
  quick: {
    isolationRounds: 10,
    scalingRounds: 3,
    scalingCalls: 40,
    silosRounds: 3,
    silosLoadMs: 2_000,
    silosConnections: 50,
  },
  full: {
    isolationRounds: 40,
    scalingRounds: 7,
    scalingCalls: 120,
    silosRounds: 5,
    silosLoadMs: 5_000,
    silosConnections: 100,
  },
};

/**
 * Rounds of hashing that take about `ms` of CPU on this machine. Measured in
 * CPU time of this process (only this thread runs meanwhile), not wall time:
 * on a host shared with other work, wall time would count the waits too.
 */
function calibrate(ms: number): number {
  hashRounds(2_000); // warm the path
  let rounds = 1_000;
  for (;;) {
    const cpu0 = process.cpuUsage();
    hashRounds(rounds);
    const cpu = process.cpuUsage(cpu0);
    const took = (cpu.user + cpu.system) / 1000;
    if (took >= 20) return Math.max(1, Math.round((rounds * ms) / took));
    rounds *= 2;
  }
}

/** One counter probe every this many ms while the hashing runs. */
const PROBE_EVERY_MS = 1;

/**
 * One round: start 4 hashing calls, and while any runs, send a counter call
 * every millisecond on a fixed schedule (open loop, as independent clients
 * would). A probe's latency runs from when it was due, not from when a busy
 * event loop got round to sending it: that wait is what a client sees.
 * Returns the probes' latencies in ms.
 */
async function isolationRound(silo: Silo, hash: () => Promise<unknown>): Promise<number[]> {
  const counter = silo.ref(CoreCounter, "probe");
  const latencies: Promise<number>[] = [];
  let busy = true;
  const start = performance.now();
  const work = Promise.all([hash(), hash(), hash(), hash()]).then(() => {
    busy = false;
  });
  let next = start;
  while (busy) {
    const now = performance.now();
    // Every probe that fell due while the loop was away is sent now, each timed from its own due time.
    for (; next <= now; next += PROBE_EVERY_MS) {
      const due = next;
      latencies.push(counter.add(1).then(() => performance.now() - due));
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await work;
  return Promise.all(latencies);
}

function latencyRow(what: string, samples: readonly number[], rounds: readonly number[]): Row {
  const sorted = sortedCopy(samples);
  return {
    "4 hashing calls run on": what,
    "counter calls": sorted.length,
    "p50 ms": percentile(sorted, 50),
    "p99 ms": percentile(sorted, 99),
    "max ms": sorted[sorted.length - 1] ?? 0,
    "round ms (median)": median(rounds),
  };
}

async function isolation(
  ctx: BenchContext,
  counts: Counts,
  rounds50ms: number,
): Promise<{ table: Table; p99: { threads: number; loop: number } }> {
  // Default pool size: the cores left after the event loop's.
  const silo = await Silo.start({ actors: [ThreadedHasher, LoopHasher, CoreCounter], storage: new MemoryStateStore() });
  try {
    const threaded = () => silo.invoke(ThreadedHasher, "hash", rounds50ms);
    const onLoop = () => silo.invoke(LoopHasher, "hash", rounds50ms);
    // Start the threads and load the module before measuring.
    await Promise.all([threaded(), threaded(), onLoop()]);
    await silo.ref(CoreCounter, "probe").add(0);
    ctx.log(`isolation: ${counts.isolationRounds} rounds of 4 × ${rounds50ms} hashing rounds`);
    const durations = { threads: [] as number[], loop: [] as number[] };
    const out = await interleavedRounds(counts.isolationRounds, {
      threads: async () => {
        const t0 = performance.now();
        const l = await isolationRound(silo, threaded);
        durations.threads.push(performance.now() - t0);
        return l;
      },
      loop: async () => {
        const t0 = performance.now();
        const l = await isolationRound(silo, onLoop);
        durations.loop.push(performance.now() - t0);
        return l;
      },
    });
    const threads = out.threads.flat();
    const loop = out.loop.flat();
    const p99 = { threads: percentile(sortedCopy(threads), 99), loop: percentile(sortedCopy(loop), 99) };
    return {
      p99,
      table: {
        title: "Counter latency while 4 CPU-bound calls (≈ 50 ms each) run",
        rows: [
          latencyRow(`worker threads (pool of ${Math.max(1, availableParallelism() - 1)})`, threads, durations.threads),
          latencyRow("the event loop (plain stateless type)", loop, durations.loop),
        ],
        notes: [
          `target: counter p99 ≤ ${TARGET.isolationP99Ms} ms with the work on threads — ${p99.threads <= TARGET.isolationP99Ms ? "met" : "NOT met"} (${p99.threads.toFixed(2)} ms)`,
          `a counter call due every ${PROBE_EVERY_MS} ms while the hashing runs, timed from when it was due; samples pooled over all rounds`,
          `pool size is the silo default: cores left after the event loop's (${availableParallelism()} cores here)`,
        ],
      },
    };
  } finally {
    await silo.stop();
  }
}

/**
 * The baseline of the scaling table: the same hashing on bare worker_threads
 * (no pool, no codec, no silo), at the pool threads' niceness — what this
 * host gives two threads against one right now.
 */
const RAW_THREAD = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const { readlinkSync } = require("node:fs");
const { setPriority } = require("node:os");
try { setPriority(Number(readlinkSync("/proc/thread-self").split("/").pop()), 10); } catch {}
${hashRounds.toString()}
parentPort.on("message", ({ rounds, calls }) => {
  for (let i = 0; i < calls; i++) hashRounds(rounds);
  parentPort.postMessage(calls);
});
`;

class RawThreads {
  readonly #workers: Worker[];
  constructor(count: number) {
    this.#workers = Array.from({ length: count }, () => new Worker(RAW_THREAD, { eval: true }));
  }
  /** `calls` hashing calls spread evenly over the threads: calls per second. */
  async burst(calls: number, rounds: number): Promise<number> {
    const t0 = performance.now();
    const n = this.#workers.length;
    await Promise.all(
      this.#workers.map(
        (w, i) =>
          new Promise((resolve) => {
            w.once("message", resolve);
            w.postMessage({ rounds, calls: Math.floor(calls / n) + (i < calls % n ? 1 : 0) });
          }),
      ),
    );
    return calls / ((performance.now() - t0) / 1000);
  }
  close(): Promise<unknown> {
    return Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

async function scaling(
  ctx: BenchContext,
  counts: Counts,
  rounds10ms: number,
): Promise<{ table: Table; ratio: number }> {
  const raw = { one: new RawThreads(1), two: new RawThreads(2) };
  const silos = {
    one: await Silo.start({ actors: [ThreadedHasher], storage: new MemoryStateStore(), workerThreads: 1 }),
    two: await Silo.start({ actors: [ThreadedHasher], storage: new MemoryStateStore(), workerThreads: 2 }),
    loop: await Silo.start({ actors: [LoopHasher], storage: new MemoryStateStore() }),
  };
  try {
    const coresUsed = { loop: [] as number[], one: [] as number[], two: [] as number[] };
    const burst = async (
      silo: Silo,
      cls: typeof ThreadedHasher | typeof LoopHasher,
      used?: number[],
    ): Promise<number> => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: counts.scalingCalls }, () => silo.invoke(cls, "hash", rounds10ms)));
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      // CPU time of every thread of this process per wall time: how many cores it actually got.
      used?.push((cpu.user + cpu.system) / 1000 / wallMs);
      return counts.scalingCalls / (wallMs / 1000);
    };
    // Warm: start every thread, load the module, optimize the hash in each thread.
    await burst(silos.one, ThreadedHasher);
    await burst(silos.two, ThreadedHasher);
    await burst(silos.loop, LoopHasher);
    await raw.one.burst(counts.scalingCalls, rounds10ms);
    await raw.two.burst(counts.scalingCalls, rounds10ms);
    ctx.log(`scaling: ${counts.scalingRounds} rounds of ${counts.scalingCalls} calls of ≈ 10 ms`);
    const out = await interleavedRounds(counts.scalingRounds, {
      loop: () => burst(silos.loop, LoopHasher, coresUsed.loop),
      one: () => burst(silos.one, ThreadedHasher, coresUsed.one),
      two: () => burst(silos.two, ThreadedHasher, coresUsed.two),
      rawOne: () => raw.one.burst(counts.scalingCalls, rounds10ms),
      rawTwo: () => raw.two.burst(counts.scalingCalls, rounds10ms),
    });
    const rate = { loop: median(out.loop), one: median(out.one), two: median(out.two) };
    const rawRate = { one: median(out.rawOne), two: median(out.rawTwo) };
    const r = ratio(rate.two, rate.one);
    return {
      ratio: r,
      table: {
        title: "CPU-bound invocations/s (≈ 10 ms of hashing each, all queued at once)",
        rows: [
          {
            "runs on": "the event loop",
            "invocations/s": rate.loop,
            "× 1 thread": ratio(rate.loop, rate.one),
            "cores used": median(coresUsed.loop),
          },
          {
            "runs on": "pool of 1 thread",
            "invocations/s": rate.one,
            "× 1 thread": 1,
            "cores used": median(coresUsed.one),
          },
          {
            "runs on": "pool of 2 threads",
            "invocations/s": rate.two,
            "× 1 thread": r,
            "cores used": median(coresUsed.two),
          },
          {
            "runs on": "bare worker_threads, 1 (baseline)",
            "invocations/s": rawRate.one,
            "× 1 thread": ratio(rawRate.one, rate.one),
          },
          {
            "runs on": "bare worker_threads, 2 (baseline)",
            "invocations/s": rawRate.two,
            "× 1 thread": ratio(rawRate.two, rate.one),
          },
        ],
        notes: [
          `target: 2 threads ≥ ${TARGET.twoThreadsRatio}× 1 thread — ${r >= TARGET.twoThreadsRatio ? "met" : "NOT met"} (${r.toFixed(2)}×) on ${availableParallelism()} cores`,
          `median of ${counts.scalingRounds} interleaved rounds of ${counts.scalingCalls} calls`,
          `baseline: the same hashing on bare worker_threads (no silo, no pool, same niceness) — what this host gives 2 threads against 1 right now: ${ratio(rawRate.two, rawRate.one).toFixed(2)}×`,
          "cores used: CPU time of the whole process (all its threads) per wall-clock time; below the pool size means other processes had the cores (see the load figure above)",
        ],
      },
    };
  } finally {
    await Promise.all([...Object.values(silos).map((s) => s.stop()), raw.one.close(), raw.two.close()]);
  }
}

const PRAAS_MAIN = fileURLToPath(new URL("../../../apps/praas/dist/main.js", import.meta.url));
const CLUSTER_ACTORS = fileURLToPath(new URL("./cores-cluster-actors.js", import.meta.url));

interface LocalCluster {
  readonly wsUrls: string[];
  readonly httpUrls: string[];
  stop(): Promise<void>;
}

/** `praas start --silos n` in its own process tree, once its banner names every silo's WebSocket URL. */
function startLocalCluster(n: number, stateDir: string): Promise<LocalCluster> {
  const parent: ChildProcess = spawn(
    process.execPath,
    [PRAAS_MAIN, "start", "--silos", String(n), "--port", "0", "--actors", CLUSTER_ACTORS, "--state-dir", stateDir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => parent.once("exit", () => resolve()));
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (!out.includes("SIGTERM or Ctrl-C")) return;
      const wsUrls = [...out.matchAll(/WebSocket\s+(ws:\/\/\S+)/g)].map((m) => m[1] as string);
      const httpUrls = [...out.matchAll(/HTTP\s+(http:\/\/\S+)/g)].map((m) => m[1] as string);
      resolve({
        wsUrls,
        httpUrls,
        stop: async () => {
          parent.kill("SIGTERM");
          await exited;
        },
      });
    };
    parent.stdout?.on("data", onData);
    parent.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    void exited.then(() => reject(new Error(`praas start --silos ${n} exited: ${out}`)));
  });
}

function loadThread(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./client-load-worker.js", import.meta.url), { workerData: job });
    w.once("message", (m: LoadResult) => resolve(m));
    w.once("error", reject);
    w.once("exit", (code) => {
      if (code !== 0) reject(new Error(`load worker exited with ${code}`));
    });
  });
}

/**
 * Keys of LoadCounter owned by each silo of a cluster (`count` per silo), as
 * its control plane reports them: `keys[i]` are owned by the silo at `httpUrls[i]`.
 */
async function ownedKeys(httpUrls: readonly string[], count: number): Promise<string[][]> {
  const ids = await Promise.all(
    httpUrls.map(async (u) => ((await (await fetch(`${u}/v1/cluster`)).json()) as { self: string }).self),
  );
  const keys: string[][] = httpUrls.map(() => []);
  for (let n = 0; keys.some((k) => k.length < count); n++) {
    if (n > 100 * count * httpUrls.length) throw new Error("could not find keys owned by every silo");
    const key = `o${n}`;
    // The control plane names the silo of an active actor: activate it first.
    const actor = `${httpUrls[0]}/v1/actors/LoadCounter/${key}`;
    await (await fetch(`${actor}/add`, { method: "POST", body: "[0]" })).arrayBuffer();
    const r = (await (await fetch(actor)).json()) as { silo?: string };
    const owner = keys[ids.indexOf(r.silo as string)];
    if (owner !== undefined && owner.length < count) owner.push(key);
  }
  return keys;
}

/**
 * Two load threads, one per URL given (both on the first when there is one):
 * calls/s and errors. `keys[i]`: the counters thread i calls (default k0…).
 */
async function wsLoad(
  urls: readonly string[],
  counts: Counts,
  durationMs: number,
  keys?: readonly (readonly string[])[],
): Promise<{ rate: number; errors: number }> {
  const results = await Promise.all(
    [0, 1].map((i) =>
      loadThread({
        mode: "praas",
        url: urls[i % urls.length] as string,
        connections: counts.silosConnections,
        durationMs,
        ...(keys === undefined ? {} : { keys: keys[i % keys.length] as readonly string[] }),
      }),
    ),
  );
  const calls = results.reduce((n, r) => n + r.calls, 0);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs));
  return { rate: (calls * 1000) / elapsed, errors: results.reduce((n, r) => n + r.errors, 0) };
}

async function silosPerHost(ctx: BenchContext, counts: Counts): Promise<{ table: Table; ratio: number }> {
  const dir = mkdtempSync(join(tmpdir(), "praas-bench-cores-"));
  const clusters: LocalCluster[] = [];
  try {
    const one = await startLocalCluster(1, join(dir, "one"));
    clusters.push(one);
    const two = await startLocalCluster(2, join(dir, "two"));
    clusters.push(two);
    const owned = await ownedKeys(two.httpUrls, counts.silosConnections);
    ctx.log(`silos: warming up, then ${counts.silosRounds} interleaved rounds of ${counts.silosLoadMs} ms`);
    await wsLoad(one.wsUrls, counts, 500);
    await wsLoad(two.wsUrls, counts, 500);
    await wsLoad(two.wsUrls, counts, 500, owned);
    const out = await interleavedRounds(counts.silosRounds, {
      one: () => wsLoad(one.wsUrls, counts, counts.silosLoadMs),
      two: () => wsLoad(two.wsUrls, counts, counts.silosLoadMs),
      owned: () => wsLoad(two.wsUrls, counts, counts.silosLoadMs, owned),
    });
    const rateOf = (xs: { rate: number }[]) => median(xs.map((r) => r.rate));
    const errorsOf = (xs: { errors: number }[]) => xs.reduce((n, r) => n + r.errors, 0);
    const rate = { one: rateOf(out.one), two: rateOf(out.two), owned: rateOf(out.owned) };
    const errors = { one: errorsOf(out.one), two: errorsOf(out.two), owned: errorsOf(out.owned) };
    const r = ratio(rate.two, rate.one);
    return {
      ratio: r,
      table: {
        title: "WebSocket counter calls/s: praas start --silos 2 against --silos 1 on this host",
        rows: [
          { cluster: "--silos 1", "calls/s": rate.one, "× 1 silo": 1, errors: errors.one },
          { cluster: "--silos 2", "calls/s": rate.two, "× 1 silo": r, errors: errors.two },
          {
            cluster: "--silos 2, each call entering its counter's owner",
            "calls/s": rate.owned,
            "× 1 silo": ratio(rate.owned, rate.one),
            errors: errors.owned,
          },
        ],
        notes: [
          `target: 2 silos ≥ ${TARGET.twoSilosRatio}× 1 silo — ${r >= TARGET.twoSilosRatio ? "met" : "NOT met"} (${r.toFixed(2)}×) on ${availableParallelism()} cores`,
          `load: 2 threads of this process × ${counts.silosConnections} @praas/client connections, each calling its own counter in a loop; with 2 silos each thread talks to one silo, and a call entering the silo that does not own its counter is forwarded to the one that does`,
          "the last row is the capacity without forwarding: each thread's counters are owned by the silo it talks to (found with GET /v1/actors/LoadCounter/<key>); a client that does not know the ring sends half its calls through the wrong silo",
          "the load generator shares the host's cores with the silos (and with the parent praas process): on a 2-core host it takes a large part of them",
          `median of ${counts.silosRounds} interleaved rounds of ${counts.silosLoadMs} ms`,
        ],
      },
    };
  } finally {
    await Promise.all(clusters.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a call costs on a thread: a sequential no-op call, threaded against on the event loop. */
async function callCost(ctx: BenchContext): Promise<Table> {
  const silo = await Silo.start({
    actors: [ThreadedHasher, LoopHasher],
    storage: new MemoryStateStore(),
    workerThreads: 1,
  });
  try {
    const threaded = (i: number) => silo.invoke(ThreadedHasher, "noop", i);
    const onLoop = (i: number) => silo.invoke(LoopHasher, "noop", i);
    for (let i = 0; i < 2_000; i++) await threaded(i);
    for (let i = 0; i < 2_000; i++) await onLoop(i);
    const count = ctx.profile === "quick" ? 3_000 : 20_000;
    ctx.log(`call cost: ${count} sequential no-op calls each way`);
    const out = await interleavedRounds(3, {
      threaded: () => singleOpSamples(count, threaded),
      loop: () => singleOpSamples(count, onLoop),
    });
    const t = summarize(out.threaded.flat());
    const l = summarize(out.loop.flat());
    return {
      title: "Cost of a call: sequential no-op stateless calls (silo.invoke)",
      rows: [
        { "runs on": "the event loop", "p50 µs": l.p50 / 1e3, "p99 µs": l.p99 / 1e3 },
        {
          "runs on": "a worker thread",
          "p50 µs": t.p50 / 1e3,
          "p99 µs": t.p99 / 1e3,
          "× event loop p50": ratio(t.p50, l.p50),
        },
      ],
      notes: ["a threaded call adds encoding both ways, two messages between threads and the thread's wake-up"],
    };
  } finally {
    await silo.stop();
  }
}

export const cores: Suite = {
  name: "cores",
  description:
    "worker threads: counter latency beside CPU-bound calls, invocations/s with 1 vs 2 threads; WebSocket calls/s with 2 silos vs 1 on one host",
  async run(ctx) {
    const counts = COUNTS[ctx.profile];
    const rounds50ms = calibrate(50);
    const rounds10ms = Math.max(1, Math.round(rounds50ms / 5));
    const iso = await isolation(ctx, counts, rounds50ms);
    const scale = await scaling(ctx, counts, rounds10ms);
    const cost = await callCost(ctx);
    const silos = await silosPerHost(ctx, counts);
    return {
      tables: [iso.table, scale.table, cost, silos.table],
      summary: {
        counterP99MsWorkOnThreads: iso.p99.threads,
        counterP99MsWorkOnLoop: iso.p99.loop,
        twoThreadsVsOne: scale.ratio,
        twoSilosVsOne: silos.ratio,
      },
    };
  },
};
