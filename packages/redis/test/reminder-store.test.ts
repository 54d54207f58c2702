import { RedisReminderStore, redisReminderStore } from "@praas/redis";
import { Actor, InvalidArgumentError, ManualClock, MemoryStateStore, type ReminderRecord, Silo } from "@praas/silo";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";

const record = (key: string, name: string, dueAt: number): ReminderRecord => ({
  actor: { type: "T", key },
  name,
  dueAt,
  periodMs: 1_000,
  missedTotal: 0,
  failures: 0,
});

describe("RedisReminderStore", () => {
  it("puts, gets, lists and deletes reminders", async () => {
    const store = redisReminderStore({ url: redisUrl(), key: uniqueName("rem") });
    await store.put(record("a", "x", 5));
    await store.put(record("a", "y", 6));
    await store.put(record("b/c", "x", 7));
    await store.put({ ...record("a", "x", 50), missedTotal: 3 });
    expect(await store.get({ type: "T", key: "a" }, "x")).toEqual({ ...record("a", "x", 50), missedTotal: 3 });
    expect((await store.list()).map((r) => `${r.actor.key}#${r.name}`).sort()).toEqual(["a#x", "a#y", "b/c#x"]);
    await store.delete({ type: "T", key: "a" }, "y");
    expect(await store.get({ type: "T", key: "a" }, "y")).toBeUndefined();
    expect(await store.list()).toHaveLength(2);
    await store.close();
  });

  it("reports a foreign value with its location instead of misreading it", async () => {
    const key = uniqueName("rem");
    const admin = new Redis(redisUrl());
    await admin.hset(key, "T/a#x", "not cbor at all \u00ff");
    const store = new RedisReminderStore({ client: admin, key });
    await expect(store.list()).rejects.toThrow(new RegExp(`redis:${key}\\[T/a#x\\]`));
    await store.close();
    admin.disconnect();
  });

  it("validates its options", () => {
    expect(() => new RedisReminderStore({} as never)).toThrow(InvalidArgumentError);
    expect(() => new RedisReminderStore({ url: "http://x" })).toThrow(/redis:\/\//);
  });

  it("lets a second silo take over a reminder registered through the first", async () => {
    class Beeper extends Actor<{ beeps: number }> {
      static initialState() {
        return { beeps: 0 };
      }
      async arm(): Promise<void> {
        await this.remind("beep", { every: 1_000 });
      }
      override onReminder(): void {
        this.state.beeps++;
        this.emit("beep", this.state.beeps);
      }
      beeps(): number {
        return this.state.beeps;
      }
    }
    const key = uniqueName("rem");
    const storage = new MemoryStateStore();
    const clock = new ManualClock();
    const first = await Silo.start({
      actors: [Beeper],
      storage,
      clock,
      reminders: redisReminderStore({ url: redisUrl(), key }),
    });
    await first.ref(Beeper, "b").arm();
    await first.stop();
    const second = await Silo.start({
      actors: [Beeper],
      storage,
      clock,
      reminders: redisReminderStore({ url: redisUrl(), key }),
    });
    let beeps = 0;
    second.subscribe({ type: "Beeper", key: "b" }, "beep", () => beeps++);
    // Each firing does real Redis I/O between clock steps: step the clock in small
    // increments and give that I/O real time, bounded (about 10 s), until three firings.
    for (let step = 0; step < 2_000 && beeps < 3; step++) {
      await clock.advance(100);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(beeps).toBeGreaterThanOrEqual(3);
    // A firing started by the last clock step may still be on its way (real Redis I/O): at least.
    expect(await second.ref(Beeper, "b").beeps()).toBeGreaterThanOrEqual(3);
    const reader = redisReminderStore({ url: redisUrl(), key });
    const stored = await reader.get({ type: "Beeper", key: "b" }, "beep");
    await reader.close();
    expect(stored?.lastFiredAt).toBeGreaterThan(1_000_000);
    await second.stop();
  });
});
