import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  type ActorId,
  CorruptStateError,
  type RetryPolicy,
  retryDelay,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core/internal";
import { writeFileAtomic } from "./atomic-file.js";

/**
 * The embedded default: one file per actor under a state folder,
 * `<dir>/<Type>/<key>.praas`.
 *
 * File layout: 8 bytes magic "PRAASFS1", 16 bytes random version token, then the
 * state record. A random token (not a counter, not the inode) is what makes
 * the conditional write safe: inode numbers are reused after a rename.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the folder) and
 * conditional. The compare-and-rename runs under a per-file lock: a promise
 * chain inside this process and an `O_EXCL` lock file across processes, so two
 * silos sharing one folder are fenced as they would be on S3.
 */
export class FileStateStore implements StateStore {
  readonly kind = "fs";
  readonly dir: string;
  readonly #lockStaleMs: number;

  constructor(dir: string, options?: { lockStaleMs?: number }) {
    this.dir = dir;
    this.#lockStaleMs = options?.lockStaleMs ?? 10_000;
  }

  describe(id: ActorId): string {
    return this.#path(id);
  }

  async load(id: ActorId): Promise<StoredState | undefined> {
    const file = this.#path(id);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    if (bytes.length < HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new CorruptStateError(file, "missing PraaS file header (truncated or not written by PraaS)");
    }
    return { data: bytes.subarray(HEADER), version: bytes.subarray(MAGIC.length, HEADER).toString("hex") };
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    const file = this.#path(id);
    await mkdir(join(file, ".."), { recursive: true });
    return this.#locked(file, async () => {
      const current = await readVersion(file);
      if (current !== expected) throw new StateConflictError(file, expected);
      const token = randomBytes(TOKEN);
      await writeFileAtomic(file, [MAGIC, token, data]);
      return token.toString("hex");
    });
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const file = this.#path(id);
    // No folder, no file: nothing to delete, and no place for the lock file.
    const folder = await stat(join(file, "..")).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (folder === undefined) return;
    await this.#locked(file, async () => {
      if (expected !== undefined) {
        const current = await readVersion(file);
        if (current !== null && current !== expected) throw new StateConflictError(file, expected);
      }
      await rm(file, { force: true });
    });
  }

  async close(): Promise<void> {}

  #path(id: ActorId): string {
    return join(this.dir, fileStoreName(id.type), `${fileStoreName(id.key)}${FILE_SUFFIX}`);
  }

  async #locked<T>(file: string, work: () => Promise<T>): Promise<T> {
    // In-process: chain on the previous holder, so we never spin on our own lock file.
    const previous = inProcessLocks.get(file) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const chained = previous.then(() => mine);
    inProcessLocks.set(file, chained);
    await previous;
    try {
      await this.#acquireLockFile(`${file}.lock`);
      try {
        return await work();
      } finally {
        await unlink(`${file}.lock`).catch(() => {});
      }
    } finally {
      release();
      if (inProcessLocks.get(file) === chained) inProcessLocks.delete(file);
    }
  }

  async #acquireLockFile(lock: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const h = await open(lock, "wx");
        await h.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      // Another process holds it. Break it if its holder evidently died.
      const info = await stat(lock).catch(() => undefined);
      if (info !== undefined && Date.now() - info.mtimeMs > this.#lockStaleMs) {
        await unlink(lock).catch(() => {});
        continue;
      }
      await new Promise((r) => setTimeout(r, retryDelay(LOCK_WAIT, attempt + 1)));
    }
  }
}

const MAGIC = Buffer.from("PRAASFS1", "ascii");
const TOKEN = 16;
const HEADER = MAGIC.length + TOKEN;
const FILE_SUFFIX = ".praas";

/** The file store's layout, for the embedded store's one-time import (fs-import.ts). */
export const FILE_STORE_LAYOUT = { magic: MAGIC, headerBytes: HEADER, suffix: FILE_SUFFIX } as const;
const inProcessLocks = new Map<string, Promise<void>>();
/** Waiting for another process's lock file: 1 ms doubling to 50 ms, jittered so waiters do not poll in step. */
const LOCK_WAIT: RetryPolicy = { initialDelayMs: 1, maxDelayMs: 50, jitter: "equal" };

async function readVersion(file: string): Promise<string | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const head = Buffer.alloc(HEADER);
    const { bytesRead } = await handle.read(head, 0, HEADER, 0);
    // A file we cannot read a version from can never match an expected version.
    if (bytesRead < HEADER || !head.subarray(0, MAGIC.length).equals(MAGIC)) return "corrupt";
    return head.subarray(MAGIC.length).toString("hex");
  } finally {
    await handle.close();
  }
}

/**
 * A file-name-safe form of a type or key: percent-encoding keeps it readable
 * and reversible; names too long for a file system get a hash instead.
 */
export function fileStoreName(name: string): string {
  const safe = encodeURIComponent(name).replace(/\./g, "%2E").replace(/\*/g, "%2A");
  if (Buffer.byteLength(safe) <= 200) return safe;
  return `~${createHash("sha256").update(name).digest("hex")}`;
}
