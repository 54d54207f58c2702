/**
 * A key moves to a new owner only after its previous owner let go of it: a
 * silo that joins (or rejoins) does not serve a key — not even a read — while
 * the silo that owned it is still running a turn on it.
 */
import { HashRing } from "@praas/core/internal";
import { Actor } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { CALL, ERR, OK } from "../src/cluster/frames.js";
import { joinFakeMember, rawPeer, startCluster, type TestCluster } from "./cluster-helpers.js";

/** `hold` changes the state, then waits for the test to let it finish. */
class Held extends Actor<{ value: number }> {
  static readonly persistence = "turn";
  static readonly gates = new Map<string, { wait: Promise<void>; open: () => void }>();
  static initialState() {
    return { value: 0 };
  }
  static gateFor(key: string): { wait: Promise<void>; open: () => void } {
    let g = Held.gates.get(key);
    if (g === undefined) {
      let open = (): void => {};
      const wait = new Promise<void>((r) => {
        open = r;
      });
      g = { wait, open };
      Held.gates.set(key, g);
    }
    return g;
  }
  async hold(): Promise<number> {
    this.state.value += 1;
    await Held.gateFor(this.key).wait;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  Held.gates.clear();
});

const NOT_YET = Symbol("not yet");

describe("ownership hand-over", () => {
  it("a joining silo serves a key only after the previous owner finished its turn and saved", async () => {
    cluster = await startCluster([Held], 1);
    const [a] = cluster.silos;
    if (a === undefined) throw new Error("no silo");
    const refA = (key: string) => a.ref(Held, key);
    // Turns in flight on silo A for many keys: about half will belong to the next silo.
    const keys = Array.from({ length: 32 }, (_, i) => `k${i}`);
    const holds = keys.map((k) => refA(k).hold());
    await expect
      .poll(() => keys.every((k) => a.isActive({ type: "Held", key: k })), {
        message: "turns running on A",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);

    const b = await cluster.add();
    await expect
      .poll(() => b.clusterView().silos.length === 2 && a.clusterView().silos.length === 2, {
        message: "both see both",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);
    const ring = new HashRing([a.siloId, b.siloId]);
    const moved = keys.filter((k) => ring.owner(`Held/${k}`) === b.siloId);
    expect(moved.length).toBeGreaterThan(0);
    const key = moved[0] as string;

    // Ask B (the new owner) for the value while A's turn (value 1, not yet acknowledged) still runs.
    const read = b.ref(Held, key).get();
    const early = await Promise.race([read, new Promise<typeof NOT_YET>((r) => setTimeout(() => r(NOT_YET), 500))]);
    expect(early).toBe(NOT_YET);
    expect(b.isActive({ type: "Held", key })).toBe(false);

    for (const k of keys) Held.gateFor(k).open();
    expect(await Promise.all(holds)).toEqual(keys.map(() => 1));
    // B read the state A stored at the end of its turn, never the state from before it.
    expect(await read).toBe(1);
    await expect
      .poll(() => !a.isActive({ type: "Held", key }), { message: "A let the key go", timeout: 10_000, interval: 5 })
      .toBe(true);
    expect(b.isActive({ type: "Held", key })).toBe(true);
  });

  it("a silo that rejoins after a partition waits for the silo that took its keys over", async () => {
    cluster = await startCluster([Held], 2, { timings: { heartbeatMs: 100, deadAfterMs: 1_000 } });
    const [a, b] = cluster.silos;
    if (a === undefined || b === undefined) throw new Error("no silos");
    const oldB = b.siloId;
    const keys = Array.from({ length: 64 }, (_, i) => `p${i}`);
    const ring = new HashRing([a.siloId, oldB]);
    const ofB = keys.filter((k) => ring.owner(`Held/${k}`) === oldB);
    expect(ofB.length).toBeGreaterThan(0);

    // B is cut off from membership: peers declare it dead, and A takes its keys over at once.
    cluster.registry.partition(oldB);
    await expect
      .poll(() => a.clusterView().silos.every((s) => s.id !== oldB || s.status === "dead"), {
        message: "B declared dead",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);
    // A now runs turns on B's former keys; they have not finished when B comes back.
    const holds = ofB.map((k) => a.ref(Held, k).hold());
    await expect
      .poll(() => ofB.every((k) => a.isActive({ type: "Held", key: k })), {
        message: "A hosts B's keys",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);

    const rejoined = new Promise<string>((resolve) => b.once("rejoined", (id) => resolve(id)));
    cluster.registry.partition(oldB, false);
    const newB = await rejoined;
    await expect
      .poll(() => a.clusterView().silos.some((s) => s.id === newB && s.status === "active"), {
        message: "A sees new B",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);
    const ring2 = new HashRing([a.siloId, newB]);
    const key = ofB.find((k) => ring2.owner(`Held/${k}`) === newB);
    if (key === undefined) throw new Error("no key moved back to B");

    const read = b.ref(Held, key).get();
    const early = await Promise.race([read, new Promise<typeof NOT_YET>((r) => setTimeout(() => r(NOT_YET), 500))]);
    expect(early).toBe(NOT_YET);

    for (const k of ofB) Held.gateFor(k).open();
    expect(await Promise.all(holds)).toEqual(ofB.map(() => 1));
    expect(await read).toBe(1);
  });

  it("does not wait for a silo that died: its keys are served as soon as it is declared dead", async () => {
    cluster = await startCluster([Held], 2, { timings: { heartbeatMs: 100, deadAfterMs: 1_000 } });
    const [a, b] = cluster.silos;
    if (a === undefined || b === undefined) throw new Error("no silos");
    const ring = new HashRing([a.siloId, b.siloId]);
    const key = Array.from({ length: 64 }, (_, i) => `d${i}`).find((k) => ring.owner(`Held/${k}`) === b.siloId);
    if (key === undefined) throw new Error("no key for b");
    Held.gateFor(key).open();
    expect(await a.ref(Held, key).hold()).toBe(1);
    // B is cut off: it stops serving when its lease ends, before A can declare it dead.
    cluster.registry.partition(b.siloId);
    await expect
      .poll(() => a.clusterView().silos.every((s) => s.id !== b.siloId || s.status === "dead"), {
        message: "B dead",
        timeout: 10_000,
        interval: 5,
      })
      .toBe(true);
    expect(await a.ref(Held, key).get()).toBe(1);
    expect(a.isActive({ type: "Held", key })).toBe(true);
  });

  it("answers the hand-over question on the silo port, and refuses a malformed one without running anything", async () => {
    cluster = await startCluster([Held], 1);
    const [a] = cluster.silos;
    if (a === undefined) throw new Error("no silo");
    const fake = await joinFakeMember(cluster.registry, a);
    try {
      const peer = await rawPeer(a, "silo-fake");
      try {
        const version = cluster.registry.view().version;
        peer.send([[CALL, 1, "#silo", "handover", "released", [version], 5_000, [], 0]]);
        const answer = await peer.reply(1);
        expect(answer[0]).toBe(OK);
        expect(answer[2]).toBeGreaterThanOrEqual(version);
        for (const [id, args] of [
          [2, ["x"]],
          [3, [-1]],
          [4, [1, 2]],
        ] as const) {
          peer.send([[CALL, id, "#silo", "handover", "released", args, 5_000, [], 0]]);
          expect(await peer.reply(id)).toMatchObject([ERR, id, { code: "SILO_UNAVAILABLE" }, true]);
        }
        peer.send([[CALL, 5, "#silo", "handover", "explode", [], 5_000, [], 0]]);
        expect(await peer.reply(5)).toMatchObject([ERR, 5, { code: "SILO_UNAVAILABLE" }, true]);
        // A call forwarded by a peer with an older view runs here although the ring names the peer
        // (the sender just said it does not own the key); asked again, the silo first lets it go.
        const ring = new HashRing([a.siloId, "silo-fake"]);
        const ofFake = Array.from({ length: 64 }, (_, i) => `f${i}`).find(
          (k) => ring.owner(`Held/${k}`) === "silo-fake",
        );
        if (ofFake === undefined) throw new Error("no key for the fake member");
        peer.send([[CALL, 6, "Held", ofFake, "get", [], 5_000, [], 1]]);
        expect(await peer.reply(6)).toEqual([OK, 6, 0]);
        expect(a.isActive({ type: "Held", key: ofFake })).toBe(true);
        peer.send([[CALL, 7, "#silo", "handover", "released", [version], 5_000, [], 0]]);
        expect((await peer.reply(7))[0]).toBe(OK);
        expect(a.isActive({ type: "Held", key: ofFake })).toBe(false);

        // The silo keeps serving (a key it owns: the fake member answers nothing).
        const key = Array.from({ length: 64 }, (_, i) => `after${i}`).find((k) => ring.owner(`Held/${k}`) === a.siloId);
        if (key === undefined) throw new Error("no key for a");
        Held.gateFor(key).open();
        expect(await a.ref(Held, key).hold()).toBe(1);
      } finally {
        peer.close();
      }
    } finally {
      await fake.close();
    }
  });
});
