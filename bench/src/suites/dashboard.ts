/**
 * `dashboard`: what the dashboard costs a silo as its activations grow,
 * through the real HTTP route. The activation table is walked in slices in
 * the background (per-type counts, busiest actors), so the figure that
 * matters is the longest event-loop stall while a refresh and its walk run:
 * every call on the silo waits that long. The baseline, in the same rounds,
 * is `GET /v1/cluster`, which walks the whole table in one go for its
 * per-type counts; and an equal window with no request at all shows what the
 * process stalls anyway (garbage collection of a large heap). The refresh's own
 * response time and sizes (which must not grow with the activations) are shown too.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Actor, MemoryStateStore, Silo, startGateway } from "@praas/silo";
import { median, nowNs } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult } from "../suite.js";

class Cell extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  get(): number {
    return this.state.n;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The longest event-loop stall (ms) while `work` runs and for `settleMs` after it. */
async function longestStall<T>(work: () => Promise<T>, settleMs: number): Promise<{ stallMs: number; value: T }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const value = await work();
  await sleep(settleMs);
  h.disable();
  return { stallMs: h.max / 1e6, value };
}

async function timedGet(url: string): Promise<{ ms: number; bytes: number }> {
  const t0 = nowNs();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  const ms = (nowNs() - t0) / 1e6;
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return { ms, bytes: body.byteLength };
}

async function activate(silo: Silo, from: number, to: number): Promise<void> {
  const batch = 2_000;
  for (let i = from; i < to; i += batch) {
    const calls: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(to, i + batch); k++) calls.push(silo.call("Cell", `k${k}`, "get", []));
    await Promise.all(calls);
  }
}

export const dashboard: Suite = {
  name: "dashboard",
  description: "event-loop stall of a dashboard refresh vs GET /v1/cluster at 10⁴…10⁶ activations",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const sizes = ctx.profile === "full" ? [10_000, 100_000, 1_000_000] : [10_000, 100_000];
    const rounds = ctx.profile === "full" ? 7 : 5;
    const silo = await Silo.start({
      actors: [Cell],
      storage: new MemoryStateStore(),
      idleTimeoutMs: 3_600_000,
      maxActivations: 2_000_000,
    });
    const gw = await startGateway(silo, { port: 0, host: "127.0.0.1" });
    const rows: Row[] = [];
    try {
      let have = 0;
      for (const n of sizes) {
        ctx.log(`activating ${n} actors…`);
        await activate(silo, have, n);
        have = n;
        const stalls: number[] = [];
        const baseStalls: number[] = [];
        const idleStalls: number[] = [];
        const refresh: number[] = [];
        let dashBytes = 0;
        let clusterBytes = 0;
        // Past the caches (1 s) and the walk's own spacing on large tables (size / 100 ms).
        const spacing = Math.max(1_100, n / 100 + 100);
        const settle = Math.max(1_000, n / 500);
        for (let r = 0; r < rounds; r++) {
          await sleep(spacing);
          const d = await longestStall(() => timedGet(`${gw.url}/dashboard/api/cluster`), settle);
          stalls.push(d.stallMs);
          refresh.push(d.value.ms);
          dashBytes = d.value.bytes;
          const c = await longestStall(() => timedGet(`${gw.url}/v1/cluster`), settle);
          baseStalls.push(c.stallMs);
          clusterBytes = c.value.bytes;
          await sleep(spacing);
          idleStalls.push((await longestStall(() => Promise.resolve(), settle)).stallMs);
        }
        const s = median(stalls);
        const b = median(baseStalls);
        rows.push({
          activations: n,
          "longest stall ms (dashboard)": Number(s.toFixed(1)),
          "longest stall ms (GET /v1/cluster)": Number(b.toFixed(1)),
          "stall ratio": Number((s / b).toFixed(2)),
          "longest stall ms (no request)": Number(median(idleStalls).toFixed(1)),
          "refresh response ms": Number(median(refresh).toFixed(1)),
          "dashboard bytes": dashBytes,
          "/v1/cluster bytes": clusterBytes,
        });
      }
    } finally {
      await gw.close({ drainTimeoutMs: 100 });
      await silo.stop();
    }
    return {
      tables: [
        {
          title: "One dashboard refresh on one silo: longest event-loop stall (median of rounds, same run)",
          rows,
          notes: [
            "dashboard: a refresh after the caches expired, and its walk over the activation table (in slices);",
            "baseline: GET /v1/cluster, which walks the table in one go. A stall is how long any call would wait.",
            "no request: the same window with nothing asked (garbage collection of a large heap stalls too).",
          ],
        },
      ],
      summary: Object.fromEntries(
        rows.map((r) => [`stallMsAt${r.activations}`, r["longest stall ms (dashboard)"] as number]),
      ),
    };
  },
};
