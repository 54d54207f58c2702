import { describe, expect, test } from "vitest";
import type { Op } from "#chaos/history.js";
import { counterKeys } from "#chaos/load.js";
import type { SiloHost } from "../hosts.js";
import type { LocalView } from "../protocol.js";
import { droppedAt, judgeIsolated, type MultiHostEnv, MultiHostRun } from "../scenarios.js";

const keys = counterKeys("ChaosCounter", 2, "k");
let nextId = 1;
function op(key: string, via: string, start: number, end: number, ok: boolean, kind: Op["kind"] = "read"): Op {
  return {
    id: nextId++,
    key: `ChaosCounter/${key}`,
    kind,
    n: kind === "add" ? 1 : 0,
    via,
    start,
    end,
    outcome: ok ? { ok: true, value: 1 } : { ok: false, code: "SILO_UNAVAILABLE" },
  };
}

/** A run whose silo s1 was cut at 1 000 ms, dropped by its peers at 3 000 ms, healed at 10 000 ms (scenario time = shared time). */
function runWith(linkDown: boolean): MultiHostRun {
  const env = { now: () => 0 } as unknown as MultiHostEnv;
  const run = new MultiHostRun(env, 0, keys, () => 0.5);
  run.isolated.push({ slot: "s1", cutAt: 1_000, healAt: 10_000, peersDroppedAt: 3_000, linkDown });
  return run;
}

/** Every key served by the other silos between the drop and the heal. */
const servedByOthers = [op("k00", "s2", 4_000, 4_100, true), op("k01", "s3", 5_000, 5_100, true)];

describe("what a cut-off silo did", () => {
  test("an acknowledgement from the cut-off silo after its peers took its keys is split brain", () => {
    const run = runWith(true);
    judgeIsolated(run, [
      ...servedByOthers,
      op("k00", "s1/local", 2_000, 2_500, true),
      op("k00", "s1/local", 3_200, 3_300, true),
    ]);
    expect(run.targetsMissed).toEqual([
      expect.stringContaining("s1 acknowledged 1 calls (1 reads, 0 adds) after its peers had dropped it"),
    ]);
    expect(run.extra["s1: its host's client, last ack after the cut"]).toBe(
      "2.3 s after the cut (2 acks while cut off)",
    );
  });

  test("acknowledgements before the drop, and refusals after it, are what the lease allows", () => {
    const run = runWith(true);
    judgeIsolated(run, [
      ...servedByOthers,
      op("k00", "s1/local", 2_000, 2_500, true),
      op("k01", "s1/local", 3_200, 3_300, false),
    ]);
    expect(run.targetsMissed).toEqual([]);
  });

  test("an acknowledgement after the heal is the rejoined silo's, not split brain", () => {
    const run = runWith(true);
    judgeIsolated(run, [...servedByOthers, op("k00", "s1/local", 9_900, 10_200, true)]);
    expect(run.targetsMissed).toEqual([]);
    expect(run.extra["s1: its host's client, last ack after the cut"]).toBe("none");
  });

  test("cut from Redis only, its gateway may forward to the owners: its acks are not split brain", () => {
    const run = runWith(false);
    judgeIsolated(run, [...servedByOthers, op("k00", "s1/local", 3_200, 3_300, true)]);
    expect(run.targetsMissed).toEqual([]);
  });

  test("a key the other silos did not serve between the drop and the heal is reported", () => {
    const run = runWith(true);
    // k01 served only before the drop, and once after the heal.
    judgeIsolated(run, [
      op("k00", "s2", 4_000, 4_100, true),
      op("k01", "s2", 2_000, 2_100, true),
      op("k01", "s2", 9_900, 10_100, true),
    ]);
    expect(run.targetsMissed).toEqual([
      expect.stringMatching(/^1 keys not served through the other silos .*ChaosCounter\/k01/),
    ]);
  });
});

describe("when the peers dropped a silo", () => {
  const view = (silo: string, t: number, active: string[]): LocalView => ({
    kind: "local",
    t,
    silo,
    readyz: 200,
    reason: undefined,
    self: silo,
    serving: true,
    active,
  });
  const peer = (views: LocalView[]) => ({ views }) as unknown as SiloHost;

  test("is the time the last of them stopped listing it", () => {
    const p2 = peer([view("b", 0, ["a", "b", "c"]), view("b", 2_400, ["b", "c"])]);
    const p3 = peer([view("c", 0, ["a", "b", "c"]), view("c", 2_600, ["b", "c"])]);
    expect(droppedAt([p2, p3], "a", 1_000)).toBe(2_600);
  });

  test("counts from the cut when a peer had dropped it before (its view in force then)", () => {
    const p2 = peer([view("b", 0, ["b", "c"])]);
    expect(droppedAt([p2], "a", 1_000)).toBe(1_000);
  });

  test("is undefined while some peer still lists it", () => {
    const p2 = peer([view("b", 0, ["a", "b", "c"]), view("b", 2_400, ["b", "c"])]);
    const p3 = peer([view("c", 0, ["a", "b", "c"])]);
    expect(droppedAt([p2, p3], "a", 1_000)).toBeUndefined();
  });
});
