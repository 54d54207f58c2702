import { GroupCommit, type GroupItem } from "@praas/core/internal";
import type { Database } from "lmdb";
import { type LogRecord, type LogTable, StateLog } from "./state-log.js";

/** The commit log's size (see state-log.ts): written once when the folder is first opened. */
export const LOG_BYTES = 4 * 1024 * 1024;
/** Larger records skip the log: their write goes straight to LMDB (two flushes, but no double write of big values). */
export const LOG_RECORD_MAX = 16 * 1024;
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
 * The newest write of a key that LMDB does not hold yet: what reads and
 * conditional writes see first.
 */
export interface Pending {
  /** The state's version (LMDB's); 0 for a reminder (that table has none). */
  readonly version: number;
  /**
   * The stored bytes; null for a deletion. The caller's until the append, then
   * a view of them in the log record the append wrote (no copy of its own).
   */
  value: Uint8Array | null;
  /** In the log on disk: acknowledged, and may go to LMDB. */
  logged: boolean;
  /** Written straight to LMDB (a large record): its own write takes it there. */
  readonly direct: boolean;
  /** The pending write this one replaced, put back if this one fails; dropped once this one is logged. */
  previous: Pending | undefined;
  /** The version as the store gave it to its writer (`String(version)`), when it gave one. */
  readonly token?: string;
}

/** A write waiting for its append: the record the log writes, and whom to tell. */
interface LogItem extends GroupItem, LogRecord {
  readonly entry: Pending;
  /** What the write resolves with once it is on disk. */
  readonly result: string;
}

function keepStoredValue(item: LogItem, stored: Uint8Array): void {
  item.entry.value = stored;
}

/** A batch's append is on disk: its writes are logged (acknowledged), and may go to LMDB. */
function acknowledge(batch: readonly LogItem[]): void {
  for (let i = 0; i < batch.length; i++) {
    const item = batch[i] as LogItem;
    item.entry.logged = true;
    // Nothing to fall back to any more: a hot key must not keep a chain of its old versions.
    item.entry.previous = undefined;
    item.resolve(item.result);
  }
}

/** The LMDB tables the log writes into. */
export interface LoggedTables {
  readonly state: Database<Buffer, string>;
  readonly reminders: Database<Buffer, string>;
  /** Resolves once LMDB's last write is on disk (lmdb-js's `flushed`). */
  readonly flushed: PromiseLike<unknown>;
  /** A version no write in this folder has had (a log generation must be new). */
  nextVersion(): number;
  /** The result of an lmdb-js write once its transaction is on disk. */
  durable<T>(write: Promise<T>): Promise<T>;
}

/**
 * The write path through the commit log, for both tables of the embedded
 * store (actor state and reminders), so their writes share its appends. One
 * per environment, in the process that has the folder to itself.
 *
 * A write is kept in memory as its key's newest state and appended to the log
 * with every write that arrives while an append is in flight (group commit);
 * it is acknowledged once its append is on disk. Every APPLY_AFTER_MS the
 * logged writes go to LMDB in one transaction; a full log first makes LMDB
 * hold (durably) all it holds, then starts again under a new generation.
 */
export class LoggedWrites {
  readonly #tables: LoggedTables;
  readonly #log: StateLog;
  readonly #appends: GroupCommit<LogItem>;
  readonly #pending: Record<LogTable, Map<string, Pending>> = { state: new Map(), reminders: new Map() };
  /** LMDB holds what was replayed from the log on disk: until then the log's old records must not be overwritten. */
  #replayFlushed: PromiseLike<unknown> | undefined;
  #applying: Promise<void> | undefined;
  #applyTimer: NodeJS.Timeout | undefined;
  #applyFailures = 0;
  /**
   * An append failed: the next one starts the log again (under a new generation) first. The disk
   * may have written some of the failed records before it reported the error; past the place the
   * next append would overwrite, they would be replayed after a crash, though never acknowledged.
   */
  #restartFirst = false;
  #closed = false;

  constructor(tables: LoggedTables, logPath: string) {
    this.#tables = tables;
    this.#log = new StateLog(logPath, LOG_BYTES, tables.nextVersion());
    // Always, not only after a replay of ours: a replay by a process that died before LMDB
    // flushed it is only in the page cache, and flushing our claim's commit flushes it too.
    this.#replayFlushed = tables.flushed;
    // Appends start as soon as the code that issued the write yields: when idle the flush is
    // the wait, so an event-loop phase less is that much less per acknowledgement; under load
    // writes gather behind the append in flight anyway.
    this.#appends = new GroupCommit<LogItem>((batch) => this.#append(batch), {
      maxBatch: LOG_BATCH,
      start: "at once",
    });
  }

  /** The key's newest write that LMDB does not hold yet, if any. */
  pending(table: LogTable, key: string): Pending | undefined {
    return this.#pending[table].get(key);
  }

  /** Every such write of a table. */
  pendingOf(table: LogTable): ReadonlyMap<string, Pending> {
    return this.#pending[table];
  }

  /** Does a record of this key and size go through the log? */
  takes(key: string, valueBytes: number): boolean {
    return StateLog.recordBytes(key, valueBytes) <= LOG_RECORD_MAX;
  }

  /**
   * Write `value` (null: delete; not to be changed until this settles) through the log; resolves with `result` once
   * it is on disk (the caller's answer, so it need not wait again to make it).
   * The caller checked any condition: from here on this is the key's newest state.
   */
  write(table: LogTable, key: string, value: Uint8Array | null, version: number, result = ""): Promise<string> {
    const pending = this.#pending[table];
    const entry: Pending = { version, value, logged: false, direct: false, previous: pending.get(key), token: result };
    pending.set(key, entry);
    return new Promise((resolve, reject) =>
      this.#appends.add({ table, key, version, value, entry, result, resolve, reject }),
    );
  }

  /**
   * Mark a write that goes straight to LMDB as the key's newest state while it
   * is in flight (so a write racing it from the log fails its condition), once
   * LMDB holds the key's logged writes. Undefined when another direct write of
   * the key is in flight. Call {@link endDirect} when it settles.
   */
  async beginDirect(table: LogTable, key: string, version: number, value: Uint8Array): Promise<Pending | undefined> {
    const pending = this.#pending[table];
    for (let p = pending.get(key); p !== undefined; p = pending.get(key)) {
      if (p.direct) return undefined;
      if (p.logged) await this.applyAll();
      else await this.#appends.idle();
    }
    const entry: Pending = { version, value, logged: false, direct: true, previous: undefined };
    pending.set(key, entry);
    return entry;
  }

  endDirect(table: LogTable, key: string, entry: Pending): void {
    if (this.#pending[table].get(key) === entry) this.#pending[table].delete(key);
  }

  /** Put every logged write into LMDB in one transaction and wait until it is on disk. */
  async applyAll(): Promise<void> {
    while (this.#applying !== undefined) await this.#applying.catch(() => {});
    const batch: [LogTable, string, Pending][] = [];
    for (const table of ["state", "reminders"] as const) {
      for (const [key, newest] of this.#pending[table]) {
        // The key's newest write in the log, even behind writes still in flight: when the log
        // starts again, what it held must be in LMDB, whether or not those later writes succeed.
        let p: Pending | undefined = newest;
        while (p !== undefined && !p.logged) p = p.previous;
        if (p !== undefined) batch.push([table, key, p]);
      }
    }
    if (batch.length === 0) return;
    let last: Promise<boolean> | undefined;
    for (const [table, key, p] of batch) {
      const db = this.#tables[table];
      if (p.value === null) last = db.remove(key);
      else {
        const bytes = Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength);
        last = table === "state" ? db.put(key, bytes, p.version) : db.put(key, bytes);
      }
    }
    this.#applying = (async () => {
      try {
        await this.#tables.durable(last as Promise<boolean>);
        for (const [table, key, p] of batch) if (this.#pending[table].get(key) === p) this.#pending[table].delete(key);
      } finally {
        this.#applying = undefined;
      }
    })();
    return this.#applying;
  }

  /** Wait for the writes in flight, put everything into LMDB, and leave the log empty. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#appends.idle();
      clearTimeout(this.#applyTimer);
      await this.applyAll();
      // Also what this open replayed from the log, even when nothing was written since.
      await this.#tables.flushed;
      // Everything the log held is in LMDB on disk: the next open has nothing to read.
      this.#log.clear();
    } finally {
      this.#log.close();
    }
  }

  /** Close the file without touching it (an open that failed before any write). */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#log.close();
  }

  /** One append of a batch of writes: the one flush their callers wait for. */
  async #append(batch: LogItem[]): Promise<void> {
    const log = this.#log;
    let bytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i] as LogItem;
      bytes += StateLog.recordBytes(item.key, item.value === null ? 0 : item.value.byteLength);
    }
    try {
      if (this.#replayFlushed !== undefined) {
        await this.#replayFlushed;
        this.#replayFlushed = undefined;
      }
      if (this.#restartFirst || bytes > log.free) {
        // The log starts again at its beginning: LMDB must durably hold what it holds first.
        await this.applyAll();
        log.restart(this.#tables.nextVersion());
        this.#restartFirst = false;
      }
      // The entries keep the copy in the record, not the caller's bytes (the caller may reuse them
      // once answered). The writers are answered in the write's own callback: a promise hop less.
      await log.append(batch, keepStoredValue, () => acknowledge(batch));
    } catch (err) {
      this.#restartFirst = true;
      for (const { table, key, entry } of batch) {
        const pending = this.#pending[table];
        if (pending.get(key) !== entry) continue;
        // Back to the newest write of the key that is in the log (an older one of this batch failed too).
        let previous = entry.previous;
        while (previous !== undefined && !previous.logged) previous = previous.previous;
        if (previous === undefined) pending.delete(key);
        else pending.set(key, previous);
      }
      // A logged write put back may be one LMDB does not hold yet.
      this.#scheduleApply(APPLY_AFTER_MS);
      throw err;
    }
    this.#scheduleApply(APPLY_AFTER_MS);
  }

  #scheduleApply(ms: number): void {
    if (this.#applyTimer !== undefined || this.#closed) return;
    this.#applyTimer = setTimeout(() => {
      this.#applyTimer = undefined;
      this.applyAll().then(
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
}
