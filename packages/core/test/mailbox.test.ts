import { Deque, Mailbox, type Turn } from "@praas/core/internal";
import { describe, expect, it } from "vitest";

interface T extends Turn {
  name: string;
  done?: Promise<void>;
}

describe("Mailbox", () => {
  it("runs ordinary turns one at a time in arrival order", async () => {
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    const mb: Mailbox<T> = new Mailbox<T>({
      execute: (t) => {
        log.push(`start ${t.name}`);
        void new Promise<void>((r) => gates.set(t.name, r)).then(() => {
          log.push(`end ${t.name}`);
          mb.done(t);
        });
        return false;
      },
    });
    mb.post({ name: "a", interleave: false });
    mb.post({ name: "b", interleave: false });
    expect(mb.current?.name).toBe("a");
    expect(mb.queued).toBe(1);
    gates.get("a")?.();
    await new Promise((r) => setImmediate(r));
    gates.get("b")?.();
    await mb.whenIdle();
    expect(log).toEqual(["start a", "end a", "start b", "end b"]);
  });

  it("starts interleaving turns at once, alongside an ordinary one", async () => {
    const log: string[] = [];
    let release!: () => void;
    const mb: Mailbox<T> = new Mailbox<T>({
      execute: (t) => {
        log.push(t.name);
        if (t.name !== "slow") return true;
        release = () => mb.done(t);
        return false;
      },
    });
    mb.post({ name: "slow", interleave: false });
    mb.post({ name: "queued", interleave: false });
    mb.post({ name: "peek", interleave: true });
    expect(log).toEqual(["slow", "peek"]);
    expect(mb.idle).toBe(false);
    release();
    await mb.whenIdle();
    expect(log).toEqual(["slow", "peek", "queued"]);
  });

  it("drains a long queue of synchronous turns without growing the stack", async () => {
    let ran = 0;
    let release!: () => void;
    const mb: Mailbox<T> = new Mailbox<T>({
      execute: (t) => {
        ran++;
        if (t.name !== "first") return true;
        release = () => mb.done(t);
        return false;
      },
    });
    mb.post({ name: "first", interleave: false });
    for (let i = 0; i < 200_000; i++) mb.post({ name: "sync", interleave: false });
    release();
    await mb.whenIdle();
    expect(ran).toBe(200_001);
  });
});

describe("Deque", () => {
  it("is FIFO across growth and wrap-around", () => {
    const d = new Deque<number>(2);
    const expected: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 7; i++) {
        d.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < 5; i++) expect(d.shift()).toBe(expected.shift());
    }
    expect(d.drain()).toEqual(expected);
    expect(d.length).toBe(0);
    expect(d.shift()).toBeUndefined();
  });
});
