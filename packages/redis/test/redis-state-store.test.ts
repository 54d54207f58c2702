import { InvalidArgumentError, StateConflictError, type StateStore } from "@praas/core";
import { REDIS_STORE_FORMAT, RedisStateStore, redisStateStore } from "@praas/redis";
import { describeStateStoreConformance } from "@praas/testing/conformance";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Writes raw keys next to the store's, to plant foreign objects. */
let admin: Redis;
beforeAll(() => {
  admin = new Redis(redisUrl());
});
afterAll(() => admin.disconnect());

function keyOf(store: StateStore, id: { type: string; key: string }): string {
  return (store as RedisStateStore).keyOf(id);
}

describeStateStoreConformance("Redis", {
  makeStore: () => redisStateStore({ url: redisUrl(), keyPrefix: `${uniqueName("conf")}:` }),
  largeStateBytes: 10 * 2 ** 20,
  foreignObjects: {
    "a string key": async (store, id) => {
      await admin.set(keyOf(store, id), "hello");
    },
    "a list key": async (store, id) => {
      await admin.rpush(keyOf(store, id), "a", "b");
    },
    "a hash": async (store, id) => {
      await admin.hset(keyOf(store, id), { f: "1", v: "x", d: "data" });
    },
    "a value of a newer store format": async (store, id) => {
      await admin.set(keyOf(store, id), Buffer.concat([Buffer.from("PRAASRD"), Buffer.from([9]), Buffer.alloc(20)]));
    },
    "a truncated value": async (store, id) => {
      await admin.set(keyOf(store, id), Buffer.from("PRAASRD\u0001abc"));
    },
  },
});

describe("RedisStateStore", () => {
  it("rejects bad options with InvalidArgumentError", () => {
    const bad: unknown[] = [
      undefined,
      {},
      { url: "http://localhost:6379" },
      { url: "localhost:6379" },
      { url: redisUrl(), client: admin },
      { client: {} },
      { url: redisUrl(), keyPrefix: 42 },
    ];
    for (const [i, options] of bad.entries()) {
      expect(() => new RedisStateStore(options as never), `case ${i}`).toThrow(InvalidArgumentError);
    }
  });

  it("keeps one string per actor under the key prefix, tagged with the format, and no temporary keys", async () => {
    const prefix = `${uniqueName("layout")}:`;
    const store = redisStateStore({ url: redisUrl(), keyPrefix: prefix });
    try {
      const id = { type: "Cart", key: "u/42" };
      const v0 = await store.save(id, new Uint8Array([0]), null);
      // Racing writers: one wins, the others' temporary keys are dropped.
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.save(id, new Uint8Array([1, 2, i]), v0)),
      );
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(await admin.keys(`${prefix}*`)).toEqual([`${prefix}Cart/u/42`]);
      const value = (await admin.getBuffer(`${prefix}Cart/u/42`)) as Buffer;
      const version = (await store.load(id))?.version;
      expect(value.subarray(0, 7).toString()).toBe("PRAASRD");
      expect(value[7]).toBe(REDIS_STORE_FORMAT);
      expect(value.subarray(8, 24).toString("hex")).toBe(version);
      expect([...value.subarray(24, 26)]).toEqual([1, 2]);
      expect(await admin.pttl(`${prefix}Cart/u/42`)).toBe(-1); // no expiry carried over from the temporary key
      expect(store.describe(id)).toContain(`${prefix}Cart/u/42`);
    } finally {
      await store.close();
    }
  });

  it("commits the saves issued together in one script call; a conflict fails only its own key", async () => {
    const store = redisStateStore({ url: redisUrl(), keyPrefix: `${uniqueName("batch")}:` });
    try {
      const ids = Array.from({ length: 50 }, (_, i) => ({ type: "Batch", key: `k${i}` }));
      const first = await Promise.all(ids.map((id) => store.save(id, Buffer.from("v1"), null)));
      const sent: string[] = [];
      const client = store.client;
      const send = client.sendCommand.bind(client);
      client.sendCommand = ((command: { name: string }) => {
        sent.push(command.name);
        return send(command as never);
      }) as typeof client.sendCommand;
      // Key 7 is saved on a stale expectation ("nothing stored"): only it fails.
      const results = await Promise.allSettled(
        ids.map((id, i) => store.save(id, Buffer.from("v2"), i === 7 ? null : (first[i] as string))),
      );
      // One command for 50 saves: the batch script (the old path sent a SET and an EVALSHA per save).
      expect(sent.map((name) => name.toLowerCase())).toEqual(["evalsha"]);
      const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ i, reason: r.reason }] : []));
      expect(failed.map((f) => f.i)).toEqual([7]);
      expect(failed[0]?.reason).toBeInstanceOf(StateConflictError);
      expect((failed[0]?.reason as StateConflictError | undefined)?.found).toBe(first[7]);
      for (const [i, id] of ids.entries()) {
        expect((await store.load(id))?.data.toString()).toBe(i === 7 ? "v1" : "v2");
      }
    } finally {
      await store.close();
    }
  });

  it("uses a client it was given, and leaves it open on close", async () => {
    const client = new Redis(redisUrl());
    const store = redisStateStore({ client, keyPrefix: `${uniqueName("shared")}:` });
    const v = await store.save({ type: "A", key: "1" }, new Uint8Array([7]), null);
    await store.close();
    expect(client.status).toBe("ready");
    expect(await client.ping()).toBe("PONG");
    const again = redisStateStore({ client, keyPrefix: store.keyPrefix });
    expect((await again.load({ type: "A", key: "1" }))?.version).toBe(v);
    client.disconnect();
  });

  it("keeps compare-and-set working after the server forgets its scripts", async () => {
    const store = redisStateStore({ url: redisUrl(), keyPrefix: `${uniqueName("noscript")}:` });
    try {
      const id = { type: "A", key: "1" };
      const v1 = await store.save(id, new Uint8Array([1]), null);
      await admin.script("FLUSH");
      const v2 = await store.save(id, new Uint8Array([2]), v1);
      await admin.script("FLUSH");
      await expect(store.save(id, new Uint8Array([3]), v1)).rejects.toBeInstanceOf(StateConflictError);
      await admin.script("FLUSH");
      await expect(store.delete(id, v1)).rejects.toBeInstanceOf(StateConflictError);
      expect((await store.load(id))?.version).toBe(v2);
    } finally {
      await store.close();
    }
  });

  it("fails an operation, rather than hanging or losing it, once its connection is gone", async () => {
    const store = redisStateStore({ url: redisUrl(), keyPrefix: `${uniqueName("dead")}:` });
    const id = { type: "A", key: "1" };
    await store.save(id, new Uint8Array([1]), null);
    store.client.disconnect();
    await expect(store.save(id, new Uint8Array([2]), null)).rejects.toThrow(/Connection is closed/);
    await store.close();
    const reader = redisStateStore({ url: redisUrl(), keyPrefix: store.keyPrefix });
    expect([...((await reader.load(id))?.data ?? [])]).toEqual([1]);
    await reader.close();
  });
});
