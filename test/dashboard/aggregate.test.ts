/**
 * Merging silo snapshots: percentiles from summed histograms, rates added,
 * top lists cut, silo table paged, and a response that stays bounded with
 * 100 silos each at its limits.
 */
import type { ClusterSilo } from "@praas/silo";
import { describe, expect, it } from "vitest";
import { aggregate, quantileMs, type SiloAnswer } from "../../packages/silo/src/stats/aggregate.js";
import {
  MAX_CALL_SERIES,
  RECENT_STUCK,
  type SiloSnapshot,
  TOP_ACTORS,
} from "../../packages/silo/src/stats/snapshot.js";

const BOUNDS = [0.001, 0.01, 0.1];

function snapshot(id: string, extra: Partial<SiloSnapshot> = {}): SiloSnapshot {
  return {
    id,
    startedAt: 1,
    at: 2,
    windowMs: 2000,
    activations: 0,
    perType: {},
    scannedAt: 1,
    swapInsPerS: 0,
    swapOutsPerS: 0,
    bucketsS: BOUNDS,
    calls: [],
    callsOmitted: 0,
    stuckTotal: 0,
    stuck: [],
    failures: {},
    reminders: { scheduled: 0, overdue: 0, soon: 0 },
    busiest: [],
    ...extra,
  };
}

function silo(id: string, status: ClusterSilo["status"] = "active"): ClusterSilo {
  return { id, address: `${id}:1`, status };
}

describe("quantileMs", () => {
  it("interpolates within the bucket the rank falls in", () => {
    // 10 calls ≤ 1 ms, 10 calls in (1, 10] ms.
    expect(quantileMs([10, 10, 0, 0], BOUNDS, 0.5)).toBeCloseTo(1, 6);
    expect(quantileMs([10, 10, 0, 0], BOUNDS, 0.75)).toBeCloseTo(5.5, 6);
    expect(quantileMs([0, 0, 0, 4], BOUNDS, 0.99)).toBe(100);
    expect(quantileMs([0, 0, 0, 0], BOUNDS, 0.5)).toBe(0);
  });
});

describe("aggregate", () => {
  it("adds rates and activations, merges histograms before taking percentiles", () => {
    const a = snapshot("a", {
      activations: 3,
      perType: { Counter: 2, Room: 1 },
      swapInsPerS: 1,
      calls: [{ type: "Counter", method: "add", calls: 20, buckets: [20, 0, 0, 0], errors: { TIMEOUT: 2 } }],
    });
    const b = snapshot("b", {
      activations: 1,
      perType: { Counter: 1 },
      swapInsPerS: 2,
      calls: [{ type: "Counter", method: "add", calls: 20, buckets: [0, 0, 20, 0], errors: {} }],
    });
    const out = aggregate({
      self: "a",
      membershipVersion: 4,
      page: 0,
      pageSize: 50,
      answers: [
        { silo: silo("a"), snapshot: a },
        { silo: silo("b"), snapshot: b },
        { silo: silo("c", "dead"), unavailable: "dead" },
      ],
    });
    expect(out.totals).toMatchObject({ silos: 3, silosAnswering: 2, activations: 4, callsPerS: 20, errorsPerS: 1 });
    expect(out.totals.swapInsPerS).toBe(3);
    expect(out.perType).toEqual({ Counter: 3, Room: 1 });
    const [add] = out.calls;
    expect(add).toMatchObject({ type: "Counter", method: "add", callsPerS: 20, errorsPerS: 1, errors: { TIMEOUT: 1 } });
    // Half the calls took ≤ 1 ms, half 10–100 ms: the median sits at the boundary, p95 far above it.
    expect(add?.p50Ms).toBeCloseTo(1, 3);
    expect(add?.p95Ms).toBeGreaterThan(50);
    expect(out.silos.rows.find((r) => r.id === "c")).toMatchObject({ status: "dead", unavailable: "dead" });
  });

  it("stays bounded with 100 silos at their limits, and pages the silo table", () => {
    const answers: SiloAnswer[] = [];
    for (let s = 0; s < 100; s++) {
      const id = `silo-${String(s).padStart(3, "0")}`;
      answers.push({
        silo: silo(id),
        snapshot: snapshot(id, {
          activations: 10_000,
          perType: { Counter: 10_000 },
          calls: Array.from({ length: MAX_CALL_SERIES }, (_, i) => ({
            type: `Type${i % 20}`,
            method: `m${i}`,
            calls: i + 1,
            buckets: [i, 1, 0, 0],
            errors: { ACTOR_ERROR: 1 },
          })),
          callsOmitted: 5,
          stuck: Array.from({ length: RECENT_STUCK }, (_, i) => ({
            actor: `A/${i}`,
            silo: id,
            at: s * 100 + i,
            message: "x",
          })),
          busiest: Array.from({ length: TOP_ACTORS }, (_, i) => ({
            type: "Counter",
            key: `${id}-${i}`,
            silo: id,
            load: s * 100 + i,
            inbox: 0,
          })),
        }),
      });
    }
    const out = aggregate({ self: "silo-000", membershipVersion: 1, page: 1, pageSize: 30, answers });
    expect(out.totals.activations).toBe(1_000_000);
    expect(out.silos).toMatchObject({ total: 100, page: 1, pageSize: 30 });
    expect(out.silos.rows.map((r) => r.id)[0]).toBe("silo-030");
    expect(out.silos.rows).toHaveLength(30);
    expect(out.calls).toHaveLength(MAX_CALL_SERIES);
    expect(out.callsOmitted).toBe(500);
    expect(out.busiest).toHaveLength(TOP_ACTORS);
    expect(out.busiest[0]).toMatchObject({ silo: "silo-099", load: 9919 });
    expect(out.stuck).toHaveLength(RECENT_STUCK);
    expect(out.stuck[0]?.at).toBe(9919);
    // One page of the dashboard's data, whatever the cluster's size.
    expect(JSON.stringify(out).length).toBeLessThan(100_000);
  });
});
