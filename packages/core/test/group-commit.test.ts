import { GroupCommit, type GroupItem } from "@praas/core/internal";
import { describe, expect, it } from "vitest";

interface Write extends GroupItem {
  readonly n: number;
}

/** A committer whose commits finish only when the test says so. */
function gatedCommitter() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const group = new GroupCommit<Write>(async (batch) => {
    batches.push(batch.map((w) => w.n));
    await new Promise<void>((resolve) => gates.push(resolve));
    for (const w of batch) w.resolve(`v${w.n}`);
  });
  const write = (n: number): Promise<string> => new Promise((resolve, reject) => group.add({ n, resolve, reject }));
  return { group, batches, gates, write };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("GroupCommit", () => {
  it("commits the writes of one turn together, and those arriving meanwhile in the next commit", async () => {
    const { batches, gates, write } = gatedCommitter();
    const first = [write(1), write(2), write(3)];
    await turn();
    expect(batches).toEqual([[1, 2, 3]]);
    // While that commit is in flight, more writes arrive over several turns: they wait.
    const second = [write(4)];
    await turn();
    second.push(write(5), write(6));
    await turn();
    expect(batches).toHaveLength(1);
    gates.shift()?.();
    expect(await Promise.all(first)).toEqual(["v1", "v2", "v3"]);
    await turn();
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    gates.shift()?.();
    expect(await Promise.all(second)).toEqual(["v4", "v5", "v6"]);
  });

  it("settles a write only with its own commit; a failed commit rejects exactly its batch", async () => {
    let fail = true;
    const group = new GroupCommit<Write>(async (batch) => {
      if (fail) {
        fail = false;
        throw new Error("disk full");
      }
      for (const w of batch) w.resolve(`v${w.n}`);
    });
    const write = (n: number) => new Promise<string>((resolve, reject) => group.add({ n, resolve, reject }));
    const a = write(1);
    const b = write(2);
    await expect(a).rejects.toThrow("disk full");
    await expect(b).rejects.toThrow("disk full");
    expect(await write(3)).toBe("v3");
  });

  it("idle() waits for every write added so far", async () => {
    const { group, gates, write } = gatedCommitter();
    const done: number[] = [];
    void write(1).then(() => done.push(1));
    let idle = false;
    const waiting = group.idle().then(() => {
      idle = true;
    });
    await turn();
    expect(idle).toBe(false);
    gates.shift()?.();
    await waiting;
    expect(done).toEqual([1]);
    await group.idle();
  });

  it("splits a long queue into batches of at most maxBatch", async () => {
    const sizes: number[] = [];
    const group = new GroupCommit<Write>(
      async (batch) => {
        sizes.push(batch.length);
        for (const w of batch) w.resolve("ok");
      },
      { maxBatch: 4 },
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, n) => new Promise<string>((resolve, reject) => group.add({ n, resolve, reject }))),
    );
    expect(sizes).toEqual([4, 4, 2]);
  });
});

describe("GroupCommit, start: microtask", () => {
  it("starts a commit once the code that issued the writes yields, with all of them, before the event loop moves on", async () => {
    const batches: number[][] = [];
    const group = new GroupCommit<Write>(
      async (batch) => {
        batches.push(batch.map((w) => w.n));
        for (const w of batch) w.resolve("ok");
      },
      { start: "microtask" },
    );
    const add = (n: number) => new Promise<string>((resolve, reject) => group.add({ n, resolve, reject }));
    const writes = [add(1), add(2)];
    expect(batches).toEqual([]);
    await Promise.resolve();
    // Started in a microtask: no I/O or timer phase has run.
    expect(batches).toEqual([[1, 2]]);
    await Promise.all(writes);
  });
});

describe("GroupCommit, start: at once", () => {
  it("starts a commit inside add() when idle; writes issued while it runs share the next one", async () => {
    const batches: number[][] = [];
    const commits: (() => void)[] = [];
    const group = new GroupCommit<Write>(
      (batch) => {
        batches.push(batch.map((w) => w.n));
        return new Promise<void>((finish) =>
          commits.push(() => {
            for (const w of batch) w.resolve("ok");
            finish();
          }),
        );
      },
      { start: "at once" },
    );
    const add = (n: number) => new Promise<string>((resolve, reject) => group.add({ n, resolve, reject }));
    const writes = [add(1)];
    // Synchronously: the commit has begun before add() returned.
    expect(batches).toEqual([[1]]);
    writes.push(add(2), add(3));
    expect(batches).toEqual([[1]]);
    commits.shift()?.();
    await writes[0];
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1], [2, 3]]);
    commits.shift()?.();
    await Promise.all(writes);
    await group.idle();
  });
});
