import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { CorruptStateError, StateDirLockedError } from "@praas/core/internal";
import type * as Lmdb from "lmdb";
import type { Database, RootDatabase } from "lmdb";
import type { EmbeddedStoreOptions } from "./embedded-options.js";
import { LoggedWrites } from "./embedded-writes.js";
import { claimFolder, type OpenMode, type OwnerToken, releaseFolder } from "./state-dir-lock.js";
import { LOG_FILE, readLog } from "./state-log.js";

/**
 * The embedded store's one LMDB environment in a state folder, shared by the
 * state store and the reminder store of that folder, and, where this process
 * has the folder to itself, their commit log (embedded-writes.ts), through
 * which both write, in the same appends.
 *
 * Layout (private to this module; do not rely on it): `<stateDir>/store.lmdb/`
 * holds LMDB's `data.mdb` and `lock.mdb`, the commit log `commit.log`, and
 * `owners/` with one file per process that has the folder open (see
 * state-dir-lock.ts). The name cannot clash with the file store's `<Type>/`
 * folders (type names never contain a raw "." there: it is percent-encoded).
 *
 * Writes that go straight to LMDB (a shared folder, a large state, the
 * log's own transfers to LMDB) use lmdb-js's group commit: every write issued
 * in one event-loop turn goes into one transaction, and `durable` resolves
 * once its transaction is on disk (fsync'd), so an acknowledged write
 * survives a process crash and a power loss.
 */
export const STORE_FOLDER = "store.lmdb";
const FORMAT = 1;

/** Versions are `epoch × 2³² + counter`: unique across restarts and across processes sharing the folder. */
const COUNTER_SPAN = 2 ** 32;
const MAX_EPOCH = Math.floor(Number.MAX_SAFE_INTEGER / COUNTER_SPAN);

/** LMDB refuses keys over 1978 bytes: longer ones are stored under a hash. */
const MAX_KEY_BYTES = 1900;

/**
 * lmdb-js, loaded on the first open rather than at import: a process that
 * never opens the embedded store (`praas call`, a silo on S3) does not load
 * the native library.
 */
let lmdb: typeof Lmdb | undefined;
function loadLmdb(): typeof Lmdb {
  lmdb ??= createRequire(import.meta.url)("lmdb") as typeof Lmdb;
  return lmdb;
}

/** Environments open in this process, by folder: a second handle on one folder shares the first. */
const openHere = new Map<string, EmbeddedEnvironment>();

export class EmbeddedEnvironment {
  readonly stateDir: string;
  readonly path: string;
  readonly mode: OpenMode;
  /** @internal */
  readonly root: RootDatabase<unknown, string>;
  /** @internal Actor state: raw record bytes, versioned. */
  readonly state: Database<Buffer, string>;
  /** @internal Durable reminders: CBOR records. */
  readonly reminders: Database<Buffer, string>;
  /** @internal Format, version epochs, import marker. */
  readonly meta: Database<unknown, string>;
  readonly #owner: OwnerToken;
  #refs = 1;
  #epoch = 0;
  #counter = 0;
  #closed: Promise<void> | undefined;

  /**
   * Open (or join, within this process) the embedded store of `stateDir`.
   * Throws {@link StateDirLockedError} when another live process holds it.
   */
  static open(stateDir: string, options?: EmbeddedStoreOptions): EmbeddedEnvironment {
    const mode: OpenMode = options?.shared === true ? "shared" : "exclusive";
    const dir = resolve(stateDir);
    const here = openHere.get(dir);
    if (here !== undefined) {
      if (mode === "shared" && here.mode === "shared") return here.acquire();
      throw new StateDirLockedError(
        dir,
        here.#owner.record,
        "this process already has the folder open: share one store object (or open both with { shared: true })",
      );
    }
    const env = new EmbeddedEnvironment(dir, mode);
    openHere.set(dir, env);
    return env;
  }

  private constructor(stateDir: string, mode: OpenMode) {
    this.stateDir = stateDir;
    this.mode = mode;
    this.path = join(stateDir, STORE_FOLDER);
    mkdirSync(this.path, { recursive: true });
    // separateFlushed: lmdb-js resolves a write when its transaction commits
    // (visible, and kept across a process crash) and flushes it to disk right
    // after ("overlapping sync", its default on Linux); each write promise then
    // carries a `flushed` promise, which `durable` waits for.
    this.root = loadLmdb().open<unknown, string>({
      path: this.path,
      noSubdir: false,
      maxDbs: 8,
      separateFlushed: true,
    });
    try {
      this.state = this.root.openDB<Buffer, string>("state", { encoding: "binary", useVersions: true });
      this.reminders = this.root.openDB<Buffer, string>("reminders", { encoding: "binary" });
      this.meta = this.root.openDB<unknown, string>("meta", { encoding: "json" });
      // One write transaction: LMDB's inter-process writer lock makes
      // "check the owners, claim, take an epoch" atomic across processes.
      this.#owner = this.root.transactionSync(() => {
        const format = this.meta.get("format");
        if (format === undefined) this.meta.putSync("format", FORMAT);
        else if (format !== FORMAT) {
          throw new CorruptStateError(
            this.path,
            `store format ${String(format)} is not supported (expected ${FORMAT})`,
          );
        }
        const owner = claimFolder(join(this.path, "owners"), stateDir, mode);
        try {
          this.#takeEpoch();
          // In the claim's transaction: no other process can be writing the log now.
          this.#replayLog();
        } catch (err) {
          releaseFolder(owner);
          throw err;
        }
        return owner;
      });
      try {
        // Where this process alone has the folder, writes go through the commit log.
        this.writes = mode === "exclusive" ? new LoggedWrites(this, join(this.path, LOG_FILE)) : undefined;
      } catch (err) {
        releaseFolder(this.#owner);
        throw err;
      }
    } catch (err) {
      void this.root.close().catch(() => {});
      throw err;
    }
  }

  /**
   * @internal The commit log's write path (embedded-writes.ts), shared by the
   * state and reminder stores of this folder; undefined where the folder is
   * `shared` (their writes then go straight to LMDB).
   */
  readonly writes: LoggedWrites | undefined;

  /** @internal Resolves once LMDB's last write is on disk. */
  get flushed(): PromiseLike<unknown> {
    return this.root.flushed;
  }

  /** One more handle on this environment (a reminder store beside the state store, a shared open). */
  acquire(): this {
    if (this.#closed !== undefined) throw new Error(`the embedded store in ${this.stateDir} is closed`);
    this.#refs++;
    return this;
  }

  /** Drop a handle; the last one waits for every write to be on disk, closes LMDB and gives the folder up. */
  release(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    if (--this.#refs > 0) return Promise.resolve();
    this.#closed = (async () => {
      try {
        await this.writes?.close();
        await this.root.flushed;
      } finally {
        if (openHere.get(this.stateDir) === this) openHere.delete(this.stateDir);
        await this.root.close();
        releaseFolder(this.#owner);
      }
    })();
    return this.#closed;
  }

  /**
   * Drop the handle of an open that failed after the claim (the import
   * refused or failed). Nothing is pending, since the claim and the import
   * commit synchronously, so when it was the last handle the folder is free
   * again before this returns.
   */
  abandon(): void {
    if (this.#closed !== undefined) return;
    if (--this.#refs > 0) return; // another handle in this process still uses it
    if (openHere.get(this.stateDir) === this) openHere.delete(this.stateDir);
    // Nothing was written through it: keep the file as it is (it may hold a replay not yet flushed).
    this.writes?.dispose();
    releaseFolder(this.#owner);
    this.#closed = this.root.close().catch(() => {});
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * @internal The result of an lmdb-js write once its transaction is on disk
   * (fsync'd), not only committed: an acknowledged write must survive a power
   * loss, not just a crash of this process. Writes of one event-loop turn share
   * a transaction, so they share the flush too.
   */
  async durable<T>(write: Promise<T>): Promise<T> {
    const result = await write;
    const flushed = (write as Promise<T> & { flushed?: PromiseLike<unknown> }).flushed;
    if (flushed !== undefined) await flushed;
    return result;
  }

  /**
   * Put into LMDB what the commit log holds (writes acknowledged by an
   * earlier run that may not have reached LMDB before it ended), in the
   * order they were made, inside the claim's transaction. A record applies only over
   * older state: LMDB may already hold it or newer (versions only grow). The
   * log's generation is noted in the same transaction, so a replayed log is
   * never replayed again, even while its records are still in the file.
   */
  #replayLog(): void {
    const { records, generation } = readLog(join(this.path, LOG_FILE));
    if (records.length === 0 || this.meta.get("replayedLog") === generation) return;
    for (const r of records) {
      if (r.table === "reminders") {
        // No versions in that table: every reminder write goes through the log, so the
        // records, in order, end where the last acknowledged one left the key.
        if (r.value === null) this.reminders.removeSync(r.key);
        else this.reminders.putSync(r.key, Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        continue;
      }
      const current = this.state.getEntry(r.key)?.version;
      if (r.value === null) {
        if (current !== undefined && current < r.version) this.state.removeSync(r.key);
      } else if (current === undefined || current < r.version) {
        this.state.putSync(r.key, Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength), r.version);
      }
    }
    this.meta.putSync("replayedLog", generation);
    this.replayed = records.length;
  }

  /** Records of the commit log put into LMDB on open (0: none were waiting). */
  replayed = 0;

  /** A version no write in this folder has had or will have. */
  nextVersion(): number {
    if (++this.#counter >= COUNTER_SPAN) this.root.transactionSync(() => this.#takeEpoch());
    return this.#epoch * COUNTER_SPAN + this.#counter;
  }

  #takeEpoch(): void {
    const last = this.meta.get("epoch");
    const epoch = (typeof last === "number" ? last : 0) + 1;
    if (epoch > MAX_EPOCH) throw new Error(`the embedded store in ${this.stateDir} ran out of version epochs`);
    this.meta.putSync("epoch", epoch);
    this.#epoch = epoch;
    this.#counter = 1;
  }
}

/** The LMDB key of a name: itself, or a hash when it is too long for LMDB. "#" never starts a type name. */
export function lmdbKey(name: string): string {
  if (Buffer.byteLength(name) <= MAX_KEY_BYTES) return name;
  return `#h:${createHash("sha256").update(name).digest("hex")}`;
}

/** A version string as LMDB's number, or undefined when it cannot be one of ours (it then matches nothing). */
export function parseVersion(version: string): number | undefined {
  // A loop, not a regular expression: this runs on every write, usually cold.
  const n = version.length;
  if (n === 0 || n > 16 || version.charCodeAt(0) === 48) return undefined;
  for (let i = 0; i < n; i++) {
    const c = version.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  const v = Number(version);
  return Number.isSafeInteger(v) ? v : undefined;
}
