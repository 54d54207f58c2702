/** A reminder firing that fails is tried again after 1 s, 2 s, 4 s … (the reminder service's backoff). */
import { Actor, type ReminderFiring } from "@praas/silo";
import { describe, expect, it } from "vitest";
import { testSilo } from "./fixtures.js";

class Flaky extends Actor {
  static readonly attempts: number[] = [];
  static failUntil = 0;
  async once(at: number): Promise<void> {
    await this.remind("r", { at });
  }
  override onReminder(_name: string, firing: ReminderFiring): void {
    Flaky.attempts.push(firing.attempt);
    if (firing.attempt < Flaky.failUntil) throw new Error(`not yet (${firing.attempt})`);
  }
}

describe("reminder retries", () => {
  it("back off exponentially from retryMs, without jitter", async () => {
    const { silo, clock } = await testSilo([Flaky], { idleTimeoutMs: 3_600_000 });
    silo.on("failure", () => {}); // expected failures; keep them off stderr
    Flaky.failUntil = 3;
    const due = clock.now() + 1_000;
    const times: number[] = [];
    const origin = Flaky.attempts.length;
    await silo.ref(Flaky, "a").once(due);
    for (let t = 0; t < 1_000 + 1_000 + 2_000 + 4_000; t += 500) {
      await clock.advance(500);
      while (times.length < Flaky.attempts.length - origin) times.push(clock.now() - due);
    }
    expect(Flaky.attempts.slice(origin)).toEqual([0, 1, 2, 3]);
    // Fired at the due time, then after 1 s, 2 s and 4 s (times read at 500 ms steps).
    expect(times).toEqual([0, 1_000, 3_000, 7_000]);
    await silo.stop();
  });
});
