/**
 * A what-if for the `durable` suite, NOT a store to use: the write path of a
 * write-ahead log in front of LMDB, to measure what "one flush per commit"
 * would buy over LMDB's two (data pages, then the meta page).
 *
 * A save is checked against the newest version (pending or in LMDB), kept in
 * memory, and acknowledged once the batch it joined is appended to a
 * pre-written file with O_DSYNC (one flush; group commit: writes that arrive
 * while an append is in flight share the next). LMDB gets the pending writes
 * every few milliseconds, not on the reply's path.
 *
 * What it leaves out, and a real one would need: replay of the log on open,
 * a safe wrap of the log (only once LMDB has flushed what it holds), deletes,
 * large values, two processes on one folder. So it is not crash-safe, and is
 * only ever used by the bench's child process on a scratch folder.
 */
import { closeSync, fdatasyncSync, constants as fsConstants, mkdirSync, openSync, write, writeSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { type ActorId, formatActorId, GroupCommit, StateConflictError, type StateStore } from "@praas/core/internal";
import { open as openLmdb, type RootDatabase } from "lmdb";

/** The log file's size, written once up front so an append overwrites allocated blocks (no size change to flush). */
const LOG_BYTES = 64 * 1024 * 1024;
/** How often pending writes go to LMDB. */
const APPLY_EVERY_MS = 20;
/** Per record: length, CRC-32, version (float64), key length. */
const HEADER_BYTES = 4 + 4 + 8 + 4;

interface Pending {
  readonly version: number;
  readonly value: Buffer;
}

interface LogItem {
  readonly key: string;
  readonly entry: Pending;
  resolve(version: string): void;
  reject(error: unknown): void;
}

export class LogSketchStore implements StateStore {
  readonly kind = "log-sketch";
  readonly #root: RootDatabase<Buffer, string>;
  readonly #state;
  readonly #fd: number;
  readonly #log: GroupCommit<LogItem>;
  readonly #pending = new Map<string, Pending>();
  readonly #timer: NodeJS.Timeout;
  #offset = 0;
  #version = 0;
  #applying = false;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.#root = openLmdb<Buffer, string>({ path: join(dir, "lmdb"), noSubdir: false, separateFlushed: true });
    this.#state = this.#root.openDB<Buffer, string>("state", { encoding: "binary", useVersions: true });
    const file = join(dir, "log");
    const init = openSync(file, "w");
    writeSync(init, Buffer.alloc(LOG_BYTES));
    fdatasyncSync(init);
    closeSync(init);
    this.#fd = openSync(file, fsConstants.O_WRONLY | fsConstants.O_DSYNC);
    this.#log = new GroupCommit<LogItem>((batch) => this.#append(batch));
    this.#timer = setInterval(() => void this.#apply(), APPLY_EVERY_MS);
  }

  describe(id: ActorId): string {
    return formatActorId(id);
  }

  async load(id: ActorId) {
    const key = formatActorId(id);
    const pending = this.#pending.get(key);
    if (pending !== undefined) return { data: new Uint8Array(pending.value), version: String(pending.version) };
    const entry = this.#state.getEntry(key);
    return entry === undefined ? undefined : { data: entry.value, version: String(entry.version) };
  }

  save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    const key = formatActorId(id);
    const current = this.#pending.get(key)?.version ?? this.#state.getEntry(key)?.version;
    const found = current === undefined ? null : String(current);
    if (found !== expected) return Promise.reject(new StateConflictError(key, expected, found));
    const entry = { version: ++this.#version, value: Buffer.from(data) };
    this.#pending.set(key, entry);
    return new Promise((resolve, reject) => this.#log.add({ key, entry, resolve, reject }));
  }

  async delete(): Promise<void> {
    throw new Error("the log sketch does not delete");
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#log.idle();
    while (this.#applying) await new Promise((r) => setTimeout(r, 1));
    await this.#apply();
    await this.#root.close();
    closeSync(this.#fd);
  }

  /** One append of the whole batch: the single flush the replies wait for. */
  async #append(batch: LogItem[]): Promise<void> {
    const keys = batch.map((item) => Buffer.from(item.key));
    let size = 0;
    for (const [i, item] of batch.entries()) size += HEADER_BYTES + (keys[i]?.length ?? 0) + item.entry.value.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (const [i, item] of batch.entries()) {
      const key = keys[i] as Buffer;
      const start = at;
      out.writeUInt32LE(HEADER_BYTES + key.length + item.entry.value.length, at);
      out.writeDoubleLE(item.entry.version, at + 8);
      out.writeUInt32LE(key.length, at + 16);
      at += HEADER_BYTES;
      at += key.copy(out, at);
      at += item.entry.value.copy(out, at);
      out.writeUInt32LE(crc32(out.subarray(start + 8, at)), start + 4);
    }
    // The sketch wraps without waiting for LMDB: the one shortcut that matters for safety, none for speed.
    if (this.#offset + size > LOG_BYTES) this.#offset = 0;
    const position = this.#offset;
    this.#offset += size;
    await new Promise<void>((resolve, reject) =>
      write(this.#fd, out, 0, size, position, (err) => (err ? reject(err) : resolve())),
    );
    for (const item of batch) item.resolve(String(item.entry.version));
  }

  /** Pending writes to LMDB, off the replies' path. */
  async #apply(): Promise<void> {
    if (this.#applying || this.#pending.size === 0) return;
    this.#applying = true;
    try {
      const batch = [...this.#pending];
      let last: Promise<boolean> | undefined;
      for (const [key, entry] of batch) last = this.#state.put(key, entry.value, entry.version);
      await last;
      await (last as Promise<boolean> & { flushed?: PromiseLike<unknown> }).flushed;
      for (const [key, entry] of batch) if (this.#pending.get(key) === entry) this.#pending.delete(key);
    } finally {
      this.#applying = false;
    }
  }
}
