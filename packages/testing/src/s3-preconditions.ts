import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { finished, pipeline } from "node:stream/promises";

/**
 * s3rver 3.7.1 ignores `If-Match` / `If-None-Match` on writes, and its
 * filesystem store answers a PUT before the bytes are on disk (it resolves when
 * its hashing transform finishes, not when the file stream does) and updates
 * the object and its ETag file non-atomically. Conditional writes are the whole
 * point of our stores, so this module adds what AWS S3 and MinIO do:
 *
 * - a Koa middleware placed before s3rver's router that evaluates the
 *   preconditions against the current object and answers 412
 *   PreconditionFailed (S3's XML error body) when they do not hold;
 * - one queue per object key for every request on that object, so "check the
 *   ETag, then write" is atomic and a read never sees half a write;
 * - a `putObject` that writes to a temp file and renames it into place only
 *   once the data is flushed.
 */

/** The bits of a Koa context this middleware touches. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  req: Readable;
  status: number;
  body: unknown;
  type: string;
  set(field: string, value: string): void;
  store: FilesystemStoreLike;
}

interface FilesystemStoreLike {
  getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: S3ObjectLike): Promise<{ size: number; md5: string }>;
}

interface S3ObjectLike {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}

type Next = () => Promise<void>;

/** Query parameters that do not make a request about something other than the object itself. */
const PLAIN_QUERY = new Set(["x-id"]);

export function preconditionMiddleware(): (ctx: KoaContext, next: Next) => Promise<void> {
  const queues = new Map<string, Promise<void>>();

  return async function s3Preconditions(ctx, next) {
    const target = objectOf(ctx.path);
    if (target === undefined) return next();
    const release = await enqueue(queues, `${target.bucket}/${target.key}`);
    try {
      if (isPlainRequest(ctx) && (ctx.method === "PUT" || ctx.method === "DELETE")) {
        const failed = await failedCondition(ctx, target.bucket, target.key);
        if (failed !== undefined) {
          // Read the upload we refuse, so the client's connection stays usable. Until it ends, or
          // the client gives up on it: an upload reset mid-body (a silo abandoning its writes) ends
          // with neither "end" nor "error", and waiting for those held this key's queue, and every
          // later request on the object, for ever.
          ctx.req.resume();
          await finished(ctx.req).catch(() => {});
          if (failed === "absent") {
            ctx.status = 204; // deleting nothing is not an error, conditional or not
            return;
          }
          respondPreconditionFailed(ctx, failed);
          return;
        }
      }
      await next();
    } finally {
      release();
    }
  };
}

/** Which condition does not hold ("absent": a conditional delete of nothing), or undefined. */
async function failedCondition(
  ctx: KoaContext,
  bucket: string,
  key: string,
): Promise<"If-Match" | "If-None-Match" | "absent" | undefined> {
  const ifMatch = header(ctx, "if-match");
  const ifNoneMatch = header(ctx, "if-none-match");
  if (ifMatch === undefined && ifNoneMatch === undefined) return undefined;
  const current = await currentEtag(ctx.store, bucket, key);
  if (ifMatch !== undefined) {
    if (current === undefined) return ctx.method === "DELETE" ? "absent" : "If-Match";
    if (!matches(ifMatch, current)) return "If-Match";
  }
  if (ifNoneMatch !== undefined && current !== undefined && matches(ifNoneMatch, current)) return "If-None-Match";
  return undefined;
}

async function currentEtag(store: FilesystemStoreLike, bucket: string, key: string): Promise<string | undefined> {
  try {
    return (await store.getMetadata(bucket, key)).etag;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** RFC 7232 list matching: "*" matches any current object; weak prefixes and quotes are ignored. */
function matches(condition: string, etag: string): boolean {
  const want = normalizeEtag(etag);
  return condition
    .split(",")
    .map((s) => s.trim())
    .some((c) => c === "*" || normalizeEtag(c) === want);
}

function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

function respondPreconditionFailed(ctx: KoaContext, condition: string): void {
  const message = "At least one of the pre-conditions you specified did not hold";
  ctx.status = 412;
  ctx.type = "application/xml";
  ctx.set("x-amz-error-code", "PreconditionFailed");
  ctx.set("x-amz-error-message", message);
  ctx.body = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<Error><Code>PreconditionFailed</Code><Message>${message}</Message>` +
      `<Condition>${condition}</Condition><RequestId>${randomBytes(8).toString("hex")}</RequestId></Error>`,
  ].join("\n");
}

function header(ctx: KoaContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

function isPlainRequest(ctx: KoaContext): boolean {
  if (ctx.headers["x-amz-copy-source"] !== undefined) return false;
  return Object.keys(ctx.query).every((k) => PLAIN_QUERY.has(k));
}

/** Bucket and key of a path-style object URL, or undefined for bucket and service requests. */
function objectOf(path: string): { bucket: string; key: string } | undefined {
  const m = /^\/([^/]+)\/(.+)$/.exec(path);
  if (m === null) return undefined;
  try {
    return { bucket: decodeURIComponent(m[1] as string), key: decodeURIComponent(m[2] as string) };
  } catch {
    return undefined; // malformed escapes: let s3rver answer as it does
  }
}

/** Wait for our turn on `key`; the returned function lets the next request in. */
async function enqueue(queues: Map<string, Promise<void>>, key: string): Promise<() => void> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  await previous;
  return () => {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  };
}

/**
 * Replace the store's `putObject` with one that is atomic and complete when it
 * returns: stream to a temp file (in `tmpDir`, outside the bucket folders so
 * listings never show it), rename it over the object, then write the ETag.
 */
export function makePutsAtomic(store: FilesystemStoreLike, tmpDir: string): void {
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, "object");
    await mkdir(dirname(objectPath), { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(8).toString("hex")}.tmp`);
    const md5 = createHash("md5");
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      if (Buffer.isBuffer(object.content)) {
        const content = object.content;
        hashing.end(content);
        await pipeline(hashing, createWriteStream(tmp));
      } else {
        await pipeline(object.content, hashing, createWriteStream(tmp));
      }
      await rename(tmp, objectPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest("hex");
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}
