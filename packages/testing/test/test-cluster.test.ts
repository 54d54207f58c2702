import { Actor } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { SiloNotRunningError, TestCluster } from "../src/index.js";

interface CounterState {
  value: number;
}

class Counter extends Actor<CounterState> {
  static persistence = "turn" as const;
  static initialState(): CounterState {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("TestCluster", () => {
  it("starts three silos that serve typed refs through any silo", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 1 });
    expect(cluster.running()).toEqual([0, 1, 2]);
    for (let i = 0; i < 3; i++) await cluster.ref(Counter, "a", { via: i }).add(1);
    expect(await cluster.ref(Counter, "a").get()).toBe(3);
    expect(await cluster.stored(Counter, "a")).toEqual({ value: 3 });
  });

  it("serves a crashed silo's actors elsewhere, without losing acknowledged writes", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 2 });
    await cluster.ref(Counter, "k").add(5);
    const owner = await cluster.ownerIndex(Counter, "k");
    await cluster.crash(owner);
    const other = cluster.running()[0] as number;
    expect(await cluster.ref(Counter, "k", { via: other, retry: true }).add(1)).toBe(6);
    expect(await cluster.ownerIndex(Counter, "k")).not.toBe(owner);
  });
});

describe("TestCluster faults", () => {
  it("pauses a silo past failure detection: peers take over, it rejoins under a new id on resume", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 3 });
    const c = cluster;
    await c.ref(Counter, "p").add(2);
    const owner = await c.ownerIndex(Counter, "p");
    const oldId = c.silo(owner).siloId;
    c.pause(owner);
    expect(c.stateOf(owner)).toBe("paused");
    await c.advance(5_000);
    const other = c.running()[0] as number;
    expect(
      c
        .silo(other)
        .clusterView()
        .silos.find((s) => s.id === oldId)?.status,
    ).toBe("dead");
    expect(await c.ref(Counter, "p", { via: other, retry: true }).add(1)).toBe(3);
    c.resume(owner);
    await c.waitFor(() => c.silo(owner).siloId !== oldId, "the paused silo to rejoin");
    await c.converge();
    expect(c.silo(owner).siloId).toBe(`${oldId}.1`);
    expect(await c.ref(Counter, "p", { via: owner }).add(1)).toBe(4);
  });

  it("partitions silos (calls across fail, membership holds) and heals", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 4, silo: { callTimeoutMs: 2_000 } });
    const c = cluster;
    await c.ref(Counter, "q").add(1);
    const owner = await c.ownerIndex(Counter, "q");
    const other = (owner + 1) % 3;
    c.partition([owner], [other]);
    await expect(c.ref(Counter, "q", { via: other }).add(1)).rejects.toMatchObject({ retryable: true });
    // Membership still reaches everybody: nobody is declared dead.
    expect(
      c
        .silo(other)
        .clusterView()
        .silos.every((s) => s.status === "active"),
    ).toBe(true);
    c.heal();
    const value = await c.ref(Counter, "q", { via: other, retry: true }).add(1);
    // The add that failed may or may not have run (its reply was cut off).
    expect([2, 3]).toContain(value);
  });

  it("isolates a silo: its lease runs out, peers serve its keys, it rejoins after heal", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 5 });
    const c = cluster;
    await c.ref(Counter, "i").add(1);
    const owner = await c.ownerIndex(Counter, "i");
    const other = (owner + 1) % 3;
    c.isolate(owner);
    await c.advance(5_000);
    expect(c.silo(owner).servingError()).toBeDefined();
    expect(await c.ref(Counter, "i", { via: other, retry: true }).add(1)).toBe(2);
    c.heal();
    await c.converge();
    expect(await c.ref(Counter, "i", { via: owner }).add(1)).toBe(3);
  });

  it("injects storage errors, latency and conflicting writes without losing acknowledged adds", async () => {
    cluster = await TestCluster.start({ silos: 2, actors: [Counter], seed: 6 });
    const c = cluster;
    c.storageFaults({ failEveryNthSave: 2, latencyMs: 50 });
    let acked = 0;
    for (let i = 0; i < 10; i++) {
      await c
        .ref(Counter, "s")
        .add(1)
        .then(
          () => acked++,
          (err: { code?: string }) => expect(err.code).toBeDefined(),
        );
    }
    expect(c.store.stats.injectedErrors).toBeGreaterThan(0);
    c.storageFaults({});
    expect(await c.conflict(Counter, "s")).toBe(true);
    // The activation's next write meets the conflict; the value it had stored survives.
    await c
      .ref(Counter, "s")
      .add(1)
      .catch(() => {});
    const final = await c.ref(Counter, "s", { retry: true }).get();
    expect(final).toBeGreaterThanOrEqual(acked);
    expect(await c.stored(Counter, "s")).toEqual({ value: final });
  });

  it("delays, reorders and duplicates frames between two silos, and jumps the clock", async () => {
    cluster = await TestCluster.start({ silos: 2, actors: [Counter], seed: 7 });
    const c = cluster;
    await c.ref(Counter, "d").add(1);
    const owner = await c.ownerIndex(Counter, "d");
    const other = 1 - owner;
    c.link(owner, other, { delayMs: 300, jitterMs: 100, reorder: true });
    const before = c.clock.now();
    expect(await c.ref(Counter, "d", { via: other }).add(1)).toBe(2);
    expect(c.clock.now() - before).toBeGreaterThanOrEqual(600);
    c.link(owner, other, { duplicateRate: 1 });
    // A duplicated call frame runs twice: TCP never does this, it tests idempotency.
    expect(await c.ref(Counter, "d", { via: other }).add(1)).toBe(3);
    c.link(owner, other, {});
    expect(await c.ref(Counter, "d", { via: owner }).get()).toBe(4);
    expect(c.network.stats.duplicated).toBeGreaterThan(0);
    const t = c.clock.now();
    await c.jumpClock(10_000);
    expect(c.clock.now()).toBeGreaterThanOrEqual(t + 10_000);
    expect(await c.ref(Counter, "d", { retry: true }).get()).toBe(4);
    expect(c.faults.some((f) => f.includes("jump"))).toBe(true);
  });

  it("refuses calls through a crashed silo with a typed error, and restarts it", async () => {
    cluster = await TestCluster.start({ silos: 2, actors: [Counter], seed: 8 });
    const c = cluster;
    await c.crash(1);
    expect(() => c.silo(1)).toThrow(SiloNotRunningError);
    await expect(c.ref(Counter, "r", { via: 1 }).add(1)).rejects.toMatchObject({ code: "SILO_NOT_RUNNING" });
    await c.restart(1);
    expect(c.silo(1).siloId).toBe("s1r1");
    expect(await c.ref(Counter, "r", { via: 1, retry: true }).add(1)).toBe(1);
    const report = c.failureReport();
    expect(report).toContain("seed 8 (replay with PRAAS_SEED=8)");
    expect(report).toMatch(/crash 1\n\s+t=\d+ restart 1/);
  });
});

describe("TestCluster time", () => {
  it("in manual mode moves time only when told", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 10, time: "manual" });
    const c = cluster;
    await c.ref(Counter, "m").add(1);
    const owner = await c.ownerIndex(Counter, "m");
    const victim = (owner + 1) % 3;
    const statusOfVictim = (): string | undefined =>
      c
        .silo(owner)
        .clusterView()
        .silos.find((s) => s.id === `s${victim}`)?.status;
    const t = c.clock.now();
    await c.crash(victim);
    // Calls do not move time here: the crashed silo is not declared dead yet.
    await c.ref(Counter, "m", { via: owner }).get();
    expect(c.clock.now()).toBe(t);
    expect(statusOfVictim()).toBe("active");
    await c.advance(3_000);
    expect(c.clock.now()).toBe(t + 3_000);
    expect(statusOfVictim()).toBe("dead");
    c.skewClock(owner, 5_000);
    expect(c.silo(owner).clock.now()).toBe(c.clock.now() + 5_000);
  });
});

describe("TestCluster storage", () => {
  for (const storage of ["redis", "s3"] as const) {
    it(`keeps state on a real ${storage} server it starts and stops`, async () => {
      cluster = await TestCluster.start({ silos: 2, actors: [Counter], seed: 9, storage });
      const c = cluster;
      expect(c.store.inner.kind).toBe(storage);
      await c.ref(Counter, "real").add(4);
      await c.crash(await c.ownerIndex(Counter, "real"));
      expect(await c.ref(Counter, "real", { retry: true }).add(1)).toBe(5);
      expect(await c.stored(Counter, "real")).toEqual({ value: 5 });
    });
  }

  it("rejects a bad option with a typed error", async () => {
    await expect(TestCluster.start({ actors: [Counter], silos: 0 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(
      TestCluster.start({ actors: [Counter], storage: "disk" as unknown as "memory" }),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
