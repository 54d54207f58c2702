import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { s3ClientConfig } from "@praas/testing";
import { freshBucket, s3Server } from "@praas/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The local S3 server answers conditional writes as AWS S3 does; the stores'
 * fencing depends on it, so it is tested on its own, through the real SDK.
 */
/** An upload body of one chunk, then nothing: the upload stays open until its client gives up. */
function stalledBody(): { body: Readable; firstChunkTaken: Promise<void> } {
  let reads = 0;
  let taken!: () => void;
  const firstChunkTaken = new Promise<void>((resolve) => {
    taken = resolve;
  });
  const body = new Readable({
    read() {
      if (++reads === 1) this.push(Buffer.alloc(64 * 1024, 1));
      else taken();
    },
  });
  return { body, firstChunkTaken };
}

describe("local S3 server preconditions", () => {
  let client: S3Client;
  let Bucket: string;
  beforeAll(async () => {
    client = new S3Client(s3ClientConfig(s3Server()));
    Bucket = await freshBucket("s3srv");
  });
  afterAll(() => client.destroy());

  async function put(Key: string, body: string, cond: { IfMatch?: string; IfNoneMatch?: string } = {}) {
    return client.send(new PutObjectCommand({ Bucket, Key, Body: body, ...cond }));
  }
  async function text(Key: string): Promise<string> {
    const res = await client.send(new GetObjectCommand({ Bucket, Key }));
    return (await res.Body?.transformToString()) ?? "";
  }
  async function failure(p: Promise<unknown>): Promise<S3ServiceException> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(S3ServiceException);
    return err as S3ServiceException;
  }

  it("If-None-Match: * creates once, then answers 412 PreconditionFailed", async () => {
    const first = await put("create", "one", { IfNoneMatch: "*" });
    expect(first.ETag).toMatch(/^".+"$/);
    const err = await failure(put("create", "two", { IfNoneMatch: "*" }));
    expect(err.$metadata.httpStatusCode).toBe(412);
    expect(err.name).toBe("PreconditionFailed");
    expect(await text("create")).toBe("one");
  });

  it("If-Match writes only over the named ETag", async () => {
    const v1 = (await put("cas", "one")).ETag as string;
    const v2 = (await put("cas", "two", { IfMatch: v1 })).ETag as string;
    expect(v2).not.toBe(v1);
    const err = await failure(put("cas", "three", { IfMatch: v1 }));
    expect(err.$metadata.httpStatusCode).toBe(412);
    expect(await text("cas")).toBe("two");
    const missing = await failure(put("cas-missing", "x", { IfMatch: v1 }));
    expect(missing.$metadata.httpStatusCode).toBe(412);
  });

  it("serializes conditional writes per key: of 10 racing creates exactly one wins", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => put("race", `writer ${i}`, { IfNoneMatch: "*" })),
    );
    const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(await text("race")).toBe(`writer ${winners[0]}`);
  });

  it("stores streamed uploads intact and answers only once they are complete", async () => {
    const data = randomBytes(8 * 2 ** 20);
    const chunks = Array.from({ length: 8 }, (_, i) => data.subarray(i * 2 ** 20, (i + 1) * 2 ** 20));
    await client.send(
      new PutObjectCommand({ Bucket, Key: "streamed", Body: Readable.from(chunks), ContentLength: data.length }),
    );
    const res = await client.send(new GetObjectCommand({ Bucket, Key: "streamed" }));
    expect(Buffer.from((await res.Body?.transformToByteArray()) ?? []).equals(data)).toBe(true);
  });

  it.each([
    ["a plain upload", undefined],
    ["an upload refused by its condition", '"not-it"'],
  ])("keeps serving an object after %s is cut off mid-body", async (_what, IfMatch) => {
    await put("cut", "first");
    // The client gives up while sending the body (as a silo abandoning its writes does).
    const { body, firstChunkTaken } = stalledBody();
    const abort = new AbortController();
    const refused = client
      .send(new PutObjectCommand({ Bucket, Key: "cut", Body: body, ContentLength: 10 * 2 ** 20, IfMatch }), {
        abortSignal: abort.signal,
      })
      .catch((e: unknown) => e);
    await firstChunkTaken;
    abort.abort();
    expect(await refused).toBeInstanceOf(Error);
    // The object is as it was, and the cut upload holds nothing: later requests are answered.
    const read = await client.send(new GetObjectCommand({ Bucket, Key: "cut" }), {
      abortSignal: AbortSignal.timeout(5_000),
    });
    expect(await read.Body?.transformToString()).toBe("first");
    await put("cut", "second");
    expect(await text("cut")).toBe("second");
  });

  it.each([
    ["a plain upload", undefined],
    ["an upload refused by its condition", '"not-it"'],
  ])("keeps serving an object after %s is reset (TCP RST) while it waits for its turn", async (_what, IfMatch) => {
    await put("queued", "first");
    // An upload that holds the object's queue.
    const { body, firstChunkTaken } = stalledBody();
    const holder = new AbortController();
    const holding = client
      .send(new PutObjectCommand({ Bucket, Key: "queued", Body: body, ContentLength: 4 * 2 ** 20 }), {
        abortSignal: holder.signal,
      })
      .catch((e: unknown) => e);
    await firstChunkTaken;
    // A complete upload on its own connection queues behind it; then its connection is reset, as a
    // silo abandoning its writes resets them (no retry: the SDK would resend it on a new connection).
    const agent = new Agent({ keepAlive: true });
    const waiting = new S3Client({
      ...s3ClientConfig(s3Server()),
      requestHandler: { httpAgent: agent },
      maxAttempts: 1,
    });
    try {
      const sent = new Promise<void>((resolve) => {
        const check = (): void => {
          const sockets = Object.values(agent.sockets).flat();
          if (
            sockets.length > 0 &&
            sockets.every((s) => s !== undefined && s.writableLength === 0 && s.bytesWritten > 0)
          )
            resolve();
          else setImmediate(check);
        };
        check();
      });
      const queued = waiting
        .send(new PutObjectCommand({ Bucket, Key: "queued", Body: "second", IfMatch }))
        .catch((e: unknown) => e);
      await sent;
      // A round trip on a third connection, about another object: the server has read the queued
      // request by its end.
      await put("queued-probe", "x");
      for (const s of Object.values(agent.sockets).flat()) s?.resetAndDestroy();
      expect(await queued).toBeInstanceOf(Error);
      holder.abort();
      expect(await holding).toBeInstanceOf(Error);
      // Neither upload took effect, and the object answers.
      const read = await client.send(new GetObjectCommand({ Bucket, Key: "queued" }), {
        abortSignal: AbortSignal.timeout(5_000),
      });
      expect(await read.Body?.transformToString()).toBe("first");
    } finally {
      waiting.destroy();
      agent.destroy();
    }
  });

  it("honours If-Match on delete, and a conditional delete of nothing is a no-op", async () => {
    const v1 = (await put("del", "one")).ETag as string;
    await put("del", "two", { IfMatch: v1 });
    const err = await failure(client.send(new DeleteObjectCommand({ Bucket, Key: "del", IfMatch: v1 })));
    expect(err.$metadata.httpStatusCode).toBe(412);
    expect(await text("del")).toBe("two");
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: "del" }));
    await client.send(new DeleteObjectCommand({ Bucket, Key: "del", IfMatch: head.ETag }));
    const gone = await failure(client.send(new HeadObjectCommand({ Bucket, Key: "del" })));
    expect(gone.$metadata.httpStatusCode).toBe(404);
    await client.send(new DeleteObjectCommand({ Bucket, Key: "never-there", IfMatch: v1 }));
  });
});
