/**
 * Losing and regaining membership with silos as OS processes: a silo frozen
 * (SIGSTOP) past the detection bound, and Redis restarted empty. Redis
 * membership with short timings, state in one shared folder ("turn"
 * persistence: every acknowledged increment is stored).
 */
import { HashRing } from "@praas/core/internal";
import { type RedisTestServer, startRedisServer, startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl } from "@praas/testing/vitest";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, ProcessClusters, type SiloProcess, value } from "./processes.js";

const HEARTBEAT_MS = 200;
const DEAD_AFTER_MS = 1_000;
/** Detection bound: a silo silent this long has been declared dead by a peer. */
const DETECTION_MS = DEAD_AFTER_MS + HEARTBEAT_MS;
const timings = { HEARTBEAT_MS: String(HEARTBEAT_MS), DEAD_AFTER_MS: String(DEAD_AFTER_MS) };

beforeAll(() => assertBuilt());

/** Keys of Counter that `owner` holds in `silos`' current view. */
async function keysOwnedBy(via: SiloProcess, owner: string, n: number): Promise<string[]> {
  const view = await via.view();
  const ring = new HashRing(view.silos.filter((s) => s.status === "active").map((s) => s.id));
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 100_000; i++) if (ring.owner(`Counter/z${i}`) === owner) out.push(`z${i}`);
  return out;
}

const RETRYABLE = new Set(["SILO_UNAVAILABLE", "SILO_STOPPED", "STALE_ACTIVATION", "DEACTIVATED", "TIMEOUT"]);

describe("a silo frozen past the detection bound", () => {
  const clusters = new ProcessClusters(redisUrl, timings);
  afterEach(() => clusters.cleanup());

  it("never answers for a key another silo owns meanwhile, and serves again as a new member", async () => {
    const { silos } = await clusters.start(3, "zombie");
    const [a, , z] = silos as [SiloProcess, SiloProcess, SiloProcess];
    const ks = await keysOwnedBy(a, z.siloId, 4);
    for (const k of ks) expect(value(await a.call("Counter", k, "add", [10]))).toBe(10);
    // z holds them in memory, and has just read them.
    for (const k of ks) expect(value(await z.call("Counter", k, "get", []))).toBe(10);

    z.child.kill("SIGSTOP");
    try {
      await expect
        .poll(async () => (await a.view()).silos.find((s) => s.id === z.siloId)?.status === "dead", {
          message: "z declared dead",
          timeout: 20_000,
          interval: 20,
        })
        .toBe(true);
      // The survivors own z's keys now and move them on.
      for (const k of ks) expect(value(await a.call("Counter", k, "add", [1]))).toBe(11);
      // Calls sent straight to the frozen process wait in its socket buffers.
      const pending = ks.map((k) => z.call("Counter", k, "get", []));
      await new Promise((r) => setTimeout(r, 200));
      z.child.kill("SIGCONT");
      const wokeAt = performance.now();
      for (const r of await Promise.all(pending)) {
        // Either refused (retryable), or the current value: never the 10 it held before it froze.
        if (r.ok) expect(r.value).toBe(11);
        else expect(RETRYABLE.has(r.error.code), `${r.error.code}: ${r.error.message}`).toBe(true);
      }
      let rejoinedAfter = Number.NaN;
      await expect
        .poll(
          async () => {
            if (z.child.exitCode !== null) return true;
            const v = await z.view();
            if (v.self === z.siloId || !v.serving) return false;
            rejoinedAfter = performance.now() - wokeAt;
            return true;
          },
          { message: "z to serve again as a new member or exit", timeout: 20_000, interval: 20 },
        )
        .toBe(true);
      // 2 × the detection bound, with slack for a loaded 2-core machine.
      expect(rejoinedAfter).toBeLessThan(2 * DETECTION_MS + 5_000);
      console.info(`zombie back as a new member ${rejoinedAfter.toFixed(0)} ms after SIGCONT`);
      for (const k of ks) expect(value(await z.call("Counter", k, "get", []))).toBe(11);
      for (const k of ks) expect(value(await z.call("Counter", k, "add", [1]))).toBe(12);
      expect(z.log()).toMatch(/lost its membership of cluster .*: peers declared silo .* dead/);
      expect(z.log()).not.toMatch(/Unhandled|\[ioredis\]/);
    } finally {
      if (z.child.exitCode === null) z.child.kill("SIGCONT");
    }
  });
});

describe("Redis restarted empty", () => {
  let redis: RedisTestServer[] = [];
  let proxy: TcpProxy | undefined;
  const clusters = new ProcessClusters(() => `redis://127.0.0.1:${proxy?.port}`, timings);
  afterEach(async () => {
    await clusters.cleanup();
    await proxy?.close();
    proxy = undefined;
    await Promise.all(redis.splice(0).map((r) => r.stop()));
  });

  it("every silo finds itself gone, rejoins under a new id and serves the stored values: no manual action", async () => {
    const first = await startRedisServer();
    redis.push(first);
    proxy = await startTcpProxy(first.port);
    const { silos } = await clusters.start(3, "restart");
    const ks = Array.from({ length: 12 }, (_, i) => `r${i}`);
    for (const k of ks) expect(value(await (silos[0] as SiloProcess).call("Counter", k, "add", [3]))).toBe(3);
    const oldIds = silos.map((s) => s.siloId);

    // A new, empty Redis at the same address; every connection drops.
    const second = await startRedisServer();
    redis.push(second);
    proxy.retarget(second.port);
    proxy.cut();
    await first.stop();
    redis = redis.filter((r) => r !== first);
    const restartedAt = performance.now();

    await expect
      .poll(
        async () => {
          const views = await Promise.all(silos.map((s) => s.view()));
          return views.every(
            (v, i) =>
              v.serving &&
              v.self !== oldIds[i] &&
              v.silos.filter((s) => s.status === "active").length === 3 &&
              v.silos.every((s) => !oldIds.includes(s.id)),
          );
        },
        { message: "all three silos back as new members", timeout: 30_000, interval: 20 },
      )
      .toBe(true)
      .catch(async (err: unknown) => {
        const views = await Promise.all(silos.map((s) => s.view()));
        throw new Error(
          `${String(err)}\nviews: ${JSON.stringify(views)}\nlogs:\n${silos.map((s) => s.log()).join("\n---\n")}`,
        );
      });
    console.info(
      `cluster serving again ${(performance.now() - restartedAt).toFixed(0)} ms after Redis restarted empty`,
    );
    for (const s of silos) for (const k of ks) expect(value(await s.call("Counter", k, "get", []))).toBe(3);
    for (const k of ks) expect(value(await (silos[1] as SiloProcess).call("Counter", k, "add", [1]))).toBe(4);
    for (const s of silos) {
      expect(s.log()).toMatch(/entry of silo .* is gone from Redis/);
      expect(s.log()).not.toMatch(/Unhandled|\[ioredis\]/);
    }
  });
});
