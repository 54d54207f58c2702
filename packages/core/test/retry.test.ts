import { describe, expect, it } from "vitest";
import { ManualClock } from "../src/clock.js";
import { InvalidArgumentError, PraasError, TimeoutError } from "../src/errors.js";
import { isRetryable, retry, retryDelay } from "../src/retry.js";

const transient = (): PraasError => new PraasError("SILO_UNAVAILABLE", "not now", { retryable: true });

describe("retryDelay", () => {
  it("grows exponentially up to the cap, jittered as asked", () => {
    const policy = { initialDelayMs: 10, maxDelayMs: 100, jitter: "none" as const };
    expect([1, 2, 3, 4, 5, 40].map((n) => retryDelay(policy, n))).toEqual([10, 20, 40, 80, 100, 100]);
    expect(retryDelay({ ...policy, jitter: "full" }, 3, () => 0.5)).toBe(20);
    expect([1, 2, 3, 4].map((n) => retryDelay({ ...policy, multiplier: 4, maxDelayMs: 800 }, n))).toEqual([
      10, 40, 160, 640,
    ]);
    expect(retryDelay({ ...policy, jitter: "equal" }, 3, () => 0)).toBe(20);
    expect(retryDelay({ ...policy, jitter: "equal" }, 3, () => 0.999)).toBeCloseTo(39.98);
  });
});

describe("isRetryable", () => {
  it("is the error's own retryable mark, TIMEOUT included", () => {
    expect(isRetryable(transient())).toBe(true);
    expect(isRetryable(new TimeoutError("late"))).toBe(true);
    expect(isRetryable(new InvalidArgumentError("bad"))).toBe(false);
    expect(isRetryable({ retryable: true })).toBe(true);
    expect(isRetryable(new Error("plain"))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });
});

describe("retry", () => {
  it("tries again after retryable errors, pausing between tries", async () => {
    const clock = new ManualClock(0);
    const times: number[] = [];
    const p = retry(
      async (n) => {
        times.push(clock.now());
        if (n < 3) throw transient();
        return "ok";
      },
      { policy: { initialDelayMs: 100, maxDelayMs: 1000, jitter: "none" }, clock },
    );
    await clock.advance(1000);
    await expect(p).resolves.toBe("ok");
    expect(times).toEqual([0, 100, 300]);
  });

  it("does not retry an error that is not retryable", async () => {
    let tries = 0;
    const p = retry(
      async () => {
        tries++;
        throw new InvalidArgumentError("bad");
      },
      { policy: { initialDelayMs: 1, maxDelayMs: 1 } },
    );
    await expect(p).rejects.toThrow("bad");
    expect(tries).toBe(1);
  });

  it("stops at maxAttempts with the last error", async () => {
    const clock = new ManualClock(0);
    let tries = 0;
    const p = retry(
      async () => {
        tries++;
        throw transient();
      },
      { policy: { initialDelayMs: 10, maxDelayMs: 10, maxAttempts: 3, jitter: "none" }, clock },
    );
    const settled = expect(p).rejects.toMatchObject({ code: "SILO_UNAVAILABLE" });
    await clock.advance(100);
    await settled;
    expect(tries).toBe(3);
  });

  it("never pauses past the caller's deadline, and hands each try the time left", async () => {
    const clock = new ManualClock(0);
    const remaining: number[] = [];
    const p = retry(
      async (_n, left) => {
        remaining.push(left);
        throw new TimeoutError("late");
      },
      { policy: { initialDelayMs: 40, maxDelayMs: 40, jitter: "none" }, clock, deadline: 100 },
    );
    const settled = expect(p).rejects.toMatchObject({ code: "TIMEOUT" });
    await clock.advance(1000);
    await settled;
    // Tries at 0, 40, 80; a pause from 80 would end at 120, past the deadline.
    expect(remaining).toEqual([100, 60, 20]);
  });

  it("stops when told to (a stopping silo)", async () => {
    let stopping = false;
    let tries = 0;
    const p = retry(
      async () => {
        tries++;
        stopping = true;
        throw transient();
      },
      { policy: { initialDelayMs: 1, maxDelayMs: 1 }, stop: () => stopping },
    );
    await expect(p).rejects.toMatchObject({ code: "SILO_UNAVAILABLE" });
    expect(tries).toBe(1);
  });
});
