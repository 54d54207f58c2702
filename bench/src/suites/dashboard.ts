/**
 * `dashboard`: what one dashboard refresh costs a silo as its activations
 * grow, through the real HTTP route. The subject is an uncached
 * `GET /dashboard/api/cluster` (the silo's pass over its activation table
 * for per-type counts and the busiest actors, the call-series window, the
 * merge and the JSON); the baseline, in the same rounds, is `GET /v1/cluster`,
 * which already makes one pass over the table for its per-type counts. A
 * cached refresh (a second dashboard within the same second) is shown too,
 * with the response sizes, which must not grow with the activations.
 */
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

/** Past the gateway's gathering cache (900 ms) and the silo's snapshot cache (1 s). */
const UNCACHED_AFTER_MS = 1_100;

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
  description: "one dashboard refresh vs GET /v1/cluster on a silo with 10⁴…10⁶ activations",
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
        const subject: number[] = [];
        const baseline: number[] = [];
        const cached: number[] = [];
        let dashBytes = 0;
        let clusterBytes = 0;
        for (let r = 0; r < rounds; r++) {
          await new Promise((resolve) => setTimeout(resolve, UNCACHED_AFTER_MS));
          const d = await timedGet(`${gw.url}/dashboard/api/cluster`);
          subject.push(d.ms);
          dashBytes = d.bytes;
          cached.push((await timedGet(`${gw.url}/dashboard/api/cluster`)).ms);
          const c = await timedGet(`${gw.url}/v1/cluster`);
          baseline.push(c.ms);
          clusterBytes = c.bytes;
        }
        const s = median(subject);
        const b = median(baseline);
        rows.push({
          activations: n,
          "dashboard ms (uncached)": Number(s.toFixed(2)),
          "dashboard ms (cached)": Number(median(cached).toFixed(2)),
          "GET /v1/cluster ms": Number(b.toFixed(2)),
          "ratio to /v1/cluster": Number((s / b).toFixed(2)),
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
          title: "One dashboard refresh on one silo (median of rounds, same run)",
          rows,
          notes: [
            "uncached: the first request after the caches expire (one pass over the activation table);",
            "cached: a second dashboard within the same second; baseline: GET /v1/cluster (also one pass).",
          ],
        },
      ],
      summary: Object.fromEntries(
        rows.map((r) => [`refreshMsAt${r.activations}`, r["dashboard ms (uncached)"] as number]),
      ),
    };
  },
};
