import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { MemoryStateStore } from "@praas/core";
import { FileStateStore, LmdbStateStore } from "@praas/silo";
import { describeStateStoreConformance } from "@praas/testing/conformance";
import { afterAll } from "vitest";

// Redis and S3 run the same suite in packages/redis/test and packages/storage-s3/test.

describeStateStoreConformance("memory", {
  makeStore: () => new MemoryStateStore(),
  largeStateBytes: 50 * 2 ** 20,
});

const folders: string[] = [];
afterAll(async () => {
  await Promise.all(folders.map((d) => rm(d, { recursive: true, force: true })));
});

async function plantFile(path: string, content: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
}

describeStateStoreConformance("filesystem", {
  makeStore: async () => {
    const dir = await mkdtemp(join(tmpdir(), "praas-conf-"));
    folders.push(dir);
    return new FileStateStore(dir);
  },
  largeStateBytes: 50 * 2 ** 20,
  foreignObjects: {
    "a file written by something else": (store, id) => plantFile(store.describe(id), "not ours"),
    "an empty file": (store, id) => plantFile(store.describe(id), ""),
    "a truncated header": (store, id) => plantFile(store.describe(id), "PRAASFS1abc"),
  },
});

describeStateStoreConformance("embedded (LMDB)", {
  makeStore: async () => {
    const dir = await mkdtemp(join(tmpdir(), "praas-conf-lmdb-"));
    folders.push(dir);
    return new LmdbStateStore(dir);
  },
  largeStateBytes: 50 * 2 ** 20,
});
