import {
  type ActorId,
  formatActorId,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core/internal";
import { EmbeddedEnvironment, lmdbKey, parseVersion, STORE_FOLDER } from "./embedded-environment.js";
import type { EmbeddedStoreOptions } from "./embedded-options.js";
import type { LoggedWrites } from "./embedded-writes.js";
import { adoptHashedFileState, type FileImportReport, forgetHashedFileState, importFileStore } from "./fs-import.js";
import { LmdbReminderStore } from "./lmdb-reminder-store.js";

/**
 * The embedded default: actor state in an LMDB database inside the state
 * folder (lmdb-js), with a commit log in front of it.
 *
 * Where this process alone has the folder, a write is checked against the
 * key's newest version (a write LMDB does not hold yet counts), kept in
 * memory and appended to the commit log (embedded-writes.ts, state-log.ts;
 * the reminder store of the folder writes through it too); writes that arrive
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
  /** The commit log's write path: only where this process alone has the folder (not `shared`). */
  readonly #log: LoggedWrites | undefined;
  #closed = false;

  constructor(dir: string, options?: EmbeddedStoreOptions) {
    this.#env = EmbeddedEnvironment.open(dir, options);
    this.dir = this.#env.stateDir;
    this.replayed = this.#env.replayed;
    this.#log = this.#env.writes;
    try {
      this.imported = importFileStore(this.#env);
    } catch (err) {
      this.#env.abandon();
      throw err;
    }
  }

  /**
   * Durable reminders in the same LMDB environment (a separate table); their
   * writes go through the same commit log, in the same appends as the state
   * writes of the moment. Closing either store leaves the other working; the
   * folder is given up when both are closed.
   */
  reminderStore(): LmdbReminderStore {
    return new LmdbReminderStore(this.#env.acquire());
  }

  describe(id: ActorId): string {
    return `${this.#env.path} key ${JSON.stringify(formatActorId(id))}`;
  }

  load(id: ActorId): Promise<StoredState | undefined> {
    return this.#load(id, true);
  }

  /**
   * A write LMDB does not hold yet is answered with the bytes in the commit log's record, not a
   * copy (see StateStore.loadShared), where that record has its append's buffer mostly to itself;
   * what LMDB holds is copied out of its memory map either way.
   */
  loadShared(id: ActorId): Promise<StoredState | undefined> {
    return this.#load(id, false);
  }

  async #load(id: ActorId, copy: boolean): Promise<StoredState | undefined> {
    const key = lmdbKey(formatActorId(id));
    const pending = this.#log?.pending("state", key);
    if (pending !== undefined) {
      const value = pending.value;
      if (value === null) return undefined;
      // The record's bytes never change, but the log hands them to LMDB later: a caller that may
      // change what it loaded gets a copy. So does one whose record shares its append's buffer
      // with others (a batch, Node's 8 KiB pool for a small append): the runtime keeps what it
      // loads while the actor is active, and a view would keep the whole buffer alive with it.
      // (A plain Uint8Array either way, as load gives: the log's record is a Buffer.)
      const shareable = !copy && value.byteLength * 2 >= value.buffer.byteLength;
      const data = shareable ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
      return { data, version: String(pending.version) };
    }
    let entry = this.#env.state.getEntry(key);
    if (entry === undefined && (await adoptHashedFileState(this.#env, id, key))) {
      entry = this.#env.state.getEntry(key);
    }
    if (entry === undefined) return undefined;
    // getEntry copies the bytes out of the memory map: the caller may change them.
    return { data: entry.value, version: String(entry.version) };
  }

  // Not async: the log's promise is the answer itself (one promise hop less per acknowledgement).
  save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    try {
      const key = lmdbKey(formatActorId(id));
      const log = this.#log;
      if (log?.takes(key, data.byteLength)) {
        // The common case, an activation writing again on the version this store just gave it:
        // that string is the key's newest write, so it holds, without parsing or another lookup.
        const pending = log.pending("state", key);
        if (expected === null || pending?.token !== expected || pending.value === null) {
          const ifVersion = expected === null ? null : parseVersion(expected);
          if (ifVersion === undefined || !this.#holds(key, ifVersion)) throw this.#conflict(id, key, expected);
        }
        const version = this.#env.nextVersion();
        // No copy: the log keeps the one in its record (the caller leaves `data` alone until answered).
        return log.write("state", key, data, version, String(version));
      }
      const ifVersion = expected === null ? null : parseVersion(expected);
      if (ifVersion === undefined) throw this.#conflict(id, key, expected);
      return this.#direct(id, key, expected, ifVersion, data);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = lmdbKey(formatActorId(id));
    const log = this.#log;
    if (expected === undefined) {
      // State imported from the file store and not yet loaded must not come back on the next load.
      const removed =
        log !== undefined
          ? log.write("state", key, null, this.#env.nextVersion())
          : this.#env.durable(this.#env.state.remove(key));
      await Promise.all([removed, forgetHashedFileState(this.#env, id)]);
      return;
    }
    const ifVersion = parseVersion(expected);
    if (log !== undefined) {
      if (ifVersion !== undefined && this.#holds(key, ifVersion)) {
        await log.write("state", key, null, this.#env.nextVersion());
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

  /** Writes through the commit log still to reach LMDB (the last handle's close puts them there). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.release();
  }

  /** Is `version` (null: nothing) what the key holds now, counting writes LMDB does not have yet? */
  #holds(key: string, version: number | null): boolean {
    const pending = this.#log?.pending("state", key);
    if (pending !== undefined) {
      return version === null
        ? pending.value === null && !pending.direct
        : pending.value !== null && pending.version === version;
    }
    // doesExist(key, null) is lmdb-js's "is absent"; with a number it compares the entry's version (no copy).
    return this.#env.state.doesExist(key, version as number);
  }

  /**
   * A write straight to LMDB (a record too large for the log, or a shared
   * folder): LMDB checks the version. With a log, the key's logged writes go
   * to LMDB first, so LMDB holds what the condition is about, and the write is
   * marked in flight, so a write racing it from the log fails its check.
   */
  async #direct(id: ActorId, key: string, expected: string | null, ifVersion: number | null, data: Uint8Array) {
    const version = this.#env.nextVersion();
    const marker = await this.#log?.beginDirect("state", key, version, data);
    if (this.#log !== undefined && marker === undefined) throw this.#conflict(id, key, expected);
    try {
      // A view, not a copy: LMDB copies the bytes into the transaction. The
      // caller does not touch them until the promise settles.
      const value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      // `null` as ifVersion is lmdb-js's "only if absent" (MDB_NOOVERWRITE).
      const written = await this.#env.durable(this.#env.state.put(key, value, version, ifVersion as number));
      if (!written) throw this.#conflict(id, key, expected);
      return String(version);
    } finally {
      if (marker !== undefined) this.#log?.endDirect("state", key, marker);
    }
  }

  #conflict(id: ActorId, key: string, expected: string | null): StateConflictError {
    const pending = this.#log?.pending("state", key);
    const found =
      pending !== undefined ? (pending.value === null ? undefined : pending) : this.#env.state.getEntry(key);
    return new StateConflictError(this.describe(id), expected, found === undefined ? null : String(found.version));
  }
}

/** The folder the embedded store keeps inside a state directory (for messages and docs). */
export const EMBEDDED_STORE_FOLDER = STORE_FOLDER;
