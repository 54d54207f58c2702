/**
 * Writes fenced by membership on the Redis server itself (`fenceWrites`). The
 * zombie silo reaches Redis through a TCP proxy the test freezes: its
 * heartbeats and a write it sends meanwhile are held, as TCP would hold them
 * in a partition, and delivered when the link heals — after a peer declared it
 * dead and the key's new owner loaded the state. Real Redis, real sockets.
 */
import { type MemberRecord, StateConflictError } from "@praas/core";
import {
  type RedisStateStore,
  redisMembership,
  redisReminderStore,
  redisStateStore,
  WriteFencedError,
} from "@praas/redis";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterEach, describe, expect, it } from "vitest";

const FAST = { heartbeatMs: 100, deadAfterMs: 600 } as const;
type Membership = ReturnType<typeof redisMembership>;

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  warnings.length = 0;
  for (const undo of cleanup.reverse()) await undo().catch(() => {});
  cleanup = [];
});

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : new TextDecoder().decode(data));

function member(url: string, cluster: string): Membership {
  const m = redisMembership({ url, cluster, ...FAST, log: () => {} });
  cleanup.push(() => m.close());
  return m;
}

const warnings: string[] = [];
function store(url: string, keyPrefix: string): RedisStateStore {
  const s = redisStateStore({ url, keyPrefix, log: (level, message) => level === "warn" && warnings.push(message) });
  cleanup.push(() => s.close());
  return s;
}

function recordOf(m: Membership): MemberRecord {
  const record = m.memberRecord?.();
  if (record === undefined) throw new Error("redisMembership gives no member record");
  return record;
}

/** Resolves once `watcher`'s view no longer lists `id` as a member. */
function declaredDead(watcher: Membership, id: string): Promise<void> {
  return new Promise((resolve) => {
    const off = watcher.onChange((view) => {
      const entry = view.silos.find((s) => s.id === id);
      if (entry === undefined || entry.status === "dead") {
        off();
        resolve();
      }
    });
  });
}

interface Scene {
  proxy: TcpProxy;
  zombie: RedisStateStore;
  owner: RedisStateStore;
  peer: Membership;
}

/** s1 (through the proxy) and s2 (direct) in one cluster; a store for each, fenced unless told otherwise. */
async function scene(fence: boolean): Promise<Scene> {
  const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
  cleanup.push(async () => {
    proxy.thaw();
    await proxy.close();
  });
  const proxied = `redis://127.0.0.1:${proxy.port}`;
  const cluster = uniqueName("fence");
  const prefix = `${uniqueName("fenced")}:`;
  const self = member(proxied, cluster);
  const peer = member(redisUrl(), cluster);
  await self.join({ id: "s1", address: "127.0.0.1:1", startedAt: Date.now() });
  await peer.join({ id: "s2", address: "127.0.0.1:2", startedAt: Date.now() });
  const zombie = store(proxied, prefix);
  const owner = store(redisUrl(), prefix);
  if (fence) {
    expect(zombie.fenceWrites(recordOf(self))).toBe(true);
    expect(owner.fenceWrites(recordOf(peer))).toBe(true);
  }
  return { proxy, zombie, owner, peer };
}

/**
 * s1 writes v0; the link freezes; s1 sends a write on v0 (held); s2 declares
 * s1 dead and loads v0 as the key's new owner; the link heals and the held
 * write reaches Redis. Returns the held write's outcome and s2's view of v0.
 */
async function lateWrite({ proxy, zombie, owner, peer }: Scene) {
  const id = { type: "Counter", key: "k" };
  const v0 = await zombie.save(id, bytes("A"), null);
  const dead = declaredDead(peer, "s1");
  proxy.freeze();
  const late = zombie.save(id, bytes("Z"), v0).then(
    (version) => ({ version }),
    (error: unknown) => ({ error }),
  );
  await dead;
  const loaded = await owner.load(id);
  proxy.thaw();
  return { id, v0, loaded, outcome: await late };
}

describe("RedisStateStore fenced by Redis membership", () => {
  it("refuses a write that reaches Redis after peers declared its silo dead, so the new owner's state stays current", async () => {
    const s = await scene(true);
    const { id, v0, loaded, outcome } = await lateWrite(s);
    expect(loaded?.version).toBe(v0);
    expect(text(loaded?.data)).toBe("A");
    expect("error" in outcome && outcome.error).toBeInstanceOf(WriteFencedError);
    const error = (outcome as { error: WriteFencedError }).error;
    expect(error.code).toBe("STORE_WRITE_FENCED");
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/silo s1 is dead/);
    expect(s.zombie.fencedWrites).toBe(1);
    expect(warnings.filter((w) => /Redis refused state writes of silo s1 as fenced/.test(w))).toHaveLength(1);
    // What the new owner loaded is still what Redis holds: its conditional write goes through.
    const v1 = await s.owner.save(id, bytes("B"), v0);
    const now = await s.owner.load(id);
    expect(now?.version).toBe(v1);
    expect(text(now?.data)).toBe("B");
  });

  it("without the fence the same late write lands under the new owner (what the fence is for)", async () => {
    const s = await scene(false);
    const { id, v0, loaded, outcome } = await lateWrite(s);
    expect(loaded?.version).toBe(v0);
    // The held write passed its conditional check: Redis now holds a state the new owner never saw.
    expect("version" in outcome).toBe(true);
    expect(text((await s.owner.load(id))?.data)).toBe("Z");
    await expect(s.owner.save(id, bytes("B"), v0)).rejects.toBeInstanceOf(StateConflictError);
  });

  it("fences large values and deletes too, and refuses every write before the silo has joined", async () => {
    const cluster = uniqueName("fence");
    const prefix = `${uniqueName("fenced")}:`;
    const self = member(redisUrl(), cluster);
    const s = store(redisUrl(), prefix);
    expect(s.fenceWrites(recordOf(self))).toBe(true);
    const id = { type: "Counter", key: "big" };
    // Before join: no member id, nothing goes out.
    await expect(s.save(id, bytes("early"), null)).rejects.toBeInstanceOf(WriteFencedError);
    await self.join({ id: "s1", address: "127.0.0.1:1", startedAt: Date.now() });
    const large = new Uint8Array(300 * 1024).fill(7);
    const v0 = await s.save(id, large, null);
    const small = { type: "Counter", key: "small" };
    const w0 = await s.save(small, bytes("x"), null);
    // Declared dead (as a peer's heartbeat script would: the status hash entry says so).
    await s.client.hset(recordOf(self).key, "s1", "dead");
    await expect(s.save(id, large, v0)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(s.save(small, bytes("y"), w0)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(s.delete(small, w0)).rejects.toBeInstanceOf(WriteFencedError);
    await expect(s.delete(small)).rejects.toBeInstanceOf(WriteFencedError);
    expect(s.fencedWrites).toBe(4);
    // One line for the silo id, however many of its writes are refused.
    expect(warnings.filter((w) => /Redis refused state writes of silo s1/.test(w))).toHaveLength(1);
    // Nothing changed, and the refused large write left no temporary key behind.
    expect((await s.load(id))?.version).toBe(v0);
    expect(text((await s.load(small))?.data)).toBe("x");
    expect((await s.client.keys(`${prefix}*`)).sort()).toEqual([s.keyOf(id), s.keyOf(small)].sort());
  });

  it("fences reminder puts and deletes the same way, so a late one cannot undo what the new owner set", async () => {
    const cluster = uniqueName("fence");
    const self = member(redisUrl(), cluster);
    await self.join({ id: "s1", address: "127.0.0.1:1", startedAt: Date.now() });
    const reminders = redisReminderStore({
      url: redisUrl(),
      key: uniqueName("reminders"),
      log: (level, message) => level === "warn" && warnings.push(message),
    });
    cleanup.push(() => reminders.close());
    expect(reminders.fenceWrites(recordOf(self))).toBe(true);
    const actor = { type: "Counter", key: "r" };
    const reminder = { actor, name: "tick", dueAt: 1_000, periodMs: 500, missedTotal: 0, failures: 0 };
    await reminders.put(reminder);
    await reminders.put({ ...reminder, name: "gone" });
    await reminders.delete(actor, "gone");
    expect((await reminders.list()).map((r) => r.name)).toEqual(["tick"]);
    // Declared dead (as a peer's heartbeat script would: the status hash entry says so).
    await store(redisUrl(), "unused:").client.hset(recordOf(self).key, "s1", "dead");
    await expect(reminders.put({ ...reminder, dueAt: 9_000 })).rejects.toBeInstanceOf(WriteFencedError);
    await expect(reminders.delete(actor, "tick")).rejects.toBeInstanceOf(WriteFencedError);
    expect(await reminders.get(actor, "tick")).toEqual(reminder);
    expect(reminders.fencedWrites).toBe(2);
    expect(warnings.filter((w) => /Redis refused reminder writes of silo s1 as fenced/.test(w))).toHaveLength(1);
  });

  it("uses only a Redis record on its own server and database", async () => {
    const cluster = uniqueName("fence");
    const record = recordOf(member(redisUrl(), cluster));
    expect(record.kind).toBe("redis");
    expect(record.member()).toBeUndefined();
    const otherDb = new URL(redisUrl());
    otherDb.pathname = "/3";
    expect(store(otherDb.toString(), "x:").fenceWrites(record)).toBe(false);
    expect(store(redisUrl(), "x:").fenceWrites({ ...record, kind: "etcd" })).toBe(false);
    expect(store(redisUrl(), "x:").fenceWrites(record)).toBe(true);
  });
});
