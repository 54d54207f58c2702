import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { StateDirLockedError } from "@praas/core/internal";

/**
 * Who holds an embedded store's folder: one small JSON file per open handle in
 * `<store>/owners/`. The files are only read and written while the caller
 * holds the store's own inter-process write lock (an LMDB write transaction),
 * so "look at the owners, then add myself" is one atomic step across processes.
 *
 * A holder is dead when it ran on this host and its process is gone: no such
 * pid, or the pid now belongs to a process started later (pid reuse), or the
 * machine has rebooted since. A holder on another host (a folder on a network
 * share) cannot be checked and is never taken over.
 */
export type OpenMode = "exclusive" | "shared";

export interface OwnerRecord {
  readonly pid: number;
  readonly host: string;
  /** ISO time the handle was opened. */
  readonly since: string;
  readonly mode: OpenMode;
  /** Linux: /proc/sys/kernel/random/boot_id when it was opened. */
  readonly bootId?: string;
  /** Linux: the process's start time in clock ticks after boot (field 22 of /proc/<pid>/stat). */
  readonly startTime?: string;
}

export interface OwnerToken {
  readonly file: string;
  readonly record: OwnerRecord;
}

/**
 * Add this process as a holder of the folder, after dropping dead holders.
 * Throws {@link StateDirLockedError} naming a live holder that excludes us:
 * any holder when we ask for exclusive use, an exclusive one when we ask to share.
 */
export function claimFolder(ownersDir: string, stateDir: string, mode: OpenMode): OwnerToken {
  mkdirSync(ownersDir, { recursive: true });
  const me = currentProcess(mode);
  for (const name of readdirSync(ownersDir)) {
    if (!name.endsWith(".json")) continue;
    const file = join(ownersDir, name);
    const holder = readOwner(file);
    if (holder === undefined) {
      // Written by a claim that crashed half way (we write via rename, so this is
      // foreign or damaged): it proves nothing about a live process.
      rmSync(file, { force: true });
      continue;
    }
    const alive = isAlive(holder, me);
    if (alive === false) {
      rmSync(file, { force: true });
      continue;
    }
    if (mode === "shared" && holder.mode === "shared") continue;
    throw new StateDirLockedError(stateDir, holder, hintFor(holder, me, file, alive));
  }
  const file = join(ownersDir, `${me.pid}-${randomBytes(6).toString("hex")}.json`);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(me));
  renameSync(tmp, file);
  return { file, record: me };
}

/** Give the folder up (the handle is closed). */
export function releaseFolder(token: OwnerToken): void {
  rmSync(token.file, { force: true });
}

function hintFor(holder: OwnerRecord, me: OwnerRecord, file: string, alive: boolean | undefined): string {
  if (alive === undefined) {
    return `it runs on another host, so whether it is still alive cannot be checked from here; if it is certainly gone, delete ${file}`;
  }
  if (holder.pid === me.pid) {
    return "this process already has the folder open: share one store object (or open both with { shared: true })";
  }
  if (holder.mode === "shared") {
    return "it opened the folder shared; open it shared too ({ shared: true }), or stop that process first";
  }
  return "two processes writing one folder would overwrite each other's state: stop that process, or give this one its own --state-dir";
}

function readOwner(file: string): OwnerRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined; // gone meanwhile, or not JSON
  }
  if (typeof value !== "object" || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (!Number.isInteger(r.pid) || typeof r.host !== "string" || typeof r.since !== "string") return undefined;
  if (r.mode !== "exclusive" && r.mode !== "shared") return undefined;
  return value as OwnerRecord;
}

function currentProcess(mode: OpenMode): OwnerRecord {
  const record: { -readonly [K in keyof OwnerRecord]: OwnerRecord[K] } = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    mode,
  };
  const bootId = readBootId();
  if (bootId !== undefined) record.bootId = bootId;
  const startTime = readStartTime(process.pid);
  if (startTime !== undefined) record.startTime = startTime;
  return record;
}

/** true: alive; false: certainly dead; undefined: cannot tell (another host). */
function isAlive(holder: OwnerRecord, me: OwnerRecord): boolean | undefined {
  if (holder.host !== me.host) return undefined;
  if (holder.bootId !== undefined && me.bootId !== undefined && holder.bootId !== me.bootId) return false;
  if (holder.pid === me.pid) {
    // This very process (another handle, or another worker thread): alive by definition,
    // unless the record is from an earlier process that had our pid.
    return holder.startTime === undefined || holder.startTime === me.startTime;
  }
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    // EPERM: it exists but belongs to another user.
  }
  if (holder.startTime !== undefined) {
    const now = readStartTime(holder.pid);
    if (now !== undefined && now !== holder.startTime) return false;
  }
  return true;
}

function readBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

function readStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}
