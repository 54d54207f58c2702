import { type ActorId, decodeStateRecord, StoreTimeoutError } from "@praas/core";
import { ManualClock, Silo } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { freshBucket, s3Server, uniqueName } from "@praas/testing/vitest";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { TurnAccount } from "./actors.js";

/**
 * The S3 store gives up on a request S3 does not answer (`requestTimeoutMs`),
 * so a request black-holed by the network cannot hold an actor's writes, and
 * the actor, for ever. The requests go through a TCP proxy that swallows them:
 * S3 never sees them, and nobody is told.
 */

let bucket: string;
beforeAll(async () => {
  bucket = await freshBucket("s3timeout");
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A store whose requests pass through a proxy the test can make swallow them; and a direct one beside it. */
async function storesBehindProxy(requestTimeoutMs: number): Promise<{
  slow: S3StateStore;
  direct: S3StateStore;
  proxy: TcpProxy;
}> {
  const s3 = s3Server();
  const proxy = await startTcpProxy(Number(new URL(s3.endpoint).port));
  const common = {
    bucket,
    prefix: uniqueName("timeout"),
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  };
  const slow = new S3StateStore({ ...common, endpoint: `http://${proxy.host}:${proxy.port}`, requestTimeoutMs });
  const direct = new S3StateStore({ ...common, endpoint: s3.endpoint });
  cleanups.push(
    () => proxy.close(),
    () => slow.close(),
    () => direct.close(),
  );
  return { slow, direct, proxy };
}

const id: ActorId = { type: "TurnAccount", key: "k" };
const bytes = (...b: number[]) => new Uint8Array(b);

describe("S3 request timeout", () => {
  it("a read S3 never answers fails with the retryable STORE_TIMEOUT; the next one is served", async () => {
    const { slow, direct, proxy } = await storesBehindProxy(300);
    const v0 = await direct.save(id, bytes(1), null);
    const held = proxy.holdWhen(/^GET /m);
    const read = slow.load(id);
    await held;
    const err = await read.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreTimeoutError);
    expect(err).toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
    expect((err as Error).message).toMatch(/did not answer the read of s3:\/\/.+ within 300 ms$/);
    proxy.stopHolding();
    expect((await slow.load(id))?.version).toBe(v0);
  });

  it("a write S3 never answers fails with STORE_TIMEOUT, frees its place in the write window and never lands", async () => {
    const { slow, direct, proxy } = await storesBehindProxy(300);
    const v0 = await direct.save(id, bytes(1), null);
    const held = proxy.holdWhen(/^PUT /m);
    const write = slow.save(id, bytes(2), v0);
    await held;
    await expect(write).rejects.toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
    await expect(write).rejects.toThrow(/may or may not have been applied/);
    expect(slow.writesInFlight).toBe(0);
    proxy.stopHolding();
    // Nothing of it reached S3: the version it was based on is still current.
    const v1 = await slow.save(id, bytes(3), v0);
    const now = await direct.load(id);
    expect(now?.version).toBe(v1);
    expect([...(now?.data ?? [])]).toEqual([3]);
  });

  it("a delete S3 never answers fails with STORE_TIMEOUT", async () => {
    const { slow, direct, proxy } = await storesBehindProxy(300);
    const v0 = await direct.save(id, bytes(1), null);
    const held = proxy.holdWhen(/^DELETE /m);
    const gone = slow.delete(id, v0);
    await held;
    await expect(gone).rejects.toMatchObject({ code: "STORE_TIMEOUT" });
    proxy.stopHolding();
    expect((await direct.load(id))?.version).toBe(v0);
    await slow.delete(id, v0);
    expect(await direct.load(id)).toBeUndefined();
  });

  it("rejects a request timeout that is not a whole number of ms in 1…600000", () => {
    const s3 = s3Server();
    for (const requestTimeoutMs of [0, -1, 1.5, 600_001, "1000", Number.NaN]) {
      expect(
        () =>
          new S3StateStore({
            bucket,
            endpoint: s3.endpoint,
            requestTimeoutMs: requestTimeoutMs as number,
          }),
      ).toThrow(/requestTimeoutMs must be an integer 1…600000/);
    }
  });

  it('a "turn" actor whose write S3 never answers fails that call, then serves the next from what S3 holds', async () => {
    const { slow, direct, proxy } = await storesBehindProxy(300);
    const silo = await Silo.start({ actors: [TurnAccount], storage: slow, clock: new ManualClock() });
    cleanups.push(() => silo.stop());
    const ref = silo.ref(TurnAccount, "k");
    expect(await ref.deposit(1)).toBe(1);
    const held = proxy.holdWhen(/^PUT /m);
    const lost = ref.deposit(10);
    await held;
    await expect(lost).rejects.toMatchObject({ code: "STORE_TIMEOUT", retryable: true });
    proxy.stopHolding();
    // The activation dropped the change it could not write; the key is not stuck behind the lost write.
    expect(await ref.deposit(100)).toBe(101);
    const stored = await direct.load(id);
    expect(decodeStateRecord(stored?.data ?? bytes(), "s3").state).toEqual({ balance: 101 });
  });
});
