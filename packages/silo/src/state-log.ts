import {
  closeSync,
  constants,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  write,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";

/**
 * The embedded store's commit log: what makes a durable write one flush
 * instead of LMDB's two (its data pages, then its meta page).
 *
 * A batch of writes is appended with one `O_DSYNC` write to a file written in
 * full when it was created, so an append only overwrites allocated blocks and
 * the flush carries no file-size change. Once it returns, the writes in it are
 * durable: the store acknowledges them and hands them to LMDB later, off the
 * caller's path. When the file is full the log starts again at its beginning
 * under a new generation — the store first makes LMDB hold (durably)
 * everything the file holds.
 *
 * Record layout (little-endian), written back to back from offset 0:
 *
 * | bytes | field |
 * |---|---|
 * | 4 | record length, header included |
 * | 4 | CRC-32 of everything after this field |
 * | 8 | generation (float64; unique across runs: the store takes it from its version counter) |
 * | 8 | version (float64: LMDB's) |
 * | 2 | key length |
 * | 2 | flags (1: a deletion, no value; 2: a reminder, not actor state) |
 * | … | key (UTF-8), then the value |
 *
 * Reading stops at the first record that is not whole, does not match its
 * CRC, or belongs to another generation than the first record's: what lies
 * beyond is a torn append (never acknowledged) or an older pass over the file
 * (already in LMDB).
 */
/** The LMDB table a record belongs to. */
export type LogTable = "state" | "reminders";

export interface LogRecord {
  readonly table: LogTable;
  readonly key: string;
  readonly version: number;
  /** The stored bytes; null for a deletion. */
  readonly value: Uint8Array | null;
}

const HEADER_BYTES = 28;
/**
 * Where the platform has O_DSYNC (Linux, macOS) a write returns once it is on
 * disk: one syscall. Elsewhere (Windows) each append is a write and then an
 * fdatasync.
 */
const DSYNC: number | undefined = constants.O_DSYNC;
const DELETED = 1;
const REMINDER = 2;

/** Where the log lives in the embedded store's folder. */
export const LOG_FILE = "commit.log";

export class StateLog {
  /** The file's size: how much the log holds before it starts again at its beginning. */
  readonly capacity: number;
  readonly #fd: number;
  #generation: number;
  #offset = 0;

  /**
   * Open the log for appending, creating (and writing in full) a file of
   * `capacity` bytes if there is none of that size. `generation` must differ
   * from every generation the file has ever held (a fresh store version does).
   */
  constructor(path: string, capacity: number, generation: number) {
    this.#generation = generation;
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    let closeLater = false;
    try {
      // Only the part past what the file has is written: what an earlier run
      // left is kept until this generation overwrites it (the store replayed
      // it into LMDB on open, and waits for that to be on disk first).
      const size = fstatSync(fd).size;
      this.capacity = Math.max(size, capacity);
      if (size < this.capacity) {
        const zeros = Buffer.alloc(Math.min(this.capacity - size, 1 << 20));
        for (let at = size; at < this.capacity; at += zeros.length) {
          writeSync(fd, zeros, 0, Math.min(zeros.length, this.capacity - at), at);
        }
        // Flushed in the background, not on the opening thread: the zeros only make later
        // appends cheap (they then overwrite allocated blocks); an append that comes first is
        // as durable, only slower.
        closeLater = true;
        fdatasync(fd, () => closeSync(fd));
      }
      // A new file must survive a power loss too: its folder's entry for it is flushed.
      if (size === 0) syncFolder(dirname(path));
    } finally {
      if (!closeLater) closeSync(fd);
    }
    this.#fd = openSync(path, constants.O_WRONLY | (DSYNC ?? 0));
  }

  /** Bytes a record of this key and value takes in the log. */
  static recordBytes(key: string, valueBytes: number): number {
    return HEADER_BYTES + Buffer.byteLength(key) + valueBytes;
  }

  /** Room left before the log must start again. */
  get free(): number {
    return this.capacity - this.#offset;
  }

  /**
   * Start again at the beginning under `generation` (new, like the
   * constructor's). Only once LMDB durably holds everything appended so far:
   * the records are overwritten.
   */
  restart(generation: number): void {
    this.#generation = generation;
    this.#offset = 0;
  }

  /**
   * Append `records` with one durable write (they must fit: see {@link free}).
   * Resolves once they are on disk. `stored` is shown each value's copy in the
   * record, which never changes: the caller may keep it instead of the original.
   * `written` runs as soon as the write is on disk, in its I/O callback: a
   * caller that acknowledges there saves its writers a promise hop.
   */
  append<R extends LogRecord>(
    records: readonly R[],
    stored?: (record: R, value: Uint8Array) => void,
    written?: () => void,
  ): Promise<void> {
    // Indexed loops and the key written straight into the record: this runs on every
    // acknowledgement, usually cold (right after a wait for the disk).
    const keyBytes = new Array<number>(records.length);
    let size = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as LogRecord;
      const k = Buffer.byteLength(r.key);
      keyBytes[i] = k;
      size += HEADER_BYTES + k + (r.value === null ? 0 : r.value.length);
    }
    if (size > this.free) return Promise.reject(new Error(`commit log: ${size} bytes do not fit in ${this.free}`));
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as R;
      const k = keyBytes[i] as number;
      const start = at;
      out.writeUInt32LE(HEADER_BYTES + k + (r.value === null ? 0 : r.value.length), at);
      out.writeDoubleLE(this.#generation, at + 8);
      out.writeDoubleLE(r.version, at + 16);
      out.writeUInt16LE(k, at + 24);
      out.writeUInt16LE((r.value === null ? DELETED : 0) | (r.table === "reminders" ? REMINDER : 0), at + 26);
      at += HEADER_BYTES;
      at += out.write(r.key, at, k, "utf8");
      if (r.value !== null) {
        out.set(r.value, at);
        stored?.(r, out.subarray(at, at + r.value.length));
        at += r.value.length;
      }
      out.writeUInt32LE(crc32(out.subarray(start + 8, at)), start + 4);
    }
    const position = this.#offset;
    this.#offset += size;
    const fd = this.#fd;
    // A failed append gives its place back: the next one is written there. Left as a
    // hole, it would end the log on replay before the acknowledged appends after it.
    // (Appends never overlap: the caller waits for each.)
    const failed = (err: Error, reject: (err: Error) => void): void => {
      if (this.#offset === position + size) this.#offset = position;
      reject(err);
    };
    return new Promise((resolve, reject) => {
      write(fd, out, 0, size, position, (err) => {
        if (err !== null) failed(err, reject);
        else if (DSYNC !== undefined) {
          written?.();
          resolve();
        } else {
          fdatasync(fd, (syncErr) => {
            if (syncErr !== null) return failed(syncErr, reject);
            written?.();
            resolve();
          });
        }
      });
    });
  }

  /** Make the log empty on disk (once LMDB durably holds all it held): the next open has nothing to read. */
  clear(): void {
    writeSync(this.#fd, Buffer.alloc(HEADER_BYTES), 0, HEADER_BYTES, 0);
    if (DSYNC === undefined) fdatasyncSync(this.#fd);
    this.#offset = 0;
  }

  close(): void {
    closeSync(this.#fd);
  }
}

function syncFolder(folder: string): void {
  const fd = openSync(folder, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The records of the log at `path` (none if there is no file), in the order
 * they were appended, and their generation. Linear in the file's size; stops at the first record
 * that is not whole and valid, or is of another generation than the first.
 */
export function readLog(path: string): { records: LogRecord[]; generation: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records: [], generation: 0 };
    throw err;
  }
  const records: LogRecord[] = [];
  let generation = 0;
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(HEADER_BYTES);
    let at = 0;
    for (;;) {
      if (readSync(fd, header, 0, HEADER_BYTES, at) !== HEADER_BYTES) break;
      const length = header.readUInt32LE(0);
      const gen = header.readDoubleLE(8);
      const keyLength = header.readUInt16LE(24);
      // A length that runs past the file is garbage, not a record: never allocate by it.
      if (length < HEADER_BYTES || length > size - at || keyLength > length - HEADER_BYTES) break;
      if (records.length === 0) generation = gen;
      else if (gen !== generation) break;
      const body = Buffer.allocUnsafe(length);
      if (readSync(fd, body, 0, length, at) !== length) break;
      if (crc32(body.subarray(8)) !== body.readUInt32LE(4)) break;
      const flags = body.readUInt16LE(26);
      const keyEnd = HEADER_BYTES + keyLength;
      records.push({
        table: flags & REMINDER ? "reminders" : "state",
        key: body.toString("utf8", HEADER_BYTES, keyEnd),
        version: body.readDoubleLE(16),
        value: flags & DELETED ? null : new Uint8Array(body.subarray(keyEnd)),
      });
      at += length;
    }
  } finally {
    closeSync(fd);
  }
  return { records, generation };
}
