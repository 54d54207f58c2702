import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ActorId, decodeStateRecord, encodeStateRecord } from "@praas/core";
import {
  Actor,
  FileReminderStore,
  FileStateStore,
  LmdbStateStore,
  ManualClock,
  Silo,
  StateConflictError,
  StateDirLockedError,
} from "@praas/silo";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("./fixtures/embedded-store-process.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../../packages/silo/dist/index.js", import.meta.url));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "praas-embedded-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Open a store and close it after the test. */
function openStore(dir: string, shared = false): LmdbStateStore {
  const store = new LmdbStateStore(dir, { shared });
  cleanups.push(() => store.close());
  return store;
}

type Answer = { ok: boolean; [k: string]: unknown };

interface StoreProcess {
  readonly child: ChildProcess;
  /** The process's first line: the store opened, or why not. */
  readonly opened: Answer;
  ask(command: Record<string, unknown>): Promise<Answer>;
  readonly exited: Promise<number | string>;
}

/** Another process opening the embedded store of `dir` (test/storage/fixtures/embedded-store-process.mjs). */
async function storeProcess(dir: string, mode: "exclusive" | "shared"): Promise<StoreProcess> {
  const child = spawn(process.execPath, [CHILD, dir, mode], { stdio: ["pipe", "pipe", "inherit"] });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const lines: Answer[] = [];
  const waiting: ((a: Answer) => void)[] = [];
  let buffered = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const answer = JSON.parse(buffered.slice(0, nl)) as Answer;
      buffered = buffered.slice(nl + 1);
      const w = waiting.shift();
      if (w === undefined) lines.push(answer);
      else w(answer);
    }
  });
  const next = (): Promise<Answer> =>
    lines.length > 0
      ? Promise.resolve(lines.shift() as Answer)
      : Promise.race([
          new Promise<Answer>((resolve) => waiting.push(resolve)),
          exited.then((code) => {
            throw new Error(`store process exited (${code}) without answering`);
          }),
        ]);
  const opened = await next();
  return {
    child,
    opened,
    exited,
    ask: (command) => {
      child.stdin?.write(`${JSON.stringify(command)}\n`);
      return next();
    },
  };
}

const id = (key: string): ActorId => ({ type: "T", key });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
async function loadText(store: LmdbStateStore, key: string): Promise<{ text: string; version: string } | undefined> {
  const s = await store.load(id(key));
  return s && { text: Buffer.from(s.data).toString(), version: s.version };
}

beforeAll(() => {
  if (!existsSync(BUILT)) throw new Error("These tests run the built packages in child processes: run `npx tsc -b`");
});

describe("embedded store: one process per folder", () => {
  it("refuses a second process with STATE_DIR_LOCKED naming the holder, and lets it in once the holder closed", async () => {
    const dir = await folder();
    const store = new LmdbStateStore(dir);
    const v1 = await store.save(id("a"), text("mine"), null);

    const second = await storeProcess(dir, "exclusive");
    expect(second.opened).toMatchObject({
      ok: false,
      code: "STATE_DIR_LOCKED",
      data: { pid: process.pid, host: hostname() },
    });
    expect(second.opened.message).toContain(`process ${process.pid} on host ${hostname()}`);
    expect(second.opened.message).toMatch(/since \d{4}-\d\d-\d\dT/);
    expect(await second.exited).toBe(3);
    // Asking to share does not get around an exclusive holder either.
    expect((await storeProcess(dir, "shared")).opened).toMatchObject({ ok: false, code: "STATE_DIR_LOCKED" });

    await store.close();
    const third = await storeProcess(dir, "exclusive");
    expect(third.opened).toMatchObject({ ok: true });
    expect(await third.ask({ cmd: "load", key: "a" })).toEqual({ ok: true, text: "mine", version: v1 });
    expect(await third.ask({ cmd: "close" })).toEqual({ ok: true });
  });

  it("takes over the folder of a process that died without closing it (kill -9)", async () => {
    const dir = await folder();
    const dead = await storeProcess(dir, "exclusive");
    expect(dead.opened).toMatchObject({ ok: true });
    const saved = await dead.ask({ cmd: "save", key: "k", text: "acknowledged", expected: null });
    expect(saved.ok).toBe(true);
    const owners = join(dir, "store.lmdb", "owners");
    expect(await readdir(owners)).toHaveLength(1);
    dead.child.kill("SIGKILL");
    expect(await dead.exited).toBe("SIGKILL");

    const store = openStore(dir);
    expect(Buffer.from((await store.load(id("k")))?.data ?? []).toString()).toBe("acknowledged");
    expect((await store.load(id("k")))?.version).toBe(saved.version);
    // The dead holder's record is gone; only ours is left.
    const left = await readdir(owners);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(new RegExp(`^${process.pid}-`));
  });

  it("refuses a second exclusive handle in the same process, and names this process", async () => {
    const dir = await folder();
    openStore(dir);
    let error: unknown;
    try {
      new LmdbStateStore(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StateDirLockedError);
    expect((error as StateDirLockedError).code).toBe("STATE_DIR_LOCKED");
    expect((error as Error).message).toMatch(/this process already has the folder open/);
  });

  it("refuses a second silo on the same state folder with the default store", async () => {
    const dir = await folder();
    class Counter extends Actor<{ n: number }> {
      static initialState() {
        return { n: 0 };
      }
      add(): number {
        return ++this.state.n;
      }
    }
    const first = await Silo.start({ actors: [Counter], stateDir: dir, clock: new ManualClock() });
    cleanups.push(() => first.stop());
    await expect(Silo.start({ actors: [Counter], stateDir: dir })).rejects.toMatchObject({
      code: "STATE_DIR_LOCKED",
    });
    expect(await first.ref(Counter, "c").add()).toBe(1);
  });

  it("lets processes that all ask to share open one folder, with fencing between them", async () => {
    const dir = await folder();
    const here = openStore(dir, true);
    const other = await storeProcess(dir, "shared");
    expect(other.opened).toMatchObject({ ok: true });
    // An exclusive open is refused while shared holders live.
    expect((await storeProcess(dir, "exclusive")).opened).toMatchObject({
      ok: false,
      code: "STATE_DIR_LOCKED",
    });

    const v1 = await here.save(id("x"), text("one"), null);
    const theirs = await other.ask({ cmd: "save", key: "x", text: "two", expected: v1 });
    expect(theirs.ok).toBe(true);
    // Our copy is stale now: the conditional write is refused and names what it found.
    const conflict = await here.save(id("x"), text("stale"), v1).catch((err: unknown) => err);
    expect(conflict).toBeInstanceOf(StateConflictError);
    expect((conflict as StateConflictError).found).toBe(theirs.version);
    expect(await other.ask({ cmd: "save", key: "x", text: "late", expected: v1 })).toMatchObject({
      ok: false,
      code: "STATE_CONFLICT",
      found: theirs.version,
    });
    expect(Buffer.from((await here.load(id("x")))?.data ?? []).toString()).toBe("two");
    // Versions are unique across the processes: theirs never equals one of ours.
    const v3 = await here.save(id("y"), text("y"), null);
    const w3 = await other.ask({ cmd: "save", key: "z", text: "z", expected: null });
    expect(new Set([v1, theirs.version, v3, w3.version]).size).toBe(4);
  });
});

describe("embedded store: versions and reminders", () => {
  it("keeps fencing exact across a restart: the current version still matches, older ones and deleted ones never do", async () => {
    const dir = await folder();
    const first = new LmdbStateStore(dir);
    const v1 = await first.save(id("a"), text("1"), null);
    const v2 = await first.save(id("a"), text("2"), v1);
    const gone = await first.save(id("b"), text("b"), null);
    await first.delete(id("b"));
    await first.close();

    const second = openStore(dir);
    expect((await second.load(id("a")))?.version).toBe(v2);
    await expect(second.save(id("a"), text("stale"), v1)).rejects.toBeInstanceOf(StateConflictError);
    const v3 = await second.save(id("a"), text("3"), v2);
    expect([v1, v2]).not.toContain(v3);
    const again = await second.save(id("b"), text("b again"), null);
    expect(again).not.toBe(gone);
    await expect(second.save(id("b"), text("stale"), gone)).rejects.toBeInstanceOf(StateConflictError);
  });

  it("keeps reminders beside the state; the folder is released only when both stores are closed", async () => {
    const dir = await folder();
    const state = new LmdbStateStore(dir);
    const reminders = state.reminderStore();
    const actor = { type: "T", key: "r" };
    await reminders.put({ actor, name: "tick", dueAt: 1000, periodMs: 500, missedTotal: 0, failures: 0 });
    await state.close();
    expect(await reminders.get(actor, "tick")).toMatchObject({ name: "tick", dueAt: 1000, periodMs: 500 });
    expect((await storeProcess(dir, "exclusive")).opened).toMatchObject({ ok: false, code: "STATE_DIR_LOCKED" });
    await reminders.close();

    const reopened = openStore(dir).reminderStore();
    cleanups.push(() => reopened.close());
    const list = await reopened.list();
    expect(list).toEqual([{ actor, name: "tick", dueAt: 1000, periodMs: 500, missedTotal: 0, failures: 0 }]);
  });
});

describe("embedded store: a silo's default", () => {
  class Alarm extends Actor<{ fired: number }> {
    static initialState() {
      return { fired: 0 };
    }
    async every(ms: number): Promise<void> {
      await this.remind("beat", { every: ms });
    }
    override onReminder(): void {
      this.state.fired++;
    }
    fired(): number {
      return this.state.fired;
    }
  }

  it("keeps state and reminders in the state folder: the next silo on it fires what the last one registered", async () => {
    const dir = await folder();
    const first = await Silo.start({ actors: [Alarm], stateDir: dir, clock: new ManualClock(1_000_000) });
    expect(first.store.kind).toBe("lmdb");
    await first.ref(Alarm, "r").every(1_000);
    await first.stop();

    const clock = new ManualClock(1_005_500);
    const second = await Silo.start({ actors: [Alarm], stateDir: dir, clock });
    cleanups.push(() => second.stop());
    await clock.advance(0);
    await expect.poll(() => second.ref(Alarm, "r").fired()).toBe(1);
  });
});

describe("embedded store: moving from the file store", () => {
  const record = (n: number): Uint8Array => encodeStateRecord({ stateVersion: 1, state: { n } });

  it("imports every state file and reminder on the first open, once, and keeps the files", async () => {
    const dir = await folder();
    const files = new FileStateStore(dir);
    const longKey = "長".repeat(40); // its percent-encoded name is over 200 bytes: the file store hashed it
    const ids: ActorId[] = [
      { type: "Counter", key: "alice" },
      { type: "Counter", key: "a/b c" },
      { type: "My.Type", key: ".." },
      { type: "Counter", key: longKey },
    ];
    for (const [i, a] of ids.entries()) await files.save(a, record(i + 1), null);
    const fileReminders = new FileReminderStore(dir);
    const reminder = { actor: ids[0] as ActorId, name: "daily", dueAt: 5, missedTotal: 0, failures: 0 };
    await fileReminders.put(reminder);
    const corrupt = join(dir, "Counter", "broken.praas");
    await writeFile(corrupt, "not written by PraaS");
    expect(await readdir(join(dir, "Counter"))).toContain(
      `~${(await import("node:crypto")).createHash("sha256").update(longKey).digest("hex")}.praas`,
    );

    const store = new LmdbStateStore(dir);
    expect(store.imported).toEqual({ states: 4, hashedNames: 1, reminders: 1, skipped: ["Counter/broken.praas"] });
    for (const [i, a] of ids.entries()) {
      const loaded = await store.load(a);
      expect(decodeStateRecord(loaded?.data ?? new Uint8Array(), "test").state).toEqual({ n: i + 1 });
    }
    const reminders = store.reminderStore();
    expect(await reminders.list()).toEqual([reminder]);
    await reminders.close();
    await store.close();
    // The files stay (a backup); a second open imports nothing again.
    expect(existsSync(files.describe(ids[0] as ActorId))).toBe(true);
    const again = openStore(dir);
    expect(again.imported).toBeUndefined();
    const hashed = await again.load(ids[3] as ActorId);
    expect(decodeStateRecord(hashed?.data ?? new Uint8Array(), "test").state).toEqual({ n: 4 });
  });

  it("deleting an actor whose imported state was never loaded deletes it for good", async () => {
    const dir = await folder();
    const id: ActorId = { type: "Counter", key: "ключ-".repeat(20) }; // hashed by the file store
    await new FileStateStore(dir).save(id, record(7), null);
    const store = openStore(dir);
    expect(store.imported?.hashedNames).toBe(1);
    await store.delete(id);
    expect(await store.load(id)).toBeUndefined();
  });

  it("a silo upgraded in place finds its actors' state and reminders where the file store left them", async () => {
    const dir = await folder();
    class Counter extends Actor<{ n: number }> {
      static initialState() {
        return { n: 0 };
      }
      add(): number {
        return ++this.state.n;
      }
    }
    const old = await Silo.start({
      actors: [Counter],
      storage: new FileStateStore(dir),
      reminders: new FileReminderStore(dir),
      clock: new ManualClock(),
    });
    for (let i = 0; i < 3; i++) await old.ref(Counter, "kept").add();
    await old.stop();

    const upgraded = await Silo.start({ actors: [Counter], stateDir: dir, clock: new ManualClock() });
    cleanups.push(() => upgraded.stop());
    expect(await upgraded.ref(Counter, "kept").add()).toBe(4);
  });

  it("refuses a shared first open of a folder with files to import", async () => {
    const dir = await folder();
    await new FileStateStore(dir).save({ type: "T", key: "k" }, record(1), null);
    expect(() => new LmdbStateStore(dir, { shared: true })).toThrow(/open it once without \{ shared: true \}/);
    // Nothing was claimed: an exclusive open goes ahead and imports.
    expect(openStore(dir).imported?.states).toBe(1);
  });
});

describe("embedded store: the commit log", () => {
  /**
   * Open the folder in another process, give it one command that ends frozen (its event loop
   * blocked from its answer on: nothing it has not done by then happens), and kill it (SIGKILL).
   */
  async function askAndDie(dir: string, command: Record<string, unknown>): Promise<Answer> {
    const writer = await storeProcess(dir, "exclusive");
    expect(writer.opened).toMatchObject({ ok: true });
    const answer = await writer.ask({ ...command, freeze: true });
    expect(answer.ok).toBe(true);
    writer.child.kill("SIGKILL");
    await writer.exited;
    return answer;
  }

  /** Make `n` writes of `bytes` each, and die the moment they are acknowledged. */
  async function writeAndDie(
    dir: string,
    prefix: string,
    n: number,
    bytes: number,
    reminders = false,
  ): Promise<string[]> {
    return (await askAndDie(dir, { cmd: "saveMany", prefix, n, bytes, reminders })).versions as string[];
  }

  /** Run `steps` (see the fixture) one after the other, and die the moment the last is over: their answers. */
  async function stepsAndDie(dir: string, steps: Record<string, unknown>[]): Promise<Answer[]> {
    return (await askAndDie(dir, { cmd: "steps", steps })).results as Answer[];
  }

  const expected = (prefix: string, i: number, bytes: number): string =>
    Buffer.alloc(bytes, `${prefix}${i}|`).toString();

  it("keeps writes acknowledged by a process killed before they reached LMDB, and puts them there on the next open", async () => {
    const dir = await folder();
    // One batch, and the writer's event loop blocked from the acknowledgement on: these writes are in the log only.
    const versions = await writeAndDie(dir, "k", 100, 200);

    const store = openStore(dir);
    expect(store.replayed).toBe(100);
    for (let i = 0; i < 100; i++) {
      const loaded = await store.load(id(`k${i}`));
      expect(Buffer.from(loaded?.data ?? []).toString()).toBe(expected("k", i, 200));
      expect(loaded?.version).toBe(versions[i]);
    }
    // Fencing holds across the replay: the acknowledged version is current, "absent" is not.
    await expect(store.save(id("k0"), text("again"), null)).rejects.toBeInstanceOf(StateConflictError);
    expect(await store.save(id("k0"), text("next"), versions[0] as string)).not.toBe(versions[0]);
  });

  it("keeps reminders registered just before a kill -9 the same way: they share the log with the state", async () => {
    const dir = await folder();
    await writeAndDie(dir, "k", 40, 50, true);
    const store = openStore(dir);
    // 40 state writes and 40 reminders, all acknowledged from the log alone.
    expect(store.replayed).toBe(80);
    const reminders = store.reminderStore();
    cleanups.push(() => reminders.close());
    const listed = await reminders.list();
    expect(listed.map((r) => r.actor.key).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `k${i}`).sort());
    expect(await reminders.get(id("k5"), "r")).toMatchObject({ dueAt: 1e15 + 5 });
    // A deletion through the log hides it at once and for good.
    await reminders.delete(id("k5"), "r");
    expect(await reminders.get(id("k5"), "r")).toBeUndefined();
    expect((await reminders.list()).length).toBe(39);
    await reminders.close();
    await store.close();
    const reopened = openStore(dir);
    const again = reopened.reminderStore();
    cleanups.push(() => again.close());
    expect(await again.get(id("k5"), "r")).toBeUndefined();
    expect((await again.list()).length).toBe(39);
  });

  it("replays a log once: a process that dies right after replaying leaves nothing to replay again", async () => {
    const dir = await folder();
    await writeAndDie(dir, "k", 50, 100);
    // The second process replays, then dies before writing anything: the log still holds the old records.
    const second = await storeProcess(dir, "exclusive");
    expect(await second.ask({ cmd: "replayed" })).toEqual({ ok: true, replayed: 50 });
    second.child.kill("SIGKILL");
    await second.exited;

    const store = openStore(dir);
    expect(store.replayed).toBe(0);
    // A deletion after the replay must not be undone by the old records.
    await store.delete(id("k7"));
    await store.close();
    const reopened = openStore(dir);
    expect(reopened.replayed).toBe(0);
    expect(await reopened.load(id("k7"))).toBeUndefined();
    expect(Buffer.from((await reopened.load(id("k8")))?.data ?? []).toString()).toBe(expected("k", 8, 100));
  });

  it("replays the log of a dead exclusive holder when the folder is next opened shared, once", async () => {
    const dir = await folder();
    await writeAndDie(dir, "k", 20, 100);
    const first = openStore(dir, true);
    expect(first.replayed).toBe(20);
    const second = await storeProcess(dir, "shared");
    expect(await second.ask({ cmd: "replayed" })).toEqual({ ok: true, replayed: 0 });
    expect(await second.ask({ cmd: "load", key: "k3" })).toMatchObject({ ok: true, text: expected("k", 3, 100) });
    // Shared folders write LMDB directly: a deletion there must not be undone by the old log either.
    await first.delete(id("k4"));
    expect(await second.ask({ cmd: "close" })).toEqual({ ok: true });
    await first.close();
    const reopened = openStore(dir);
    expect(reopened.replayed).toBe(0);
    expect(await reopened.load(id("k4"))).toBeUndefined();
  });

  it("keeps every acknowledged write when the log fills up and starts again, many times over", async () => {
    const dir = await folder();
    // 600 records of 15 KiB: about 9 MiB through a 4 MiB log, in batches.
    await writeAndDie(dir, "big", 600, 15 * 1024);
    const store = openStore(dir);
    for (let i = 0; i < 600; i += 1) {
      const loaded = await store.load(id(`big${i}`));
      expect(loaded?.data.byteLength).toBe(15 * 1024);
      expect(
        Buffer.from(loaded?.data ?? [])
          .subarray(0, 8)
          .toString(),
      ).toBe(expected("big", i, 8));
    }
  });

  it("ignores a torn last append: the records before it are replayed, the store opens", async () => {
    const dir = await folder();
    await writeAndDie(dir, "k", 10, 100);
    // Tear the last record as a crash in the middle of an append would: its last bytes never made it.
    const log = join(dir, "store.lmdb", "commit.log");
    const bytes = await readFile(log);
    let end = 0;
    let last = 0;
    while (end < bytes.length && bytes.readUInt32LE(end) >= 28) {
      last = end;
      end += bytes.readUInt32LE(end);
    }
    bytes.fill(0, end - 10, end);
    await writeFile(log, bytes);
    expect(last).toBeGreaterThan(0);

    const store = openStore(dir);
    expect(store.replayed).toBe(9);
    expect(await store.load(id("k9"))).toBeUndefined();
    expect(Buffer.from((await store.load(id("k8")))?.data ?? []).toString()).toBe(expected("k", 8, 100));
  });

  it("refuses a write whose append fails and undoes it; acknowledged writes before and after the failure survive a kill -9", async () => {
    const dir = await folder();
    // Nothing in between is handed to LMDB: the process freezes when the last write is acknowledged.
    const r = await stepsAndDie(dir, [
      { cmd: "save", key: "a", text: "one", expected: null },
      { cmd: "failDisk" },
      { cmd: "save", key: "a", text: "two", expected: { step: 0 } },
      { cmd: "save", key: "c", text: "c1", expected: null },
      { cmd: "load", key: "a" },
      { cmd: "load", key: "c" },
      { cmd: "save", key: "a", text: "two", expected: { step: 0 } },
      { cmd: "healDisk" },
      { cmd: "save", key: "a", text: "three", expected: { step: 0 } },
      { cmd: "save", key: "c", text: "c1", expected: null },
    ]);
    expect(r[0]).toMatchObject({ ok: true });
    const v1 = r[0]?.version;
    expect(r[1]).toEqual({ ok: true });
    // The failing disk's error reaches the writer; what it tried to write is gone at once.
    expect(r[2]).toMatchObject({ ok: false, code: "ENOSPC" });
    expect(r[3]).toMatchObject({ ok: false, code: "ENOSPC" });
    expect(r[4]).toEqual({ ok: true, text: "one", version: v1 });
    expect(r[5]).toEqual({ ok: true });
    expect(r[6]).toMatchObject({ ok: false, code: "ENOSPC" });
    // Once the disk writes again, the version acknowledged before the failure is still the current one.
    expect(r[8]).toMatchObject({ ok: true });
    expect(r[9]).toMatchObject({ ok: true });

    // The failed appends left no hole in the log: the writes after them are replayed.
    const store = openStore(dir);
    expect(store.replayed).toBeGreaterThanOrEqual(2);
    expect(await loadText(store, "a")).toEqual({ text: "three", version: r[8]?.version });
    expect(await loadText(store, "c")).toEqual({ text: "c1", version: r[9]?.version });
  });

  it("never replays a failed append, even one the disk wrote before it reported the error", async () => {
    const dir = await folder();
    const r = await stepsAndDie(dir, [
      { cmd: "save", key: "a", text: "one", expected: null },
      { cmd: "failDisk" },
      { cmd: "save", key: "b", text: "bad", expected: null },
      // What that failed append could have left on disk: its records, whole, where it was to go.
      {
        cmd: "plant",
        records: [
          { key: "b", text: "bad", version: 9e15 },
          { key: "z", text: "zombie", version: 9e15 + 1 },
        ],
      },
      { cmd: "healDisk" },
      // A record the size of the planted "b": written where the failed append was, it would
      // leave the planted "z" whole right after it.
      { cmd: "save", key: "c", text: "new", expected: null },
    ]);
    expect(r[0]).toMatchObject({ ok: true });
    expect(r[2]).toMatchObject({ ok: false, code: "ENOSPC" });
    expect(r[3]).toEqual({ ok: true });
    expect(r[5]).toMatchObject({ ok: true });

    const store = openStore(dir);
    expect(await loadText(store, "a")).toEqual({ text: "one", version: r[0]?.version });
    expect(await loadText(store, "c")).toEqual({ text: "new", version: r[5]?.version });
    expect(await store.load(id("b"))).toBeUndefined();
    expect(await store.load(id("z"))).toBeUndefined();
  });

  it("keeps an acknowledged write when the append that makes the log start again fails", async () => {
    const dir = await folder();
    // 272 appends of 15 KiB leave less than 15,000 bytes of the 4 MiB log: the write of
    // "big" below makes it start again, and that append fails. "k" = "small" was acknowledged
    // just before, and the failed write of "big" hid it from the log's restart.
    const r = await stepsAndDie(dir, [
      { cmd: "fill", prefix: "f", n: 272, bytes: 15 * 1024 },
      { cmd: "save", key: "k", text: "small", expected: null },
      { cmd: "failDisk" },
      { cmd: "save", key: "k", text: "x".repeat(15_000), expected: { step: 1 } },
      { cmd: "healDisk" },
      // Written over the start of the log under its new generation: the old records are gone.
      { cmd: "save", key: "after", text: "after", expected: null },
    ]);
    expect(r[1]).toMatchObject({ ok: true });
    expect(r[3]).toMatchObject({ ok: false, code: "ENOSPC" });
    expect(r[5]).toMatchObject({ ok: true });

    const store = openStore(dir);
    expect(await loadText(store, "k")).toEqual({ text: "small", version: r[1]?.version });
    expect(await loadText(store, "after")).toEqual({ text: "after", version: r[5]?.version });
    expect((await store.load(id("f271")))?.data.byteLength).toBe(15 * 1024);
  });

  it("loadShared hands out a logged record's own bytes only where they are most of their buffer", async () => {
    const dir = await folder();
    const store = openStore(dir);
    // 32 writes issued together share appends: each record is a small part of its batch's buffer.
    const keys = Array.from({ length: 32 }, (_, i) => `batch${i}`);
    await Promise.all(keys.map((k) => store.save(id(k), text(`value of ${k}`), null)));
    // One 12 KiB write alone: its append's buffer is the record (a header and the key besides).
    await store.save(id("alone"), new Uint8Array(12 * 1024).fill(3), null);
    for (const k of [...keys, "alone"]) {
      const shared = await store.loadShared(id(k));
      const bytes = shared?.data ?? new Uint8Array();
      expect(bytes.byteLength).toBeGreaterThan(0);
      // What a caller keeps never holds more than twice its size alive.
      expect(bytes.buffer.byteLength).toBeLessThanOrEqual(2 * bytes.byteLength);
      expect(bytes.constructor).toBe(Uint8Array);
      expect(bytes).toEqual((await store.load(id(k)))?.data);
    }
    // The lone record is its own bytes (no copy); the batched ones are copies.
    const alone = await store.loadShared(id("alone"));
    expect(alone?.data.buffer).toBe((await store.loadShared(id("alone")))?.data.buffer);
    const batched = await store.loadShared(id("batch0"));
    expect(batched?.data.buffer).not.toBe((await store.loadShared(id("batch0")))?.data.buffer);
    await store.close();
  });

  it("serves the newest write before LMDB has it: loads, conditions and deletions see it", async () => {
    const dir = await folder();
    const store = openStore(dir);
    const v1 = await store.save(id("a"), text("one"), null);
    const v2 = await store.save(id("a"), text("two"), v1);
    await expect(store.save(id("a"), text("stale"), v1)).rejects.toMatchObject({ expected: v1, found: v2 });
    expect(await store.load(id("a"))).toEqual({ data: text("two"), version: v2 });
    await store.delete(id("a"), v2);
    expect(await store.load(id("a"))).toBeUndefined();
    await expect(store.delete(id("a"), v2)).resolves.toBeUndefined();
    const v3 = await store.save(id("a"), text("three"), null);
    // A record too large for the log goes straight to LMDB, after what the log holds of the key.
    const large = new Uint8Array(256 * 1024).fill(7);
    const v4 = await store.save(id("a"), large, v3);
    await expect(store.save(id("a"), text("stale"), v3)).rejects.toBeInstanceOf(StateConflictError);
    const v5 = await store.save(id("a"), text("five"), v4);
    await store.close();
    const reopened = openStore(dir);
    const loaded = await reopened.load(id("a"));
    expect(Buffer.from(loaded?.data ?? []).toString()).toBe("five");
    expect(loaded?.version).toBe(v5);
  });
});
