import {
  type ActorId,
  formatActorId,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core/internal";
import { EmbeddedEnvironment, lmdbKey, parseVersion, STORE_FOLDER } from "./embedded-environment.js";
import type { EmbeddedStoreOptions } from "./embedded-options.js";
import { adoptHashedFileState, type FileImportReport, forgetHashedFileState, importFileStore } from "./fs-import.js";
import { LmdbReminderStore } from "./lmdb-reminder-store.js";

/**
 * The embedded default: actor state in an LMDB database inside the state
 * folder (lmdb-js). Every save is a compare-and-set on the key's version,
 * checked by LMDB inside the commit, so fencing is exact; saves issued in the
 * same event-loop turn share one durable commit (group commit), which is what
 * makes `persistence = "turn"` cheap.
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
  readonly #env: EmbeddedEnvironment;
  #closed = false;

  constructor(dir: string, options?: EmbeddedStoreOptions) {
    this.#env = EmbeddedEnvironment.open(dir, options);
    this.dir = this.#env.stateDir;
    try {
      this.imported = importFileStore(this.#env);
    } catch (err) {
      this.#env.abandon();
      throw err;
    }
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
    const version = this.#env.nextVersion();
    // A view, not a copy: LMDB copies the bytes into the transaction. The
    // caller does not touch them until the promise settles.
    const value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    // `null` as ifVersion is lmdb-js's "only if absent" (MDB_NOOVERWRITE).
    const written = await this.#env.durable(this.#env.state.put(key, value, version, ifVersion as number));
    if (!written) throw this.#conflict(id, key, expected);
    return String(version);
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = lmdbKey(formatActorId(id));
    if (expected === undefined) {
      // State imported from the file store and not yet loaded must not come back on the next load.
      await Promise.all([this.#env.durable(this.#env.state.remove(key)), forgetHashedFileState(this.#env, id)]);
      return;
    }
    const ifVersion = parseVersion(expected);
    if (ifVersion !== undefined && (await this.#env.durable(this.#env.state.remove(key, ifVersion)))) return;
    // Not removed: fine if nothing is there, a conflict if something else is.
    if (this.#env.state.getEntry(key) === undefined) return;
    throw this.#conflict(id, key, expected);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.release();
  }

  #conflict(id: ActorId, key: string, expected: string | null): StateConflictError {
    const found = this.#env.state.getEntry(key);
    return new StateConflictError(this.describe(id), expected, found === undefined ? null : String(found.version));
  }
}

/** The folder the embedded store keeps inside a state directory (for messages and docs). */
export const EMBEDDED_STORE_FOLDER = STORE_FOLDER;
