import { StoreTimeoutError } from "@praas/core";
import { RedisReminderStore, RedisStateStore } from "@praas/redis";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterEach, describe, expect, it } from "vitest";

/**
 * The Redis state store gives up on a command Redis does not answer
 * (`commandTimeoutMs`), so a connection the network black-holes cannot hold
 * the writes, and the actors behind them, until TCP gives up. The store talks
 * to Redis through a TCP proxy the test freezes: nothing flows, nobody is told.
 */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function frozenStore(): Promise<{ store: RedisStateStore; direct: RedisStateStore; proxy: TcpProxy }> {
  const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
  const keyPrefix = `${uniqueName("cmdtimeout")}:`;
  const store = new RedisStateStore({ url: `redis://127.0.0.1:${proxy.port}`, keyPrefix, commandTimeoutMs: 300 });
  const direct = new RedisStateStore({ url: redisUrl(), keyPrefix });
  cleanups.push(
    async () => {
      proxy.thaw();
      await proxy.close();
    },
    () => store.close(),
    () => direct.close(),
  );
  return { store, direct, proxy };
}

const id = { type: "Counter", key: "k" };
const other = { type: "Counter", key: "other" };

describe("Redis command timeout", () => {
  it("reads, writes and deletes Redis does not answer fail with the retryable STORE_TIMEOUT", async () => {
    const { store, direct, proxy } = await frozenStore();
    const v0 = await store.save(id, new Uint8Array([1]), null);
    proxy.freeze();
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    const failures = await Promise.all([
      failure(store.load(id)),
      failure(store.save(id, new Uint8Array([2]), v0)),
      failure(store.delete(other)),
    ]);
    for (const [i, what] of ["read", "write", "delete"].entries()) {
      const err = failures[i];
      expect(err).toBeInstanceOf(StoreTimeoutError);
      expect(err).toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
      expect((err as Error).message).toContain(`Redis did not answer the ${what} of redis key`);
    }
    // The write was given up on, not withdrawn: once the link heals, it is applied (a "turn"
    // activation whose write timed out was reset, and loads this on its next call).
    proxy.thaw();
    const now = await store.load(id);
    expect([...(now?.data ?? [])]).toEqual([2]);
    expect((await direct.load(id))?.version).toBe(now?.version);
  });

  it("a batch timed out does not hold up the writes after it", async () => {
    const { store, proxy } = await frozenStore();
    proxy.freeze();
    const stuck = store.save(id, new Uint8Array([1]), null);
    await expect(stuck).rejects.toBeInstanceOf(StoreTimeoutError);
    // The next batch is sent at once rather than after the stuck one answers; it times out too while frozen.
    const next = store.save(other, new Uint8Array([1]), null);
    await expect(next).rejects.toBeInstanceOf(StoreTimeoutError);
    proxy.thaw();
    const v = await store.load(other);
    expect([...(v?.data ?? [])]).toEqual([1]);
  });

  it("the reminder store's puts, reads, lists and deletes Redis does not answer fail with STORE_TIMEOUT", async () => {
    const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
    const reminders = new RedisReminderStore({
      url: `redis://127.0.0.1:${proxy.port}`,
      key: uniqueName("reminders"),
      commandTimeoutMs: 300,
    });
    cleanups.push(
      async () => {
        proxy.thaw();
        await proxy.close();
      },
      () => reminders.close(),
    );
    const record = { actor: id, name: "tick", dueAt: 1_000, missedTotal: 0, failures: 0 };
    await reminders.put(record);
    proxy.freeze();
    const failures = await Promise.all(
      [
        reminders.put({ ...record, dueAt: 2_000 }),
        reminders.get(id, "tick"),
        reminders.list(),
        reminders.delete(id, "tick"),
      ].map((p) =>
        (p as Promise<unknown>).then(
          () => undefined,
          (e: unknown) => e,
        ),
      ),
    );
    for (const err of failures) expect(err).toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
    proxy.thaw();
    // Given up on, not withdrawn: the put and the delete after it reach Redis in order once it answers.
    expect(await reminders.get(id, "tick")).toBeUndefined();
  });

  it("rejects a command timeout that is not a whole number of ms in 1…600000", () => {
    for (const commandTimeoutMs of [0, -5, 2.5, 600_001, Number.NaN, "100"]) {
      const options = { url: redisUrl(), commandTimeoutMs: commandTimeoutMs as number };
      expect(() => new RedisStateStore(options)).toThrow(/commandTimeoutMs must be an integer 1…600000/);
      expect(() => new RedisReminderStore(options)).toThrow(/commandTimeoutMs must be an integer 1…600000/);
    }
  });
});
