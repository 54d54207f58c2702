/**
 * Three silos as separate OS processes: Redis membership (this run's
 * redis-server), state in one shared folder (FileStateStore, fenced across
 * processes), silo-to-silo WebSockets between the processes.
 */
import { redisUrl } from "@praas/testing/vitest";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, ProcessClusters, type SiloProcess, value } from "./processes.js";

const HEARTBEAT_MS = 200;
const DEAD_AFTER_MS = 1_000;

const clusters = new ProcessClusters(redisUrl, {
  HEARTBEAT_MS: String(HEARTBEAT_MS),
  DEAD_AFTER_MS: String(DEAD_AFTER_MS),
});
beforeAll(() => assertBuilt());
afterEach(() => clusters.cleanup());
const cluster = (size: number) => clusters.start(size, "mp");

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe("three silo processes", () => {
  it("keeps a counter exact when it is called through every silo", async () => {
    const { silos } = await cluster(3);
    const ks = keys("c", 12);
    await Promise.all(
      silos.flatMap((s) =>
        ks.map(async (k) => {
          for (let i = 0; i < 10; i++) value(await s.call("Counter", k, "add", [1]));
        }),
      ),
    );
    for (const k of ks) {
      for (const s of silos) expect(value(await s.call("Counter", k, "get", []))).toBe(30);
      const where = await Promise.all(silos.map((s) => s.active("Counter", [k])));
      expect(where.filter(([on]) => on)).toHaveLength(1);
    }
  });

  it("brings a killed silo's actors back on the survivors with every acknowledged increment, detecting it in time", async () => {
    const { silos } = await cluster(3);
    const [s0, s1, victim] = silos as [SiloProcess, SiloProcess, SiloProcess];
    const ks = keys("f", 24);
    const acked = new Map(ks.map((k) => [k, 0]));
    /** Calls that failed in a way that leaves it unknown whether they ran. */
    const unsure = new Map(ks.map((k) => [k, 0]));
    let stop = false;
    let dead = false;
    const load = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 1_000_000; i++) {
        const k = ks[(w * 5 + i) % ks.length] as string;
        const via = dead ? (i % 2 === 0 ? s0 : s1) : (silos[i % 3] as SiloProcess);
        let r: Awaited<ReturnType<SiloProcess["call"]>>;
        try {
          r = await via.call("Counter", k, "add", [1]);
        } catch {
          // The HTTP request to the killed process itself died: it may have run.
          unsure.set(k, (unsure.get(k) ?? 0) + 1);
          continue;
        }
        if (r.ok) acked.set(k, (acked.get(k) ?? 0) + 1);
        else {
          expect(["SILO_UNAVAILABLE", "STALE_ACTIVATION"]).toContain(r.error.code);
          unsure.set(k, (unsure.get(k) ?? 0) + 1);
        }
      }
    };
    const total = () => [...acked.values()].reduce((a, b) => a + b, 0);
    const workers = Array.from({ length: 6 }, (_, w) => load(w));
    await expect
      .poll(async () => total() > 300 && (await victim.view()).silos.length === 3, {
        message: "load on all silos",
        timeout: 20_000,
        interval: 20,
      })
      .toBe(true);
    const onVictim = await victim.active("Counter", ks);
    expect(onVictim.some((x) => x)).toBe(true);
    const killedAt = Date.now();
    victim.child.kill("SIGKILL");
    dead = true;
    await victim.exited;
    // Detected: the survivors' views mark it dead (or drop it).
    await expect
      .poll(
        async () => {
          const views = await Promise.all([s0.view(), s1.view()]);
          return views.every((v) => !v.silos.some((s) => s.id === victim.siloId && s.status === "active"));
        },
        { message: "the kill to be detected", timeout: 20_000, interval: 20 },
      )
      .toBe(true);
    const detectedMs = Date.now() - killedAt;
    // Bound from the configured timings (deadAfterMs + one heartbeat), with generous slack for a loaded machine.
    expect(detectedMs).toBeLessThan(DEAD_AFTER_MS + HEARTBEAT_MS + 3_000);
    const mark = total();
    await expect
      .poll(async () => total() > mark + 300, { message: "load after failover", timeout: 20_000, interval: 20 })
      .toBe(true);
    stop = true;
    await Promise.all(workers);
    for (const [i, k] of ks.entries()) {
      const v = value(await s0.call("Counter", k, "get", [])) as number;
      // Nothing acknowledged is lost; at most the unsure calls ran on top.
      expect(v).toBeGreaterThanOrEqual(acked.get(k) as number);
      expect(v).toBeLessThanOrEqual((acked.get(k) as number) + (unsure.get(k) as number));
      if (onVictim[i] === true) {
        const where = await Promise.all([s0.active("Counter", [k]), s1.active("Counter", [k])]);
        expect(where.filter(([on]) => on)).toHaveLength(1);
      }
    }
  });

  it("moves about 1/N of the active keys to a silo that joins, keeping their state", async () => {
    const { env, silos } = await cluster(2);
    const ks = keys("j", 150);
    await Promise.all(
      ks.map(async (k, i) => value(await (silos[i % 2] as SiloProcess).call("Counter", k, "add", [3]))),
    );
    const before = await Promise.all(silos.map((s) => s.active("Counter", ks)));
    const joined = await clusters.spawn(env);
    const all = [...silos, joined];
    await expect
      .poll(async () => (await Promise.all(all.map((s) => s.view()))).every((v) => v.silos.length === 3), {
        message: "the join",
        timeout: 20_000,
        interval: 20,
      })
      .toBe(true);
    for (const k of ks) expect(value(await joined.call("Counter", k, "add", [1]))).toBe(4);
    // Hand-over is asynchronous: wait until every key is in memory on exactly one silo.
    let after: boolean[][] = [];
    await expect
      .poll(
        async () => {
          after = await Promise.all(all.map((s) => s.active("Counter", ks)));
          return ks.every((_, i) => after.filter((a) => a[i]).length === 1);
        },
        { message: "hand-over", timeout: 20_000, interval: 20 },
      )
      .toBe(true);
    let moved = 0;
    for (let i = 0; i < ks.length; i++) {
      const wasOn = before.findIndex((a) => a[i]);
      if (!after[wasOn]?.[i]) {
        moved++;
        expect(after[2]?.[i]).toBe(true); // moved keys went to the new silo
      }
    }
    expect(moved / ks.length).toBeGreaterThan(0.15);
    expect(moved / ks.length).toBeLessThan(0.55);
  });

  it("loses no call when a silo is stopped with SIGTERM under load", async () => {
    const { silos } = await cluster(3);
    const [s0, s1, leaving] = silos as [SiloProcess, SiloProcess, SiloProcess];
    const ks = keys("d", 24);
    const acked = new Map(ks.map((k) => [k, 0]));
    const failures: unknown[] = [];
    let stop = false;
    const load = async (w: number): Promise<void> => {
      for (let i = 0; !stop && i < 1_000_000; i++) {
        const k = ks[(w * 5 + i) % ks.length] as string;
        const r = await (i % 2 === 0 ? s0 : s1).call("Counter", k, "add", [1]);
        if (r.ok) acked.set(k, (acked.get(k) ?? 0) + 1);
        else failures.push(r.error);
      }
    };
    const total = () => [...acked.values()].reduce((a, b) => a + b, 0);
    const workers = Array.from({ length: 6 }, (_, w) => load(w));
    await expect
      .poll(async () => total() > 300 && (await leaving.view()).silos[0] !== undefined, {
        message: "load",
        timeout: 20_000,
        interval: 20,
      })
      .toBe(true);
    expect((await leaving.active("Counter", ks)).some((x) => x)).toBe(true);
    leaving.child.kill("SIGTERM");
    expect(await leaving.exited).toBe(0);
    const mark = total();
    await expect
      .poll(async () => total() > mark + 300, { message: "load after the drain", timeout: 20_000, interval: 20 })
      .toBe(true);
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    for (const k of ks) expect(value(await s1.call("Counter", k, "get", []))).toBe(acked.get(k));
  });
});
