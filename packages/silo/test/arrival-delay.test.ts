import { describe, expect, it } from "vitest";
import { ArrivalDelay, CREEP, LATE_SLACK_MS } from "../src/arrival-delay.js";

describe("ArrivalDelay", () => {
  it("measures each frame against the connection's fastest, whatever the two clocks read", () => {
    const d = new ArrivalDelay();
    // The client's clock reads 1,000,000 ms behind ours; transit takes 3 ms.
    const offset = 1_000_000;
    expect(d.lateness(5_000, 5_000 + offset + 3)).toBe(0);
    expect(d.lateness(5_010, 5_010 + offset + 3)).toBeCloseTo(0, 0);
    // Held 8 s in a send queue: seen as 8 s late, less the creep since the reference was set.
    const late = d.lateness(5_020, 5_020 + offset + 3 + 8_000);
    expect(late).toBeGreaterThan(8_000 - (10 + 8_000) * CREEP - 1);
    expect(late).toBeLessThanOrEqual(8_000);
  });

  it("a faster frame becomes the new reference; a client clock slower than ours never makes frames look late", () => {
    const d = new ArrivalDelay();
    expect(d.lateness(100, 150)).toBe(0);
    expect(d.lateness(200, 240)).toBe(0);
    // 200 ppm slow: after an hour its stamps are 720 ms behind; the creep (1 %) covers that.
    const hour = 3_600_000;
    expect(d.lateness(200 + hour - 720, 240 + hour)).toBe(0);
  });

  it("stamps from the future or the far past cost only the liar: lateness is never negative nor NaN", () => {
    const d = new ArrivalDelay();
    expect(d.lateness(Number.MAX_SAFE_INTEGER, 10)).toBe(0);
    const next = d.lateness(0, 20);
    expect(Number.isFinite(next)).toBe(true);
    expect(next).toBeGreaterThan(0);
  });

  it("refuses only beyond the deadline plus the slack, and says by how much", () => {
    const d = new ArrivalDelay();
    expect(d.refusal(1_000, 1_010, 500, "x")).toBeUndefined();
    // 500 ms deadline: 550 ms late is within the slack; 2 s late is not.
    expect(d.refusal(1_000 - 550, 1_020, 500, "x")).toBeUndefined();
    expect(500 + LATE_SLACK_MS).toBeLessThan(2_000);
    expect(d.refusal(1_000 - 2_000, 1_030, 500, "Counter/k.add: the call")).toMatch(
      /^Counter\/k\.add: the call arrived 20\d\d ms after it was sent, past its 500 ms deadline; not run$/,
    );
  });
});
