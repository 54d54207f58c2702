import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type ActorId, decode, InvalidArgumentError, isReminderRecord, reminderKey } from "@praas/core/internal";
import { type EmbeddedEnvironment, lmdbKey, STORE_FOLDER } from "./embedded-environment.js";
import { FILE_STORE_LAYOUT, fileStoreName } from "./fs-store.js";

/**
 * The one-time move from the old file store to the embedded store, on the
 * first open of a state folder: every `<dir>/<Type>/<key>.praas` file becomes
 * an entry, every `<dir>/.reminders/*.reminder` a reminder. The files are left
 * where they are (a backup; delete them once satisfied); a marker in the store
 * makes sure they are imported only once.
 *
 * The file store hashed names too long for a file name (`~<sha256>`), so
 * those files cannot tell which actor they belong to. They are imported under
 * their file path and adopted by the first load of an actor whose names hash
 * to that path ({@link adoptHashedFileState}). Files without the file store's
 * header (which it could not load either) are left alone and counted.
 */
export interface FileImportReport {
  /** State files imported. */
  readonly states: number;
  /** Of those, files with hashed names, adopted when their actor is first loaded. */
  readonly hashedNames: number;
  readonly reminders: number;
  /** Files that were not imported (no PraaS header, or not a reminder), relative to the folder. */
  readonly skipped: readonly string[];
}

const MARKER = "fileImport";
const HASHED = "#fs:";
/** Bytes per import transaction: keeps each LMDB transaction well inside its dirty-page limit. */
const CHUNK_BYTES = 64 * 2 ** 20;
const CHUNK_FILES = 2000;

/** Import the old file store's state in `env`'s folder, once. Undefined when there was nothing left to do. */
export function importFileStore(env: EmbeddedEnvironment): FileImportReport | undefined {
  if (env.meta.get(MARKER) !== undefined) return undefined;
  const files = legacyFiles(env.stateDir);
  if (files.states.length + files.reminders.length > 0 && env.mode === "shared") {
    throw new InvalidArgumentError(
      `${env.stateDir} holds state of the old file store that was never imported: open it once without { shared: true } (one process) to import it`,
    );
  }
  const skipped: string[] = [];
  let batch: (() => void)[] = [];
  let batchBytes = 0;
  const commit = (): void => {
    const writes = batch;
    // A crash half way leaves no marker: the next open imports again, and
    // "only if absent" keeps whatever the first attempt already wrote.
    env.root.transactionSync(() => {
      for (const write of writes) write();
    });
    batch = [];
    batchBytes = 0;
  };
  const add = (bytes: number, write: () => void): void => {
    batch.push(write);
    batchBytes += bytes;
    if (batchBytes >= CHUNK_BYTES || batch.length >= CHUNK_FILES) commit();
  };
  let hashedNames = 0;
  let states = 0;
  for (const rel of files.states) {
    const bytes = readFileSync(join(env.stateDir, rel));
    const { magic, headerBytes, suffix } = FILE_STORE_LAYOUT;
    if (bytes.length < headerBytes || !bytes.subarray(0, magic.length).equals(magic)) {
      skipped.push(rel);
      continue;
    }
    const [typeName = "", fileName = ""] = rel.split("/");
    const keyName = fileName.slice(0, -suffix.length);
    const hashed = typeName.startsWith("~") || keyName.startsWith("~");
    const type = decodeName(typeName);
    const actorKey = decodeName(keyName);
    if (!hashed && (type === undefined || actorKey === undefined)) {
      skipped.push(rel);
      continue;
    }
    const key = hashed ? `${HASHED}${typeName}/${keyName}` : lmdbKey(`${type}/${actorKey}`);
    if (hashed) hashedNames++;
    states++;
    const value = bytes.subarray(headerBytes);
    add(value.length, () => putIfAbsent(env, key, value));
  }
  let reminders = 0;
  for (const rel of files.reminders) {
    const bytes = readFileSync(join(env.stateDir, rel));
    const record = decodeOrUndefined(bytes);
    if (!isReminderRecord(record)) {
      skipped.push(rel);
      continue;
    }
    reminders++;
    const key = lmdbKey(reminderKey(record.actor, record.name));
    add(bytes.length, () => env.reminders.putSync(key, bytes));
  }
  const report: FileImportReport = { states, hashedNames, reminders, skipped };
  add(0, () => env.meta.putSync(MARKER, { at: new Date().toISOString(), ...report }));
  commit();
  return states + reminders + skipped.length > 0 ? report : undefined;
}

/**
 * If `id`'s state was imported under a hashed file name, move it to `key`
 * (its place in the store). True when something was moved.
 */
export async function adoptHashedFileState(env: EmbeddedEnvironment, id: ActorId, key: string): Promise<boolean> {
  const legacy = hashedKeyOf(env, id);
  if (legacy === undefined || env.state.getEntry(legacy) === undefined) return false;
  return env.durable(
    env.root.transaction(() => {
      const old = env.state.getEntry(legacy);
      if (old === undefined || env.state.getEntry(key) !== undefined) return false;
      env.state.putSync(key, old.value, env.nextVersion());
      env.state.removeSync(legacy);
      return true;
    }),
  );
}

/** Drop `id`'s imported state still waiting under a hashed file name (its state is being deleted). */
export async function forgetHashedFileState(env: EmbeddedEnvironment, id: ActorId): Promise<void> {
  const legacy = hashedKeyOf(env, id);
  if (legacy !== undefined && env.state.getEntry(legacy) !== undefined) await env.durable(env.state.remove(legacy));
}

/** Where `id`'s state waits if it was imported under a hashed file name; undefined when it cannot be. */
function hashedKeyOf(env: EmbeddedEnvironment, id: ActorId): string | undefined {
  if (!hasHashedImports(env)) return undefined;
  const typeName = fileStoreName(id.type);
  const keyName = fileStoreName(id.key);
  if (!typeName.startsWith("~") && !keyName.startsWith("~")) return undefined;
  return `${HASHED}${typeName}/${keyName}`;
}

const hashedImports = new WeakMap<EmbeddedEnvironment, boolean>();

function hasHashedImports(env: EmbeddedEnvironment): boolean {
  let known = hashedImports.get(env);
  if (known === undefined) {
    const marker = env.meta.get(MARKER) as { hashedNames?: unknown } | undefined;
    known = typeof marker?.hashedNames === "number" && marker.hashedNames > 0;
    hashedImports.set(env, known);
  }
  return known;
}

function putIfAbsent(env: EmbeddedEnvironment, key: string, value: Buffer): void {
  env.state.putSync(key, value, { version: env.nextVersion(), noOverwrite: true });
}

/** A percent-encoded file name back to the name; undefined when it was not written by the file store. */
function decodeName(name: string): string | undefined {
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

function decodeOrUndefined(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}

/** The old file store's files under `dir`, relative paths with "/". */
function legacyFiles(dir: string): { states: string[]; reminders: string[] } {
  const states: string[] = [];
  const reminders: string[] = [];
  for (const entry of safeReaddir(dir)) {
    if (!entry.isDirectory() || entry.name === STORE_FOLDER) continue;
    const inner = safeReaddir(join(dir, entry.name));
    if (entry.name === ".reminders") {
      for (const f of inner) if (f.isFile() && f.name.endsWith(".reminder")) reminders.push(`.reminders/${f.name}`);
      continue;
    }
    for (const f of inner) {
      if (f.isFile() && f.name.endsWith(FILE_STORE_LAYOUT.suffix)) states.push(`${entry.name}/${f.name}`);
    }
  }
  return { states, reminders };
}

function safeReaddir(dir: string): import("node:fs").Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") {
      return [];
    }
    throw err;
  }
}
