import { join } from "node:path";
import {
  type ActorId,
  formatActorId,
  GroupCommit,
  type GroupItem,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core/internal";
import { EmbeddedEnvironment, lmdbKey, parseVersion, STORE_FOLDER } from "./embedded-environment.js";
import type { EmbeddedStoreOptions } from "./embedded-options.js";
import { adoptHashedFileState, type FileImportReport, forgetHashedFileState, importFileStore } from "./fs-import.js";
import { LmdbReminderStore } from "./lmdb-reminder-store.js";
import { LOG_FILE, type LogRecord, StateLog } from "./state-log.js";

/** The commit log's size (see state-log.ts): written once when the folder is first opened. */
const LOG_BYTES = 4 * 1024 * 1024;
/** Larger records skip the log: their write goes straight to LMDB (two flushes, but no double write of big values). */
const LOG_RECORD_MAX = 16 * 1024;
/** Writes per log append; with LOG_RECORD_MAX this keeps one append well under LOG_BYTES. */
const LOG_BATCH = 128;
/**
 * How long logged writes wait before they go to LMDB (in one transaction); a
 * full log sends them at once. Each LMDB commit costs the disk two flushes
 * that compete with the log's, so fewer, larger ones; the wait also bounds
 * how many versions of a hot key are kept in memory (one: the newest).
 */
const APPLY_AFTER_MS = 50;

/**
 * The newest write of a key that LMDB does not hold yet: what loads and
 * conditional writes see first.
 */
interface Pending {
  readonly version: number;
  /** The stored bytes (a copy of the caller's); null for a deletion. */
  readonly value: Uint8Array | null;
  /** In the log on disk: acknowledged, and may go to LMDB. */
  logged: boolean;
  /** Written straight to LMDB (a large record): its own write takes it there. */
  readonly direct: boolean;
  /** The pending write this one replaced, put back if this one fails; dropped once this one is logged. */
  previous: Pending | undefined;
}

interface LogItem extends GroupItem {
  readonly key: string;
  readonly entry: Pending;
}

/**
 * The embedded default: actor state in an LMDB database inside the state
 * folder (lmdb-js), with a commit log in front of it.
 *
 * Where this process alone has the folder, a write is checked against the
 * key's newest version (a write LMDB does not hold yet counts), kept in
 * memory and appended to the commit log (state-log.ts); writes that arrive
 * while an append is in flight share the next one (group commit). Once the
 * append is on disk — one flush — the write is acknowledged; LMDB gets the
 * logged writes some 50 ms later in one transaction, off the
 * caller's path, and on the next open whatever the log holds that LMDB does
 * not is put back first. Records above LOG_RECORD_MAX, and every write of a
 * folder opened `shared`, go straight to LMDB as a conditional put checked by
 * LMDB inside its commit (two flushes).
 *
 * One process owns the folder: opening it from a second one throws
 * `StateDirLockedError` naming the first (unless both open it `shared`).
 * State left by the old file store (`<dir>/<Type>/<key>.praas`) is imported
 * on the first open (see fs-import.ts).
 */
export class LmdbStateStore implements StateStore {
  readonly kind = "lmdb";
  readonly dir: string;
  /** What the first open imported from the old file store (undefined: nothing to import, or imported earlier). */
  readonly imported: FileImportReport | undefined;
  /**
   * Writes this open took from the commit log into LMDB: acknowledged by a
   * process that ended (crashed, was killed) before they reached LMDB. 0 after
   * a clean close.
   */
  readonly replayed: number;
  readonly #env: EmbeddedEnvironment;
  /** The commit log: only where this process alone has the folder (not `shared`). */
  readonly #log: StateLog | undefined;
  readonly #appends: GroupCommit<LogItem>;
  readonly #pending = new Map<string, Pending>();
  /** LMDB holds what was replayed from the log on disk: until then the log's old records must not be overwritten. */
  #replayFlushed: PromiseLike<unknown> | undefined;
  #applying: Promise<void> | undefined;
  #applyTimer: NodeJS.Timeout | undefined;
  #applyFailures = 0;
  #closed = false;

  constructor(dir: string, options?: EmbeddedStoreOptions) {
    this.#env = EmbeddedEnvironment.open(dir, options);
    this.dir = this.#env.stateDir;
    this.replayed = this.#env.replayed;
    try {
      this.imported = importFileStore(this.#env);
      if (this.#env.mode === "exclusive") {
        this.#log = new StateLog(join(this.#env.path, LOG_FILE), LOG_BYTES, this.#env.nextVersion());
        // Always, not only after a replay of ours: a replay by a process that died before LMDB
        // flushed it is only in the page cache, and flushing our claim's commit flushes it too.
        this.#replayFlushed = this.#env.root.flushed;
      }
    } catch (err) {
      this.#env.abandon();
      throw err;
    }
    // Appends start as soon as the code that issued the write yields: when idle the flush is
    // the wait, so an event-loop phase less is that much less per acknowledgement; under load
    // writes gather behind the append in flight anyway.
    this.#appends = new GroupCommit<LogItem>((batch) => this.#append(batch), {
      maxBatch: LOG_BATCH,
      start: "microtask",
    });
  }

  /**
   * Durable reminders in the same LMDB environment (a separate table), so a
   * turn's state write and its reminder changes commit together. Closing
   * either store leaves the other working; the folder is given up when both are closed.
   */
  reminderStore(): LmdbReminderStore {
    return new LmdbReminderStore(this.#env.acquire());
  }

  describe(id: ActorId): string {
    return `${this.#env.path} key ${JSON.stringify(formatActorId(id))}`;
  }

  async load(id: ActorId): Promise<StoredState | undefined> {
    const key = lmdbKey(formatActorId(id));
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      return pending.value === null
        ? undefined
        : { data: new Uint8Array(pending.value), version: String(pending.version) };
    }
    let entry = this.#env.state.getEntry(key);
    if (entry === undefined && (await adoptHashedFileState(this.#env, id, key))) {
      entry = this.#env.state.getEntry(key);
    }
    if (entry === undefined) return undefined;
    // getEntry copies the bytes out of the memory map: the caller may change them.
    return { data: entry.value, version: String(entry.version) };
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    const key = lmdbKey(formatActorId(id));
    const ifVersion = expected === null ? null : parseVersion(expected);
    if (ifVersion === undefined) throw this.#conflict(id, key, expected);
    if (this.#log !== undefined && StateLog.recordBytes(key, data.byteLength) <= LOG_RECORD_MAX) {
      if (!this.#holds(key, ifVersion)) throw this.#conflict(id, key, expected);
      return this.#logged(key, new Uint8Array(data));
    }
    return this.#direct(id, key, expected, ifVersion, data);
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = lmdbKey(formatActorId(id));
    if (expected === undefined) {
      // State imported from the file store and not yet loaded must not come back on the next load.
      if (this.#log !== undefined) {
        await Promise.all([this.#logged(key, null), forgetHashedFileState(this.#env, id)]);
        return;
      }
      await Promise.all([this.#env.durable(this.#env.state.remove(key)), forgetHashedFileState(this.#env, id)]);
      return;
    }
    const ifVersion = parseVersion(expected);
    if (this.#log !== undefined) {
      if (ifVersion !== undefined && this.#holds(key, ifVersion)) {
        await this.#logged(key, null);
        return;
      }
      // Not removed: fine if nothing is there, a conflict if something else is.
      if (!this.#holds(key, null)) throw this.#conflict(id, key, expected);
      return;
    }
    if (ifVersion !== undefined && (await this.#env.durable(this.#env.state.remove(key, ifVersion)))) return;
    if (this.#env.state.getEntry(key) === undefined) return;
    throw this.#conflict(id, key, expected);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#log !== undefined) {
        await this.#appends.idle();
        clearTimeout(this.#applyTimer);
        await this.#applyAll();
        // Everything the log held is in LMDB on disk: the next open has nothing to read.
        this.#log.clear();
      }
    } finally {
      this.#log?.close();
      await this.#env.release();
    }
  }

  /** Is `version` (null: nothing) what the key holds now, counting writes LMDB does not have yet? */
  #holds(key: string, version: number | null): boolean {
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      return version === null
        ? pending.value === null && !pending.direct
        : pending.value !== null && pending.version === version;
    }
    // doesExist(key, null) is lmdb-js's "is absent"; with a number it compares the entry's version (no copy).
    return this.#env.state.doesExist(key, version as number);
  }

  /** A write (null: a deletion) through the log: acknowledged once its append is on disk. */
  #logged(key: string, value: Uint8Array | null): Promise<string> {
    const entry: Pending = {
      version: this.#env.nextVersion(),
      value,
      logged: false,
      direct: false,
      previous: this.#pending.get(key),
    };
    this.#pending.set(key, entry);
    return new Promise((resolve, reject) => this.#appends.add({ key, entry, resolve, reject }));
  }

  /**
   * A write straight to LMDB (a record too large for the log, or a shared
   * folder): LMDB checks the version. The key's logged writes go to LMDB
   * first, so LMDB holds what the condition is about; a pending entry marks
   * the write in flight, so a write racing it from the log fails its check.
   */
  async #direct(id: ActorId, key: string, expected: string | null, ifVersion: number | null, data: Uint8Array) {
    let entry: Pending | undefined;
    if (this.#log !== undefined) {
      await this.#settle(key);
      if (this.#pending.has(key)) throw this.#conflict(id, key, expected);
      entry = { version: this.#env.nextVersion(), value: data, logged: false, direct: true, previous: undefined };
      this.#pending.set(key, entry);
    }
    const version = entry?.version ?? this.#env.nextVersion();
    try {
      // A view, not a copy: LMDB copies the bytes into the transaction. The
      // caller does not touch them until the promise settles.
      const value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      // `null` as ifVersion is lmdb-js's "only if absent" (MDB_NOOVERWRITE).
      const written = await this.#env.durable(this.#env.state.put(key, value, version, ifVersion as number));
      if (!written) throw this.#conflict(id, key, expected);
      return String(version);
    } finally {
      if (entry !== undefined && this.#pending.get(key) === entry) this.#pending.delete(key);
    }
  }

  /** Wait until LMDB holds every logged write of `key` (or another direct write of it is in flight). */
  async #settle(key: string): Promise<void> {
    for (let p = this.#pending.get(key); p !== undefined && !p.direct; p = this.#pending.get(key)) {
      if (p.logged) await this.#applyAll();
      else await this.#appends.idle();
    }
  }

  /** One append of a batch of writes: the one flush their callers wait for. */
  async #append(batch: LogItem[]): Promise<void> {
    const log = this.#log as StateLog;
    const records: LogRecord[] = batch.map(({ key, entry }) => ({ key, version: entry.version, value: entry.value }));
    let bytes = 0;
    for (const r of records) bytes += StateLog.recordBytes(r.key, r.value?.byteLength ?? 0);
    try {
      if (this.#replayFlushed !== undefined) {
        await this.#replayFlushed;
        this.#replayFlushed = undefined;
      }
      if (bytes > log.free) {
        // The log starts again at its beginning: LMDB must durably hold what it holds first.
        await this.#applyAll();
        log.restart(this.#env.nextVersion());
      }
      await log.append(records);
    } catch (err) {
      for (const { key, entry } of batch) {
        if (this.#pending.get(key) !== entry) continue;
        // Back to the newest write of the key that is in the log (an older one of this batch failed too).
        let previous = entry.previous;
        while (previous !== undefined && !previous.logged) previous = previous.previous;
        if (previous === undefined) this.#pending.delete(key);
        else this.#pending.set(key, previous);
      }
      throw err;
    }
    for (const item of batch) {
      item.entry.logged = true;
      // Nothing to fall back to any more: a hot key must not keep a chain of its old versions.
      item.entry.previous = undefined;
      item.resolve(String(item.entry.version));
    }
    this.#scheduleApply(APPLY_AFTER_MS);
  }

  #scheduleApply(ms: number): void {
    if (this.#applyTimer !== undefined || this.#closed) return;
    this.#applyTimer = setTimeout(() => {
      this.#applyTimer = undefined;
      this.#applyAll().then(
        () => {
          this.#applyFailures = 0;
        },
        () => {
          // Acknowledged writes are safe in the log meanwhile; the log filling up
          // makes the next append wait for LMDB (and fail if it still cannot write).
          this.#applyFailures++;
          this.#scheduleApply(Math.min(1000, APPLY_AFTER_MS * 2 ** this.#applyFailures));
        },
      );
    }, ms);
    // Never what keeps a process alive: what is not in LMDB yet is in the log.
    this.#applyTimer.unref();
  }

  /** Put every logged write into LMDB in one transaction and wait until it is on disk. */
  async #applyAll(): Promise<void> {
    while (this.#applying !== undefined) await this.#applying.catch(() => {});
    const batch: [string, Pending][] = [];
    for (const item of this.#pending) if (item[1].logged) batch.push(item);
    if (batch.length === 0) return;
    const { state } = this.#env;
    let last: Promise<boolean> | undefined;
    for (const [key, p] of batch) {
      last =
        p.value === null
          ? state.remove(key)
          : state.put(key, Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength), p.version);
    }
    this.#applying = (async () => {
      try {
        await this.#env.durable(last as Promise<boolean>);
        for (const [key, p] of batch) if (this.#pending.get(key) === p) this.#pending.delete(key);
      } finally {
        this.#applying = undefined;
      }
    })();
    return this.#applying;
  }

  #conflict(id: ActorId, key: string, expected: string | null): StateConflictError {
    const pending = this.#pending.get(key);
    const found =
      pending !== undefined ? (pending.value === null ? undefined : pending) : this.#env.state.getEntry(key);
    return new StateConflictError(this.describe(id), expected, found === undefined ? null : String(found.version));
  }
}

/** The folder the embedded store keeps inside a state directory (for messages and docs). */
export const EMBEDDED_STORE_FOLDER = STORE_FOLDER;
