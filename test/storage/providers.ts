import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent } from "node:http";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { type ActorId, decodeStateRecord, MemoryStateStore, type StateStore } from "@praas/core";
import { RedisStateStore } from "@praas/redis";
import { FileStateStore, LmdbStateStore, type Silo } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { s3ClientConfig } from "@praas/testing";
import { freshBucket, redisUrl, s3Server, uniqueName } from "@praas/testing/vitest";

/**
 * The state stores the silo-level storage tests run against. A scope is one
 * shared place (a folder, a Redis key prefix, an S3 prefix); `open()` gives a
 * new handle onto it, as a second silo on another machine would have.
 */
export interface StoreScope {
  open(): StateStore;
  /** A handle whose connection can be cut for good (stores that have one). */
  openKillable?(): { store: StateStore; kill(): void };
  cleanup(): Promise<void>;
}

/** An HTTP agent that can be killed: open sockets are destroyed and new ones fail at once. */
class KillableAgent extends Agent {
  #killed = false;
  override createConnection(...args: Parameters<Agent["createConnection"]>): ReturnType<Agent["createConnection"]> {
    if (!this.#killed) return super.createConnection(...args);
    const socket = new Socket();
    process.nextTick(() => socket.destroy(new Error("connection killed by the test")));
    return socket;
  }
  kill(): void {
    this.#killed = true;
    this.destroy();
  }
}

export interface Provider {
  readonly name: string;
  scope(): Promise<StoreScope>;
}

let s3Bucket: Promise<string> | undefined;

export const providers: readonly Provider[] = [
  {
    name: "memory",
    async scope() {
      const shared = new MemoryStateStore();
      return { open: () => shared, cleanup: async () => {} };
    },
  },
  {
    name: "filesystem",
    async scope() {
      const dir = await mkdtemp(join(tmpdir(), "praas-storage-"));
      return { open: () => new FileStateStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    // Every handle opens the folder shared, as silos of one cluster on one host would.
    name: "embedded",
    async scope() {
      const dir = await mkdtemp(join(tmpdir(), "praas-storage-lmdb-"));
      return {
        open: () => new LmdbStateStore(dir, { shared: true }),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "redis",
    async scope() {
      const url = redisUrl();
      const keyPrefix = `${uniqueName("silo")}:`;
      return {
        open: () => new RedisStateStore({ url, keyPrefix }),
        openKillable: () => {
          const store = new RedisStateStore({ url, keyPrefix });
          return { store, kill: () => store.client.disconnect() };
        },
        cleanup: async () => {},
      };
    },
  },
  {
    name: "s3",
    async scope() {
      s3Bucket ??= freshBucket("silo");
      const bucket = await s3Bucket;
      const s3 = s3Server();
      const prefix = uniqueName("silo");
      return {
        open: () =>
          new S3StateStore({
            bucket,
            prefix,
            endpoint: s3.endpoint,
            region: s3.region,
            forcePathStyle: true,
            credentials: s3.credentials,
          }),
        openKillable: () => {
          const agent = new KillableAgent({ keepAlive: true });
          const client = new S3Client({ ...s3ClientConfig(s3), requestHandler: { httpAgent: agent }, maxAttempts: 1 });
          return { store: new S3StateStore({ bucket, prefix, client }), kill: () => agent.kill() };
        },
        cleanup: async () => {},
      };
    },
  },
];

/** The state stored for `id` (decoded), read through a fresh handle; undefined when nothing is stored. */
export async function storedState(scope: StoreScope, id: ActorId): Promise<unknown> {
  const record = await storedRecord(scope, id);
  return record?.state;
}

export async function storedRecord(
  scope: StoreScope,
  id: ActorId,
): Promise<{ stateVersion: number; state: unknown } | undefined> {
  const store = scope.open();
  try {
    const stored = await store.load(id);
    return stored === undefined ? undefined : decodeStateRecord(stored.data, store.describe(id));
  } finally {
    if (!(store instanceof MemoryStateStore)) await store.close();
  }
}

/** Resolves with [id, reason] at the silo's next deactivation. */
export function nextDeactivation(silo: Silo): Promise<unknown[]> {
  return once(silo, "deactivate");
}

/** Resolves with the error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; retryable?: boolean }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: string; retryable?: boolean };
  }
  throw new Error("expected the promise to reject, but it resolved");
}
