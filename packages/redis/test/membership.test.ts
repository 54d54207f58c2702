import { HashRing, InvalidArgumentError, type MembershipProvider, type MembershipView } from "@praas/core/internal";
import { type RedisMembershipOptions, redisMembership } from "@praas/redis";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

/** Fast timings for tests; generous enough that a busy 2-core machine does not kill live silos. */
const FAST = { heartbeatMs: 200, deadAfterMs: 1000 } as const;

let admin: Redis;
beforeAll(() => {
  admin = new Redis(redisUrl());
});
afterAll(() => admin.disconnect());

const opened: MembershipProvider[] = [];
afterEach(async () => {
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

const statusOf = (v: MembershipView, id: string): string | undefined => v.silos.find((s) => s.id === id)?.status;

/** Resolve with the provider's view once `ok` holds (checked now and on every change); bounded. */
function waitForView(
  p: MembershipProvider,
  what: string,
  ok: (v: MembershipView) => boolean,
  timeoutMs = 5000,
): Promise<MembershipView> {
  if (ok(p.view())) return Promise.resolve(p.view());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; view: ${JSON.stringify(p.view())}`));
    }, timeoutMs);
    const off = p.onChange((v) => {
      if (!ok(v)) return;
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

function evicted(p: MembershipProvider, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not evicted within ${timeoutMs} ms`)), timeoutMs);
    p.onEvicted(() => {
      clearTimeout(timer);
      resolve(performance.now());
    });
  });
}

/** Versions a provider announces, to check they only grow. */
function versionsOf(p: MembershipProvider): number[] {
  const seen: number[] = [];
  p.onChange((v) => seen.push(v.version));
  return seen;
}

function strictlyIncreasing(xs: readonly number[]): boolean {
  return xs.every((x, i) => i === 0 || x > (xs[i - 1] as number));
}

async function threeSilos(options: Partial<RedisMembershipOptions> = {}) {
  const cluster = uniqueName("m");
  const [a, b, c] = [provider(cluster, options), provider(cluster, options), provider(cluster, options)];
  const seen = [versionsOf(a), versionsOf(b), versionsOf(c)];
  await a.join(silo("a"));
  await b.join(silo("b"));
  await c.join(silo("c"));
  const all3 = (v: MembershipView) => v.silos.filter((s) => s.status === "active").length === 3;
  await Promise.all([a, b, c].map((p) => waitForView(p, "3 active silos", all3)));
  return { cluster, a, b, c, seen };
}

describe("redisMembership", () => {
  it("joins three silos that agree on one view, with versions that only grow", async () => {
    const { a, b, c, seen } = await threeSilos();
    const views = [a.view(), b.view(), c.view()];
    expect(views.map((v) => v.version)).toEqual([3, 3, 3]);
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    expect(views[0]?.silos.map((s) => [s.id, s.status])).toEqual([
      ["a", "active"],
      ["b", "active"],
      ["c", "active"],
    ]);
    expect(HashRing.fromView(a.view()).equals(HashRing.fromView(c.view()))).toBe(true);
    for (const s of seen) expect(strictlyIncreasing(s)).toBe(true);
    // a heard of both later joins; views it was told about end at the current version.
    expect(seen[0]?.at(-1)).toBe(3);
  });

  it("leaves gracefully: peers see it go without a death, and its keys are removed", async () => {
    const { cluster, a, b, c, seen } = await threeSilos();
    const deathsSeen: string[] = [];
    for (const p of [a, c]) p.onChange((v) => v.silos.some((s) => s.status === "dead") && deathsSeen.push("dead"));
    await b.leave();
    const gone = (v: MembershipView) => statusOf(v, "b") === undefined;
    await Promise.all([waitForView(a, "b gone", gone), waitForView(c, "b gone", gone)]);
    expect(a.view().version).toBe(5); // leaving (4), removed (5)
    expect(deathsSeen).toEqual([]);
    expect(b.view().silos.map((s) => s.id)).toEqual(["a", "c"]);
    expect(await admin.hexists(`praas:{${cluster}}:silos`, "b")).toBe(0);
    expect(await admin.zscore(`praas:{${cluster}}:hb`, "b")).toBeNull();
    for (const s of seen) expect(strictlyIncreasing(s)).toBe(true);
  });

  it("declares a crashed silo dead within deadAfterMs + heartbeatMs, and tells every peer", async () => {
    const { a, b, c, seen } = await threeSilos();
    const crashedAt = performance.now();
    await c.close(); // no leave: heartbeats just stop
    const dead = (v: MembershipView) => statusOf(v, "c") === "dead";
    await Promise.all([waitForView(a, "c dead", dead), waitForView(b, "c dead", dead)]);
    const elapsed = performance.now() - crashedAt;
    // Its last beat was at most one period before the crash; the next peer check at most one period after
    // the deadline. Not before: that bound holds however loaded the machine is. The upper one has 5 s of
    // slack, so only a hung detector breaks it, not an event-loop stall on a busy 2-core machine.
    expect(elapsed).toBeGreaterThan(FAST.deadAfterMs - FAST.heartbeatMs - 50);
    expect(elapsed).toBeLessThan(FAST.deadAfterMs + 2 * FAST.heartbeatMs + 5_000);
    expect(a.view()).toEqual(b.view());
    expect(a.view().version).toBe(4);
    expect(HashRing.fromView(a.view()).members).toEqual(["a", "b"]);
    for (const s of seen.slice(0, 2)) expect(strictlyIncreasing(s)).toBe(true);
  });

  it("with default timings detects a dead silo within 3 s", async () => {
    const cluster = uniqueName("defaults");
    const a = provider(cluster, { heartbeatMs: undefined, deadAfterMs: undefined });
    const b = provider(cluster, { heartbeatMs: undefined, deadAfterMs: undefined });
    await a.join(silo("a"));
    await b.join(silo("b"));
    await waitForView(a, "b joined", (v) => statusOf(v, "b") === "active");
    const crashedAt = performance.now();
    await b.close();
    await waitForView(a, "b dead", (v) => statusOf(v, "b") === "dead", 6000);
    expect(performance.now() - crashedAt).toBeLessThanOrEqual(3000);
  });

  it("a silo declared dead learns it was evicted at its next heartbeat and never comes back", async () => {
    const cluster = uniqueName("evict");
    const a = provider(cluster);
    const b = provider(cluster);
    // Its heartbeats come far too rarely for its peers' deadAfterMs: like a long GC pause or a partition.
    // No pub/sub, so only its own heartbeat can tell it.
    const slow = provider(cluster, { heartbeatMs: 2500, deadAfterMs: 5000, subscribe: false });
    await a.join(silo("a"));
    await b.join(silo("b"));
    await slow.join(silo("slow"));
    const evictedAt = evicted(slow);
    const declaredDead = await waitForView(a, "slow dead", (v) => statusOf(v, "slow") === "dead").then(() =>
      performance.now(),
    );
    expect(await evictedAt).toBeGreaterThan(declaredDead);
    expect(statusOf(b.view(), "slow")).toBe("dead");
    // The evicted silo did not write a heartbeat: it stays dead, with no liveness entry.
    expect(await admin.hget(`praas:{${cluster}}:status`, "slow")).toBe("dead");
    expect(await admin.zscore(`praas:{${cluster}}:hb`, "slow")).toBeNull();
    // A restart must come back under a new id.
    await expect(provider(cluster).join(silo("slow"))).rejects.toThrow(/declared dead/);
  });

  it("a silo declared dead learns it from the change notification, before its own next heartbeat", async () => {
    const cluster = uniqueName("evict-sub");
    const a = provider(cluster);
    const slow = provider(cluster, { heartbeatMs: 10_000, deadAfterMs: 20_000 });
    await a.join(silo("a"));
    await slow.join(silo("slow"));
    const joinedAt = performance.now();
    const at = await evicted(slow);
    expect(at - joinedAt).toBeLessThan(10_000); // its first heartbeat would be 10 s after joining
    expect(statusOf(slow.view(), "slow")).toBe("dead");
  });

  it("converges by polling at each heartbeat when pub/sub is off", async () => {
    const { a, b, c, seen } = await threeSilos({ subscribe: false });
    await c.close();
    const dead = (v: MembershipView) => statusOf(v, "c") === "dead";
    await Promise.all([waitForView(a, "c dead", dead), waitForView(b, "c dead", dead)]);
    await b.leave();
    await waitForView(a, "b gone", (v) => statusOf(v, "b") === undefined);
    expect(a.view().silos.map((s) => [s.id, s.status])).toEqual([
      ["a", "active"],
      ["c", "dead"],
    ]);
    expect(strictlyIncreasing(seen[0] as number[])).toBe(true);
  });

  it("after an outage, a silo's first heartbeat does not declare its equally silent peers dead", async () => {
    // As if Redis (or the network) was away for 10 s: every heartbeat is old.
    // The first silo back must not judge the others before they could beat again.
    const { cluster, a, b, c } = await threeSilos();
    const hb = `praas:{${cluster}}:hb`;
    const [sec] = (await admin.time()) as [number, number];
    const past = Number(sec) * 1000 - 10_000;
    await admin.zadd(hb, past, "a", past, "b", past, "c");
    // Wait (bounded) until all three have beaten again, twice over the threshold of one period.
    const deadline = performance.now() + 5000;
    for (;;) {
      const scores = await Promise.all(["a", "b", "c"].map((id) => admin.zscore(hb, id)));
      if (scores.every((x) => x !== null && Number(x) > past + 10_000 + FAST.heartbeatMs)) break;
      if (performance.now() > deadline) throw new Error(`silos did not beat again: ${scores.join(", ")}`);
      await new Promise((r) => setTimeout(r, FAST.heartbeatMs));
    }
    for (const p of [a, b, c]) expect(p.view().version).toBe(3);
    expect(await admin.hvals(`praas:{${cluster}}:status`)).toEqual(["active", "active", "active"]);
  });

  it("prunes dead entries after pruneAfterMs", async () => {
    const { cluster, a, c } = await threeSilos({ pruneAfterMs: 1000 });
    await c.close();
    await waitForView(a, "c dead", (v) => statusOf(v, "c") === "dead");
    await waitForView(a, "c pruned", (v) => statusOf(v, "c") === undefined);
    expect(await admin.hexists(`praas:{${cluster}}:silos`, "c")).toBe(0);
    expect(await admin.zscore(`praas:{${cluster}}:dead`, "c")).toBeNull();
  });

  it("reports and skips a malformed entry instead of trusting it", async () => {
    const cluster = uniqueName("bad-entry");
    const errors: unknown[] = [];
    const a = provider(cluster, { onError: (e) => errors.push(e) });
    await a.join(silo("a"));
    const base = `praas:{${cluster}}`;
    await admin.hset(`${base}:silos`, "bogus", "{not json");
    await admin.hset(`${base}:status`, "bogus", "active");
    await admin.hset(`${base}:silos`, "x", JSON.stringify({ id: "x", address: "h:1", startedAt: 1 }));
    await admin.hset(`${base}:status`, "x", "zombie");
    const v = await admin.incr(`${base}:version`);
    await admin.publish(`${base}:changes`, String(v));
    const view = await waitForView(a, "the new version", (w) => w.version === v);
    expect(view.silos.map((s) => s.id)).toEqual(["a"]);
    expect(errors.map(String).join("\n")).toMatch(/malformed membership entry for silo "bogus"/);
    expect(errors.map(String).join("\n")).toMatch(/"x"/);
  });

  it("rejects a duplicate id and a second join", async () => {
    const cluster = uniqueName("dup");
    const a = provider(cluster);
    await a.join(silo("a"));
    await expect(provider(cluster).join(silo("a"))).rejects.toThrow(/already a member/);
    await expect(a.join(silo("a2"))).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("opens one command and one subscriber connection, and close() releases both", async () => {
    const cluster = uniqueName("conn");
    const count = async (): Promise<number> => {
      const list = String(await admin.client("LIST"));
      return list.split("\n").filter((line) => line.includes(`name=praas-membership`) && line.includes(cluster)).length;
    };
    const a = provider(cluster);
    expect(await count()).toBe(0); // nothing opens before join
    await a.join(silo("a"));
    expect(await count()).toBe(2);
    await a.close();
    expect(await count()).toBe(0);
    const polling = provider(cluster, { subscribe: false });
    await polling.join(silo("p"));
    expect(await count()).toBe(1);
  });

  it("uses a given client for commands without closing it", async () => {
    const cluster = uniqueName("client");
    const client = new Redis(redisUrl());
    try {
      const a = redisMembership({ client, cluster, ...FAST });
      opened.push(a);
      const view = await a.join(silo("a"));
      expect(view.silos.map((s) => s.id)).toEqual(["a"]);
      await a.close();
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });

  it("rejects bad options with InvalidArgumentError before connecting", () => {
    const url = redisUrl();
    const bad: unknown[] = [
      undefined,
      { cluster: "c" },
      { url, client: new Redis({ lazyConnect: true }), cluster: "c" },
      { url: "http://x", cluster: "c" },
      { url, cluster: "" },
      { url, cluster: "a{b}" },
      { url, cluster: 7 },
      { url, cluster: "c", keyPrefix: "" },
      { url, cluster: "c", heartbeatMs: 0 },
      { url, cluster: "c", heartbeatMs: 500, deadAfterMs: 600 },
      { url, cluster: "c", subscribe: "yes" },
      { client: {}, cluster: "c" },
    ];
    for (const options of bad) {
      expect(() => redisMembership(options as RedisMembershipOptions), JSON.stringify(options)).toThrow(
        InvalidArgumentError,
      );
    }
  });
});
