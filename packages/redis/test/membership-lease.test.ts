/**
 * Redis membership under network faults: leases, outage reporting, a bounded
 * join, rejoining, and closing while a re-subscribe is pending. A TCP proxy
 * between the provider and the run's redis-server cuts, freezes or refuses
 * the link; the provider and Redis are real.
 */
import { once } from "node:events";
import { createServer } from "node:net";
import { leaseMarginMs, type MembershipProvider } from "@praas/core/internal";
import {
  type RedisMembershipOptions,
  RedisUnavailableError,
  redisMembership,
  redisReminderStore,
  redisStateStore,
} from "@praas/redis";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

const FAST = { heartbeatMs: 200, deadAfterMs: 1000 } as const;

let admin: Redis;
let proxy: TcpProxy;
beforeAll(async () => {
  admin = new Redis(redisUrl());
  proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
});
afterAll(async () => {
  admin.disconnect();
  await proxy.close();
});

const opened: MembershipProvider[] = [];
afterEach(async () => {
  proxy.thaw();
  proxy.refuse(false);
  await Promise.all(opened.splice(0).map((p) => p.close()));
});

function provider(cluster: string, options: Partial<RedisMembershipOptions> = {}): MembershipProvider {
  const p = redisMembership({ url: redisUrl(), cluster, ...FAST, ...options });
  opened.push(p);
  return p;
}

function silo(id: string) {
  return { id, address: `127.0.0.1:${7000 + id.length}`, startedAt: Date.now() };
}

/** Wait (bounded, polling) for `check`. Real time: Redis heartbeats run on the system clock. */

function evicted(p: MembershipProvider): Promise<string> {
  return new Promise((resolve) => p.onEvicted(resolve));
}

describe("redisMembership leases and faults", () => {
  it("renews the lease with each heartbeat that got through, from the time it was sent; a frozen link renews nothing; one line when Redis goes, one when it is back", async () => {
    const log: string[] = [];
    const cluster = uniqueName("lease");
    const p = provider(cluster, { url: `redis://127.0.0.1:${proxy.port}`, log: (l, m) => log.push(`${l} ${m}`) });
    const before = p.clock.now();
    await p.join(silo("a"));
    const margin = leaseMarginMs(FAST.deadAfterMs);
    expect(p.leaseValidUntil()).toBeGreaterThanOrEqual(before + FAST.deadAfterMs - margin);
    expect(p.leaseValidUntil()).toBeLessThanOrEqual(p.clock.now() + FAST.deadAfterMs - margin);
    const first = p.leaseValidUntil();
    await expect
      .poll(() => p.leaseValidUntil() > first, { message: "a renewal", timeout: 15_000, interval: 10 })
      .toBe(true);
    // A partition: no reset, no error event; only the heartbeat notices.
    proxy.freeze();
    const frozenAt = p.clock.now();
    const lease = p.leaseValidUntil();
    expect(lease).toBeLessThanOrEqual(frozenAt + FAST.deadAfterMs - margin);
    await expect.poll(() => log.length > 0, { message: "the outage line", timeout: 15_000, interval: 10 }).toBe(true);
    expect(p.clock.now()).toBeGreaterThan(lease);
    expect(p.leaseValidUntil()).toBe(lease);
    proxy.thaw();
    await expect
      .poll(() => p.leaseValidUntil() > lease, { message: "a renewal after the outage", timeout: 15_000, interval: 10 })
      .toBe(true);
    await expect.poll(() => log.length > 1, { message: "the recovery line", timeout: 15_000, interval: 10 }).toBe(true);
    expect(log).toEqual([
      expect.stringMatching(/^warn Redis at 127\.0\.0\.1:\d+ is unreachable \(.*\); retrying$/),
      expect.stringMatching(/^info Redis at 127\.0\.0\.1:\d+ is reachable again \(after \d+\.\d s\)$/),
    ]);
  });

  it("after a long silent cut, reaches Redis again on a new connection instead of waiting on the stuck one", async () => {
    const log: string[] = [];
    const cluster = uniqueName("silent");
    const p = provider(cluster, { url: `redis://127.0.0.1:${proxy.port}`, log: (l, m) => log.push(`${l} ${m}`) });
    await p.join(silo("a"));
    const first = p.leaseValidUntil();
    await expect
      .poll(() => p.leaseValidUntil() > first, { message: "a renewal", timeout: 15_000, interval: 10 })
      .toBe(true);
    proxy.freeze();
    await expect.poll(() => log.length > 0, { message: "the outage line", timeout: 15_000, interval: 10 }).toBe(true);
    const lease = p.leaseValidUntil();
    // The link is back, but the sockets open during the cut never carry another byte (as after TCP
    // gave up retransmitting into a dead link): only a connection opened after the cut gets through.
    proxy.thaw({ strand: true });
    await expect
      .poll(() => p.leaseValidUntil() > lease, {
        message: "a renewal over a new connection",
        timeout: 15_000,
        interval: 10,
      })
      .toBe(true);
    await expect.poll(() => log.length > 1, { message: "the recovery line", timeout: 15_000, interval: 10 }).toBe(true);
    expect(log[1]).toMatch(/^info Redis at 127\.0\.0\.1:\d+ is reachable again/);
  });

  it("prints one line per outage however many connections retry (membership, state, reminders), and none from ioredis", async () => {
    const log: string[] = [];
    const logFn = (l: string, m: string) => log.push(`${l} ${m}`);
    const url = `redis://127.0.0.1:${proxy.port}`;
    const cluster = uniqueName("outage");
    const p = provider(cluster, { url, log: logFn });
    await p.join(silo("a"));
    const state = redisStateStore({ url, keyPrefix: `${cluster}:`, log: logFn });
    const reminders = redisReminderStore({ url, key: `${cluster}:reminders`, log: logFn });
    const consoleLines: string[] = [];
    const spies = (["error", "warn", "log"] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        consoleLines.push(args.map(String).join(" "));
      }),
    );
    try {
      expect(await state.load({ type: "T", key: "k" })).toBeUndefined();
      await reminders.list();
      proxy.refuse(true); // Redis down: every connection reset, reconnections refused
      await expect.poll(() => log.length > 0, { message: "the outage line", timeout: 15_000, interval: 10 }).toBe(true);
      // Several reconnection attempts of all four connections, over one lease period.
      await new Promise((r) => setTimeout(r, FAST.deadAfterMs));
      proxy.refuse(false);
      await expect
        .poll(() => log.length > 1, { message: "the recovery line", timeout: 15_000, interval: 10 })
        .toBe(true);
      await expect
        .poll(() => p.leaseValidUntil() > p.clock.now(), { message: "a fresh lease", timeout: 15_000, interval: 10 })
        .toBe(true);
      expect(await state.load({ type: "T", key: "k" })).toBeUndefined();
    } finally {
      for (const spy of spies) spy.mockRestore();
      await state.close();
      await reminders.close();
    }
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(/unreachable/);
    expect(log[1]).toMatch(/reachable again/);
    expect(consoleLines.join("\n")).not.toMatch(/ioredis|Unhandled/);
  });

  it("join gives up after connectTimeoutMs when Redis does not answer, with a clear RedisUnavailableError", async () => {
    // A port where nothing listens.
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const p = provider(uniqueName("down"), { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 800, log: () => {} });
    const started = performance.now();
    const err = (await p.join(silo("a")).catch((e: unknown) => e)) as RedisUnavailableError;
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(RedisUnavailableError);
    expect(err.code).toBe("REDIS_UNAVAILABLE");
    expect(err.message).toMatch(
      new RegExp(
        `Redis at 127\\.0\\.0\\.1:${port} did not answer within 0\\.\\d s \\(\\d+ connection attempts?; last error: connect ECONNREFUSED`,
      ),
    );
    expect(took).toBeGreaterThanOrEqual(790);
    expect(took).toBeLessThan(5_000);
  });

  it("a silo whose entry vanished (Redis lost its data) is evicted and rejoins under a new id only after deadAfterMs", async () => {
    const cluster = uniqueName("vanish");
    const p = provider(cluster);
    await p.join(silo("a"));
    const reason = evicted(p);
    // What a Redis restarted empty looks like to this cluster.
    const keys = await admin.keys(`praas:{${cluster}}:*`);
    await admin.del(...keys);
    expect(await reason).toMatch(/entry of silo a is gone from Redis/);
    expect(p.leaseValidUntil()).toBe(Number.NEGATIVE_INFINITY);
    const started = performance.now();
    const view = await p.join(silo("a.1"));
    expect(performance.now() - started).toBeGreaterThanOrEqual(FAST.deadAfterMs - 5);
    expect(view.version).toBe(1);
    expect(view.silos.map((s) => [s.id, s.status])).toEqual([["a.1", "active"]]);
    expect(p.leaseValidUntil()).toBeGreaterThan(p.clock.now());
    // The new incarnation hears later changes (by pub/sub and by polling).
    await provider(cluster).join(silo("b"));
    await expect
      .poll(() => p.view().silos.some((s) => s.id === "b"), {
        message: "the rejoined silo to see a later join",
        timeout: 15_000,
        interval: 10,
      })
      .toBe(true);
  });

  it("a silo declared dead rejoins at once under a new id; the old one stays dead", async () => {
    const cluster = uniqueName("rejoin");
    const p = provider(cluster);
    await p.join(silo("a"));
    const reason = evicted(p);
    await admin.hset(`praas:{${cluster}}:status`, "a", "dead");
    expect(await reason).toMatch(/peers declared silo a dead/);
    await expect(p.join(silo("a"))).rejects.toThrow(/declared dead/);
    const view = await p.join(silo("a.1"));
    expect(view.silos.map((s) => [s.id, s.status])).toEqual([
      ["a", "dead"],
      ["a.1", "active"],
    ]);
  });

  it("closing an evicted provider while its re-subscribe waits for an answer leaves no unhandled rejection", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const cluster = uniqueName("resub");
      const p = provider(cluster, { url: `redis://127.0.0.1:${proxy.port}`, log: () => {} });
      await p.join(silo("a"));
      // The link drops; on reconnection the subscriber's SUBSCRIBE goes unanswered (a partition healing badly).
      const held = proxy.holdWhen(/subscribe/i);
      proxy.cut();
      await held;
      const reason = evicted(p);
      await admin.hset(`praas:{${cluster}}:status`, "a", "dead");
      await reason;
      const closed = p.close();
      // The half-open link finally resets, as when the partition heals.
      proxy.cut();
      await closed;
      // Rejections surface on the next turns of the event loop.
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      proxy.stopHolding();
    }
  });
});
