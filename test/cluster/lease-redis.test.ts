/**
 * Two in-process silos with Redis membership; one of them reaches Redis
 * through a TCP proxy the test freezes (a partition from Redis only: the
 * silos still see each other). Real Redis, real sockets, real time.
 */
import { type ActorId, MemoryStateStore, type PraasError, type StoredState } from "@praas/core/internal";
import { redisMembership, redisStateStore } from "@praas/redis";
import { Silo } from "@praas/silo";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterEach, describe, expect, it } from "vitest";
import { bothInBothViews, keyOwnedBy, seesDead, TurnTally } from "./two-silos.js";

const FAST = { heartbeatMs: 200, deadAfterMs: 1000 } as const;

/** One store for both silos (as S3 would be); stopping a silo does not close it. */
class SharedStore extends MemoryStateStore {
  override async close(): Promise<void> {}
  override save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    return super.save(id, data, expected);
  }
  override load(id: ActorId): Promise<StoredState | undefined> {
    return super.load(id);
  }
}

let silos: Silo[] = [];
let proxy: TcpProxy | undefined;
afterEach(async () => {
  proxy?.thaw();
  await Promise.allSettled(silos.map((s) => s.stop()));
  silos = [];
  await proxy?.close();
  proxy = undefined;
});

async function failure(p: Promise<unknown>): Promise<PraasError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as PraasError;
}

describe("a silo cut off from Redis", () => {
  it("stops serving reads and writes when its lease runs out, and after the link heals rejoins under a new id and serves the current values", async () => {
    const redisPort = Number(new URL(redisUrl()).port);
    proxy = await startTcpProxy(redisPort);
    const cluster = uniqueName("cut");
    const store = new SharedStore();
    const logs: string[][] = [[], []];
    const start = (i: number, url: string) =>
      Silo.start({
        actors: [TurnTally],
        storage: store,
        idleTimeoutMs: 600_000,
        log: (level, message) => logs[i]?.push(`${level} ${message}`),
        cluster: {
          name: cluster,
          secret: "lease-redis-test-secret",
          membership: redisMembership({
            url,
            cluster,
            ...FAST,
            log: (level, message) => logs[i]?.push(`${level} ${message}`),
          }),
        },
      });
    const a = await start(0, redisUrl());
    silos.push(a);
    const b = await start(1, `redis://127.0.0.1:${proxy.port}`);
    silos.push(b);
    await bothInBothViews(a, b);
    const key = keyOwnedBy(a, b, "Tally");
    expect(await b.ref(TurnTally, key).add(5)).toBe(5);
    const oldId = b.siloId;

    proxy.freeze();
    await expect
      .poll(() => b.servingError() !== undefined, { message: "b to stop serving", timeout: 20_000, interval: 10 })
      .toBe(true);
    // Not served while the lease is out: a call with a short deadline gets no answer but its timeout.
    for (const call of [
      b.ref(TurnTally, key, { timeoutMs: 300 }).get(),
      b.ref(TurnTally, key, { timeoutMs: 300 }).add(1),
    ]) {
      const err = await failure(call);
      expect(["SILO_UNAVAILABLE", "TIMEOUT"]).toContain(err.code);
      expect(err.retryable).toBe(true);
    }
    // Its peer declares it dead and takes over its key, from the stored state.
    await seesDead(a, oldId);
    expect(await a.ref(TurnTally, key).add(1)).toBe(6);

    const back = new Promise<string>((resolve) => b.once("rejoined", (id) => resolve(id)));
    proxy.thaw();
    expect(await back).toBe(`${oldId}.1`);
    expect(await b.ref(TurnTally, key).get()).toBe(6);
    expect(await b.ref(TurnTally, key).add(1)).toBe(7);
    const log = logs[1] as string[];
    expect(log.filter((l) => /membership lease expired/.test(l))).toHaveLength(1);
    expect(log.filter((l) => /lost its membership of cluster .*: peers declared silo .* dead/.test(l))).toHaveLength(1);
    expect(log.filter((l) => /rejoined cluster/.test(l))).toHaveLength(1);
    // A heartbeat still pending when the link healed was only slow: an outage line only if one timed out, then its pair.
    const down = log.filter((l) => /Redis at .* is unreachable/.test(l)).length;
    expect(down).toBeLessThanOrEqual(1);
    expect(log.filter((l) => /Redis at .* is reachable again/.test(l))).toHaveLength(down);
  });
});

describe("a silo whose Redis state store is on its membership's server", () => {
  it("has Redis refuse a turn's write that was held up in the network and lands after peers declared the silo dead", async () => {
    const redisPort = Number(new URL(redisUrl()).port);
    proxy = await startTcpProxy(redisPort);
    const cluster = uniqueName("fence");
    const keyPrefix = `${uniqueName("fence-state")}:`;
    const logs: string[][] = [[], []];
    const start = (i: number, url: string) => {
      const log = (level: string, message: string) => logs[i]?.push(`${level} ${message}`);
      return Silo.start({
        actors: [TurnTally],
        // Each silo its own connection: b's goes through the proxy, as its membership's does.
        storage: redisStateStore({ url, keyPrefix, log }),
        idleTimeoutMs: 600_000,
        log,
        cluster: {
          name: cluster,
          secret: "lease-redis-test-secret",
          membership: redisMembership({ url, cluster, ...FAST, log }),
        },
      });
    };
    const a = await start(0, redisUrl());
    silos.push(a);
    const b = await start(1, `redis://127.0.0.1:${proxy.port}`);
    silos.push(b);
    for (const log of logs)
      expect(log.filter((l) => /\bstate\b.*writes are fenced by cluster membership/.test(l))).toHaveLength(1);
    await bothInBothViews(a, b);
    const key = keyOwnedBy(a, b, "Tally");
    expect(await b.ref(TurnTally, key).add(5)).toBe(5);
    const oldId = b.siloId;

    proxy.freeze();
    // Still within its lease: b runs the turn, and its write to Redis is held in the cut.
    const late = failure(b.ref(TurnTally, key, { timeoutMs: 60_000 }).add(10));
    await seesDead(a, oldId);
    // The new owner loads what Redis holds.
    expect(await a.ref(TurnTally, key).get()).toBe(5);
    proxy.thaw();
    // The held write reaches Redis now, after b was declared dead: refused there, and the caller told so.
    const err = await late;
    expect(err.code).toBe("STORE_WRITE_FENCED");
    expect(err.retryable).toBe(true);
    // What a loaded is still what Redis holds: its own write goes through (a conflict, had the late write landed).
    expect(await a.ref(TurnTally, key).add(1)).toBe(6);
    const back = new Promise<string>((resolve) => b.once("rejoined", (id) => resolve(id)));
    expect(await back).toBe(`${oldId}.1`);
    // b's new incarnation writes again.
    expect(await b.ref(TurnTally, key).add(1)).toBe(7);
  });
});
