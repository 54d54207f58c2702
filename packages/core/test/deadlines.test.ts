import { type Clock, type DeadlineEntry, DeadlineQueue, ManualClock, type TimerHandle } from "@praas/core/internal";
import { describe, expect, it } from "vitest";

function entry(log: string[], name: string): DeadlineEntry {
  return {
    deadline: 0,
    dlPrev: undefined,
    dlNext: undefined,
    dlList: undefined,
    expire: () => log.push(name),
  };
}

/** A manual clock that counts the timers it was asked for. */
class CountingClock extends ManualClock implements Clock {
  created = 0;
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    this.created++;
    return super.setTimeout(fn, ms);
  }
}

describe("DeadlineQueue", () => {
  it("expires entries in deadline order across timeout lengths", async () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    q.add(entry(log, "a300"), 300);
    q.add(entry(log, "b100"), 100);
    await clock.advance(50);
    q.add(entry(log, "c100"), 100); // due at 150
    q.add(entry(log, "d20"), 20); // due at 70
    await clock.advance(1_000);
    expect(log).toEqual(["d20", "b100", "c100", "a300"]);
    expect(q.size).toBe(0);
  });

  it("never expires a removed entry", async () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    const entries = Array.from({ length: 5 }, (_, i) => entry(log, `e${i}`));
    for (const e of entries) q.add(e, 100);
    q.remove(entries[0] as DeadlineEntry);
    q.remove(entries[2] as DeadlineEntry);
    q.remove(entries[4] as DeadlineEntry);
    q.remove(entries[4] as DeadlineEntry); // twice is harmless
    await clock.advance(100);
    expect(log).toEqual(["e1", "e3"]);
  });

  it("uses about one timer per timeout length, not one per entry", async () => {
    const clock = new CountingClock();
    const q = new DeadlineQueue(clock);
    const log: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const e = entry(log, "x");
      q.add(e, 30_000);
      q.remove(e);
    }
    expect(clock.created).toBe(1);
    await clock.advance(60_000);
    expect(log).toEqual([]);
  });

  it("on close, settles what is still queued with the reason at once, then never fires", async () => {
    const clock = new ManualClock();
    const q = new DeadlineQueue(clock);
    const reasons: unknown[] = [];
    const e = { ...entry([], "x"), expire: (reason?: unknown) => reasons.push(reason) };
    q.add(e, 10);
    q.close("stopped");
    expect(reasons).toEqual(["stopped"]);
    expect(q.size).toBe(0);
    await clock.advance(100);
    expect(reasons).toEqual(["stopped"]);
  });

  it("keeps the process alive only while a deadline is pending", () => {
    const calls: string[] = [];
    const clock: Clock = {
      now: () => 0,
      setTimeout: (_fn, _ms, weak) => {
        calls.push(weak === true ? "weak" : "strong");
        return { cancel: () => {}, ref: () => calls.push("ref"), unref: () => calls.push("unref") };
      },
    };
    const q = new DeadlineQueue(clock);
    const a = entry([], "a");
    q.add(a, 10);
    expect(calls).toEqual(["strong"]);
    q.remove(a);
    expect(calls).toEqual(["strong", "unref"]);
    q.add(entry([], "b"), 20); // later than the armed deadline: same timer, held again
    expect(calls).toEqual(["strong", "unref", "ref"]);
  });
});
