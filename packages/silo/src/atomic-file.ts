import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Replace `file` with `chunks`, all or nothing and durably: write a temp file
 * beside it, fsync, rename over the target, fsync the folder (so the rename
 * itself survives a crash). Readers see the old bytes or the new, never a mix.
 * Concurrent writes into one folder share its fsync (group commit, see {@link syncDir}).
 */
export async function writeFileAtomic(file: string, chunks: readonly Uint8Array[]): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(tmp, "w");
  try {
    await handle.writev([...chunks]);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(file));
}

/** Per folder: the fsync running now, and the one queued behind it. */
const dirSyncs = new Map<string, { running: Promise<void>; queued?: Promise<void> }>();

/**
 * Make the renames already done in `dir` durable. An fsync that starts after
 * the caller's rename covers it, so callers share them: with none running, one
 * starts; with one running (it may have started before this rename), all
 * callers meanwhile share the single next one.
 */
function syncDir(dir: string): Promise<void> {
  const current = dirSyncs.get(dir);
  if (current === undefined) return startDirSync(dir);
  const next = (): Promise<void> => startDirSync(dir);
  current.queued ??= current.running.then(next, next);
  return current.queued;
}

function startDirSync(dir: string): Promise<void> {
  const running = fsyncDir(dir).finally(() => {
    const now = dirSyncs.get(dir);
    if (now?.running === running && now.queued === undefined) dirSyncs.delete(dir);
  });
  const entry = dirSyncs.get(dir);
  if (entry === undefined) dirSyncs.set(dir, { running });
  else {
    entry.running = running;
    entry.queued = undefined;
  }
  return running;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await handle.close();
  }
}
