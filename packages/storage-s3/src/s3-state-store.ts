import { createHash } from "node:crypto";
import type { Agent } from "node:http";
import type { Duplex } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import {
  type ActorId,
  CorruptStateError,
  InvalidArgumentError,
  PraasError,
  registerErrorClass,
  StateConflictError,
  type StateStore,
  type StoredState,
  StoreTimeoutError,
} from "@praas/core/internal";
import { decodeObject, encodeObject, S3_OBJECT_FORMAT } from "./object-format.js";
import { resolveS3Options, type S3StorageOptions } from "./options.js";
import { WriteWindow } from "./write-window.js";

/**
 * Actor state on S3 or an S3-compatible server (MinIO, R2): one object per
 * actor at `<prefix><Type>/<key>`, versioned by its ETag. Every write is
 * conditional — `If-None-Match: *` when nothing may exist yet, `If-Match:
 * <etag>` otherwise — so a stale activation's write is refused by S3 itself
 * (412 PreconditionFailed or 409 ConditionalRequestConflict) and surfaces as
 * `StateConflictError`.
 *
 * S3 has no multi-object write, so there is nothing to group; instead the
 * writes of different actors run side by side, at most `writeConcurrency`
 * at once (a bounded window), each resolving when S3 has acknowledged it.
 */
export class S3StateStore implements StateStore {
  readonly kind = "s3";
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #writes: WriteWindow;
  readonly #agents: readonly Agent[];
  readonly #requestTimeoutMs: number;
  /** Writes accepted and not settled (queued in the window or in flight): what `abandonWrites` fails. */
  readonly #pending = new Set<AbortController>();

  constructor(options: S3StorageOptions) {
    const resolved = resolveS3Options(options);
    this.bucket = resolved.bucket;
    this.prefix = resolved.prefix;
    this.#client = resolved.client;
    this.#ownsClient = resolved.ownsClient;
    this.#writes = new WriteWindow(resolved.writeConcurrency);
    this.#agents = resolved.agents;
    this.#requestTimeoutMs = resolved.requestTimeoutMs;
  }

  /** Writes in flight now (at most `writeConcurrency`). */
  get writesInFlight(): number {
    return this.#writes.inFlight;
  }

  /** The SDK client (for tests and diagnostics). */
  get client(): S3Client {
    return this.#client;
  }

  /**
   * The object key of an actor. Type and key are percent-encoded so that any
   * key (slashes, "..", unicode) maps to one readable, unambiguous S3 key; a key
   * too long for S3's 1024-byte limit is replaced by its SHA-256.
   */
  keyOf(id: ActorId): string {
    const key = `${this.prefix}${encodeURIComponent(id.type)}/${encodeURIComponent(id.key)}`;
    if (Buffer.byteLength(key) <= 1024) return key;
    return `${this.prefix}${encodeURIComponent(id.type)}/~${createHash("sha256").update(id.key).digest("hex")}`;
  }

  describe(id: ActorId): string {
    return `s3://${this.bucket}/${this.keyOf(id)}`;
  }

  async load(id: ActorId): Promise<StoredState | undefined> {
    let body: Uint8Array;
    let etag: string | undefined;
    let format: string | undefined;
    try {
      // The deadline covers the body too: a read can stall after its headers as well as before.
      body = await this.#timed(id, "read", undefined, async (abortSignal) => {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyOf(id) }), {
          abortSignal,
        });
        etag = res.ETag;
        format = res.Metadata?.["praas-format"];
        if (res.Body === undefined) throw new CorruptStateError(this.describe(id), "S3 returned no body");
        return res.Body.transformToByteArray();
      });
    } catch (err) {
      if (isMissingKey(err)) return undefined;
      throw err;
    }
    if (format !== undefined && format !== String(S3_OBJECT_FORMAT)) {
      throw new CorruptStateError(
        this.describe(id),
        `object format ${JSON.stringify(format)} is not supported (expected ${S3_OBJECT_FORMAT})`,
      );
    }
    const decoded = decodeObject(body);
    if ("problem" in decoded) throw new CorruptStateError(this.describe(id), decoded.problem);
    if (etag === undefined) throw new CorruptStateError(this.describe(id), "S3 returned no ETag");
    return { data: decoded.record, version: etag };
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    if (expected === "") throw new InvalidArgumentError("expected version must be null or an ETag");
    const command = new PutObjectCommand({
      Bucket: this.bucket,
      Key: this.keyOf(id),
      Body: encodeObject(data),
      ContentType: "application/vnd.praas.state",
      Metadata: { "praas-format": String(S3_OBJECT_FORMAT) },
      ...(expected === null ? { IfNoneMatch: "*" } : { IfMatch: expected }),
    });
    let etag: string | undefined;
    try {
      etag = (await this.#write(id, "write", (abortSignal) => this.#client.send(command, { abortSignal }))).ETag;
    } catch (err) {
      const status = statusOf(err);
      // 412: the precondition failed; 409: a concurrent conditional write won;
      // 404: If-Match named an object that no longer exists.
      if (status === 412 || status === 409 || (isMissingKey(err) && expected !== null)) {
        throw new StateConflictError(this.describe(id), expected);
      }
      throw err;
    }
    if (etag === undefined) {
      throw new Error(
        `S3 accepted the write to ${this.describe(id)} but returned no ETag; conditional writes need one`,
      );
    }
    return etag;
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const Key = this.keyOf(id);
    try {
      await this.#write(id, "delete", (abortSignal) =>
        this.#client.send(
          new DeleteObjectCommand({
            Bucket: this.bucket,
            Key,
            ...(expected === undefined ? {} : { IfMatch: expected }),
          }),
          { abortSignal },
        ),
      );
    } catch (err) {
      if (isMissingKey(err)) return; // already gone
      const status = statusOf(err);
      if (status !== 412 && status !== 409) throw err;
      // Some servers answer 412 for a conditional delete of nothing: deleting nothing is fine.
      if (!(await this.#exists(id, Key))) return;
      throw new StateConflictError(this.describe(id), expected ?? null);
    }
  }

  async close(): Promise<void> {
    if (this.#ownsClient) this.#client.destroy();
  }

  /**
   * Fail every write not settled yet — queued or in flight — so that none of
   * them can reach S3 later (see `StateStore.abandonWrites`). The sockets of
   * requests in flight are reset (TCP RST): a plain close would still let the
   * kernel deliver the bytes it holds for them once the network is back,
   * which is the very write to stop. Their requests are aborted (the SDK
   * makes no further attempts). With a client of your own, whose sockets the
   * store cannot reach, only the abort is done.
   */
  abandonWrites(): void {
    for (const agent of this.#agents) {
      for (const sockets of Object.values(agent.sockets)) {
        for (const socket of sockets ?? []) resetSocket(socket);
      }
    }
    for (const ac of this.#pending) ac.abort();
    this.#pending.clear();
  }

  /** A write through the window that `abandonWrites` can fail, timed from when it leaves the window's queue. */
  async #write<T>(id: ActorId, what: Operation, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    this.#pending.add(ac);
    try {
      return await this.#writes.run(() => {
        if (ac.signal.aborted) throw new WriteAbandonedError(this.describe(id));
        return this.#timed(id, what, ac, send);
      });
    } catch (err) {
      if (ac.signal.aborted && !(err instanceof StoreTimeoutError)) throw new WriteAbandonedError(this.describe(id));
      throw err;
    } finally {
      this.#pending.delete(ac);
    }
  }

  /**
   * Run one operation under the request timeout: past it the operation is aborted (the SDK closes
   * its socket and makes no further attempt) and fails with `StoreTimeoutError`. `ac`: the
   * operation's own controller, when something else (abandonWrites) may abort it too.
   */
  async #timed<T>(
    id: ActorId,
    what: Operation,
    ac: AbortController | undefined,
    run: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const controller = ac ?? new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#requestTimeoutMs);
    try {
      return await run(controller.signal);
    } catch (err) {
      if (timedOut) throw new StoreTimeoutError("S3", what, this.describe(id), this.#requestTimeoutMs);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #exists(id: ActorId, Key: string): Promise<boolean> {
    try {
      await this.#timed(id, "read", undefined, (abortSignal) =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), { abortSignal }),
      );
      return true;
    } catch (err) {
      if (isMissingKey(err)) return false;
      throw err;
    }
  }
}

/**
 * A write given up before S3 answered (`abandonWrites`: the silo lost its
 * membership lease). It may or may not have reached S3 before that, and it
 * will not after.
 */
export class WriteAbandonedError extends PraasError {
  constructor(location: string) {
    super(
      "STORE_WRITE_ABANDONED",
      `The write to ${location} was abandoned (the silo stopped serving: another silo may take over its actors), so that it cannot land later; it may or may not have been stored before`,
      { retryable: true },
    );
  }
}

// Rebuilt as itself when it reaches a caller in this process.
registerErrorClass("STORE_WRITE_ABANDONED", WriteAbandonedError);

type Operation = "read" | "write" | "delete";

/** Close a socket with a TCP RST, dropping what it still holds to send; a plain close where that is not possible. */
function resetSocket(socket: Duplex): void {
  const s = socket as Duplex & { resetAndDestroy?: () => unknown };
  try {
    if (typeof s.resetAndDestroy === "function") {
      s.resetAndDestroy();
      return;
    }
  } catch {
    // A socket without a TCP handle (TLS over something else): closed below.
  }
  socket.destroy();
}

/** HTTP status of an SDK error, if it carries one. */
function statusOf(err: unknown): number | undefined {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

/** A 404 about the object, not about the bucket (a missing bucket must not look like "no state"). */
function isMissingKey(err: unknown): boolean {
  return statusOf(err) === 404 && (err as { name?: unknown }).name !== "NoSuchBucket";
}

/** An S3 state store: `s3Storage({ bucket: "my-bucket", prefix: "praas/" })`. */
export function s3Storage(options: S3StorageOptions): S3StateStore {
  return new S3StateStore(options);
}
