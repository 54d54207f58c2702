import { describe, expect, test } from "vitest";
import { checkHistory, type FinalObservation, History, type ViolationKind } from "../history.js";

/** A history on a hand-driven clock: `at(t)` moves time. */
function manual(): { h: History; at(t: number): void } {
  let now = 0;
  return {
    h: new History(() => now),
    at: (t) => {
      now = t;
    },
  };
}

const final = (key: string, stored: number | undefined, ...reads: number[]): FinalObservation => ({
  key,
  stored,
  reads: reads.map((value, i) => ({ via: `s${i + 1}`, value })),
});

function kinds(h: History, finals: FinalObservation[]): ViolationKind[] {
  return Object.keys(checkHistory(h, finals).counts).sort() as ViolationKind[];
}

describe("chaos history checker", () => {
  test("a linearizable history with failures and overlapping calls passes", () => {
    const { h, at } = manual();
    at(0);
    const a = h.begin("c", "add");
    const b = h.begin("c", "add");
    at(5);
    b.ok(1); // b linearized first
    a.ok(2);
    at(6);
    const lost = h.begin("c", "add");
    at(8);
    lost.fail("SILO_UNAVAILABLE"); // may or may not have run
    at(9);
    const r = h.begin("c", "read");
    at(10);
    r.ok(3); // it had run
    const c = h.begin("c", "add");
    at(11);
    c.ok(4);
    const result = checkHistory(h, [final("c", 4, 4, 4)]);
    expect(result.violations).toEqual([]);
    expect(result.keys).toEqual([{ key: "c", calls: 5, acks: 4, ackedSum: 3, uncertainSum: 1, final: 4 }]);
  });

  test("an acknowledged write missing from the final value is a lost write", () => {
    const { h, at } = manual();
    at(0);
    h.begin("c", "add").ok(1);
    h.begin("c", "add").ok(2);
    expect(kinds(h, [final("c", 1)])).toEqual(["lost-acked-write"]);
  });

  test("a final value above acknowledged + failed adds is flagged", () => {
    const { h } = manual();
    h.begin("c", "add").ok(1);
    h.begin("c", "add").fail("TIMEOUT");
    expect(kinds(h, [final("c", 2)])).toEqual([]);
    expect(kinds(h, [final("c", 3)])).toEqual(["final-above-attempted"]);
  });

  test("two adds acknowledging the same value (the stale-activation defect) are caught", () => {
    const { h, at } = manual();
    at(0);
    const a = h.begin("c", "add", { via: "s1" });
    const b = h.begin("c", "add", { via: "s2" });
    at(1);
    a.ok(1);
    b.ok(1);
    expect(kinds(h, [final("c", 2)])).toEqual(["duplicate-ack"]);
  });

  test("an add acknowledging a value at or below one acknowledged before it began is stale", () => {
    const { h, at } = manual();
    at(0);
    h.begin("c", "add").ok(1);
    h.begin("c", "add").ok(2);
    at(1);
    const late = h.begin("c", "add", { via: "zombie" });
    at(2);
    late.ok(2); // a zombie that never saw the other silo's increments... and repeats a value
    const result = checkHistory(h, [final("c", 3)]);
    expect(Object.keys(result.counts).sort()).toEqual(["duplicate-ack", "missing-increment", "stale-ack"]);
    const stale = result.violations.find((v) => v.kind === "stale-ack");
    expect(stale?.ops.map((o) => o.via)).toEqual(["zombie", ""]);
  });

  test("an add whose value misses increments acknowledged before it began is caught even with fresh values", () => {
    const { h, at } = manual();
    at(0);
    const x = h.begin("c", "add");
    const y = h.begin("c", "add");
    at(1);
    x.ok(1);
    y.fail("CONNECTION_LOST");
    at(2);
    // y had run (2), then the value 2 was lost and z reapplied on top of 1: z says 2, but
    // only one add was acknowledged before it began, so 2 is fine; a later add saying 2 is not.
    const z = h.begin("c", "add");
    at(3);
    z.ok(2);
    expect(kinds(h, [final("c", 2)])).toEqual([]);
    const w = h.begin("c", "add");
    at(4);
    w.ok(3);
    at(5);
    const v = h.begin("c", "add");
    at(6);
    v.ok(3);
    expect(kinds(h, [final("c", 4)])).toEqual(["duplicate-ack", "missing-increment", "stale-ack"]);
  });

  test("overlapping calls may be acknowledged in any order", () => {
    const { h, at } = manual();
    at(0);
    const a = h.begin("c", "add");
    at(1);
    const b = h.begin("c", "add");
    at(2);
    b.ok(1);
    at(3);
    a.ok(2);
    const r = h.begin("c", "read");
    r.ok(2);
    expect(kinds(h, [final("c", 2)])).toEqual([]);
  });

  test("a read below a value acknowledged before it began is a stale read", () => {
    const { h, at } = manual();
    at(0);
    h.begin("c", "add").ok(1);
    at(1);
    h.begin("c", "add").ok(2);
    at(2);
    const r = h.begin("c", "read", { via: "partitioned" });
    at(3);
    r.ok(1);
    const result = checkHistory(h, [final("c", 2)]);
    expect(Object.keys(result.counts)).toEqual(["stale-read"]);
    expect(result.violations[0]?.message).toContain("read 1");
  });

  test("a value above every add started before the call ended is invented", () => {
    const { h, at } = manual();
    at(0);
    const r = h.begin("c", "read");
    at(1);
    r.ok(1);
    at(2);
    h.begin("c", "add").ok(2);
    expect(kinds(h, [final("c", 2)])).toContain("invented-value");
  });

  test("a read through a silo that differs from the store is a mismatch", () => {
    const { h } = manual();
    h.begin("c", "add").ok(1);
    expect(kinds(h, [final("c", 1, 1, 1)])).toEqual([]);
    expect(kinds(h, [final("c", 1, 1, 0)])).toEqual(["read-store-mismatch"]);
  });

  test("without the store, disagreeing final reads leave no final value", () => {
    const { h } = manual();
    h.begin("c", "add").ok(1);
    expect(kinds(h, [final("c", undefined, 1, 1)])).toEqual([]);
    expect(kinds(h, [final("c", undefined, 1, 2)])).toEqual(["no-final-value"]);
    expect(kinds(h, [])).toEqual(["no-final-value"]);
  });

  test("an unsettled call is reported and counted as uncertain", () => {
    const { h } = manual();
    h.begin("c", "add").ok(1);
    h.begin("c", "add");
    const result = checkHistory(h, [final("c", 2)]);
    expect(Object.keys(result.counts)).toEqual(["unsettled-call"]);
    expect(result.keys[0]?.uncertainSum).toBe(1);
  });

  test("details are capped per kind and key, counts are not", () => {
    const { h, at } = manual();
    for (let i = 0; i < 10; i++) {
      at(i);
      h.begin("c", "add").ok(1);
    }
    const result = checkHistory(h, [final("c", 10)], { maxDetailsPerKind: 2 });
    expect(result.counts["duplicate-ack"]).toBe(9);
    expect(result.violations.filter((v) => v.kind === "duplicate-ack")).toHaveLength(2);
  });

  test("recovery: the slowest key's first acknowledged call begun after the fault and after its last failure", () => {
    const { h, at } = manual();
    at(100);
    const a = h.begin("a", "add");
    const b = h.begin("b", "add");
    at(150);
    a.ok(1);
    expect(h.keysNotRecovered(100, ["a", "b"])).toEqual(["b"]);
    at(2_600);
    b.ok(1);
    expect(h.keysNotRecovered(100, ["a", "b"])).toEqual([]);
    expect(h.recoveryMs(100, ["a", "b"], 3_000)).toBe(2_500);
    expect(h.recoveryMs(100, ["a", "b"], 140)).toBeUndefined();
    // The fault takes effect late for "a": served once, then failing, then served again.
    at(2_700);
    h.begin("a", "add").fail("SILO_STOPPED");
    expect(h.keysNotRecovered(100, ["a", "b"])).toEqual(["a"]);
    at(2_800);
    const again = h.begin("a", "add");
    at(2_900);
    again.ok(2);
    expect(h.keysNotRecovered(100, ["a", "b"])).toEqual([]);
    const slow = h.slowestRecovery(100, ["a", "b"], 3_000);
    expect(slow?.key).toBe("a");
    expect(slow?.ms).toBe(2_800);
    expect(slow?.failures.map((o) => o.outcome)).toEqual([{ ok: false, code: "SILO_STOPPED" }]);
    expect(() => h.begin("a", "add", { n: 0 })).toThrow(RangeError);
  });
});
