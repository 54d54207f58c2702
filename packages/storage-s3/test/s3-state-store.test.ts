import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { InvalidArgumentError, type StateStore } from "@praas/core";
import { S3_OBJECT_FORMAT, S3StateStore, s3Storage, WriteAbandonedError } from "@praas/storage-s3";
import { s3ClientConfig } from "@praas/testing";
import { describeStateStoreConformance } from "@praas/testing/conformance";
import { freshBucket, s3Server, uniqueName } from "@praas/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let bucket: string;
/** A plain SDK client next to the store's, to plant foreign objects and look at what the store wrote. */
let raw: S3Client;
beforeAll(async () => {
  bucket = await freshBucket("s3store");
  raw = new S3Client(s3ClientConfig(s3Server()));
});
afterAll(() => raw.destroy());

function storeOptions(prefix: string) {
  const s3 = s3Server();
  return {
    bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  };
}

async function putRaw(store: StateStore, id: { type: string; key: string }, body: Uint8Array | string, meta = {}) {
  await raw.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: (store as S3StateStore).keyOf(id),
      Body: body,
      ContentLength: Buffer.byteLength(body),
      Metadata: meta,
    }),
  );
}

describeStateStoreConformance("S3", {
  makeStore: () => s3Storage(storeOptions(uniqueName("conf"))),
  largeStateBytes: 50 * 2 ** 20,
  foreignObjects: {
    "an object written by something else": (store, id) => putRaw(store, id, "just some text, no header"),
    "an empty object": (store, id) => putRaw(store, id, ""),
    "an object of a newer format (header)": (store, id) =>
      putRaw(store, id, Buffer.concat([Buffer.from("PRAASS3"), Buffer.from([9]), Buffer.alloc(16)])),
    "an object of a newer format (metadata)": (store, id) =>
      putRaw(store, id, Buffer.concat([Buffer.from("PRAASS3"), Buffer.from([1]), Buffer.alloc(16)]), {
        "praas-format": "2",
      }),
  },
});

describe("S3StateStore", () => {
  it("rejects bad options with InvalidArgumentError", () => {
    const s3 = s3Server();
    const bad: unknown[] = [
      undefined,
      {},
      { bucket: "" },
      { bucket: "has space" },
      { bucket: "a/b" },
      { bucket: "ok", prefix: 3 },
      { bucket: "ok", endpoint: "not a url" },
      { bucket: "ok", endpoint: "ftp://x" },
      { bucket: "ok", region: "" },
      { bucket: "ok", forcePathStyle: "yes" },
      { bucket: "ok", credentials: { accessKeyId: "x" } },
      { bucket: "ok", client: {} },
      { bucket: "ok", client: raw, endpoint: s3.endpoint },
      { bucket: "ok", writeConcurrency: 0 },
      { bucket: "ok", writeConcurrency: 2.5 },
      { bucket: "ok", writeConcurrency: "8" },
    ];
    for (const [i, options] of bad.entries()) {
      expect(() => new S3StateStore(options as never), `case ${i}`).toThrow(InvalidArgumentError);
    }
  });

  it("runs the writes of different actors side by side, never more than writeConcurrency at once", async () => {
    const store = new S3StateStore({ ...storeOptions(uniqueName("window")), writeConcurrency: 3 });
    try {
      const seen: number[] = [];
      const writes = Array.from({ length: 12 }, (_, i) =>
        store.save({ type: "W", key: `k${i}` }, new Uint8Array([i]), null).then((v) => {
          seen.push(store.writesInFlight);
          return v;
        }),
      );
      // All twelve were issued at once: three went out, nine wait.
      expect(store.writesInFlight).toBe(3);
      expect(new Set(await Promise.all(writes)).size).toBe(12);
      expect(Math.max(...seen)).toBeLessThanOrEqual(3);
      expect(store.writesInFlight).toBe(0);
      for (let i = 0; i < 12; i++)
        expect([...((await store.load({ type: "W", key: `k${i}` }))?.data ?? [])]).toEqual([i]);
    } finally {
      await store.close();
    }
  });

  it("abandons the writes not settled yet: they fail at once, a queued one is never sent, and the store goes on", async () => {
    const store = new S3StateStore({ ...storeOptions(uniqueName("abandon")), writeConcurrency: 1 });
    try {
      const v0 = await store.save({ type: "A", key: "sent" }, new Uint8Array([0]), null);
      const inFlight = store.save({ type: "A", key: "sent" }, new Uint8Array(4 << 20).fill(1), v0);
      const queued = store.save({ type: "A", key: "queued" }, new Uint8Array([2]), null);
      expect(store.writesInFlight).toBe(1);
      store.abandonWrites();
      await expect(inFlight).rejects.toBeInstanceOf(WriteAbandonedError);
      await expect(queued).rejects.toMatchObject({ code: "STORE_WRITE_ABANDONED", retryable: true });
      expect(store.writesInFlight).toBe(0);
      // The queued write never went out; the one in flight was cut before S3 answered.
      expect(await store.load({ type: "A", key: "queued" })).toBeUndefined();
      const sent = await store.load({ type: "A", key: "sent" });
      expect(sent?.version).toBe(v0);
      // Later writes are not affected.
      const v1 = await store.save({ type: "A", key: "sent" }, new Uint8Array([3]), v0);
      expect([...((await store.load({ type: "A", key: "sent" }))?.data ?? [])]).toEqual([3]);
      expect(v1).not.toBe(v0);
    } finally {
      await store.close();
    }
  });

  it("writes one object per actor under the prefix, tagged with the format", async () => {
    const prefix = uniqueName("layout");
    const store = s3Storage(storeOptions(prefix)); // no trailing slash: one is added
    try {
      const id = { type: "Cart", key: "u/42 ü" };
      const version = await store.save(id, new Uint8Array([1, 2, 3]), null);
      const key = store.keyOf(id);
      expect(key).toBe(`${prefix}/Cart/${encodeURIComponent("u/42 ü")}`);
      expect(store.describe(id)).toBe(`s3://${bucket}/${key}`);
      const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ETag).toBe(version);
      expect(head.Metadata?.["praas-format"]).toBe(String(S3_OBJECT_FORMAT));
      const body = await (
        await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      ).Body?.transformToByteArray();
      const bytes = Buffer.from(body ?? []);
      expect(bytes.subarray(0, 7).toString()).toBe("PRAASS3");
      expect([...bytes.subarray(-3)]).toEqual([1, 2, 3]);
    } finally {
      await store.close();
    }
  });

  it("works with a client it was given, and leaves it usable", async () => {
    const client = new S3Client(s3ClientConfig(s3Server()));
    const store = s3Storage({ bucket, prefix: uniqueName("client"), client });
    const id = { type: "A", key: "1" };
    const v = await store.save(id, new Uint8Array([5]), null);
    await store.close();
    const again = s3Storage({ bucket, prefix: store.prefix, client });
    expect((await again.load(id))?.version).toBe(v);
    client.destroy();
  });

  it("reports a missing bucket as an error, not as missing state", async () => {
    const store = s3Storage({ ...storeOptions("x"), bucket: "no-such-bucket-here" });
    try {
      await expect(store.load({ type: "A", key: "1" })).rejects.toMatchObject({ name: "NoSuchBucket" });
      await expect(store.save({ type: "A", key: "1" }, new Uint8Array([1]), null)).rejects.toMatchObject({
        name: "NoSuchBucket",
      });
    } finally {
      await store.close();
    }
  });
});
