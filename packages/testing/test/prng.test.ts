import { describe, expect, it } from "vitest";
import { DEFAULT_FAULT_KINDS, describeSchedule, faultSchedule, Prng, seedFromEnv } from "../src/index.js";

describe("Prng", () => {
  it("gives the same stream for the same seed, another for another", () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it("draws integers in range and rejects bad seeds", () => {
    const p = new Prng(1);
    for (let i = 0; i < 1000; i++) {
      const v = p.between(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
    }
    expect(() => new Prng(Number.NaN)).toThrow(RangeError);
    expect(seedFromEnv({ PRAAS_SEED: "77" })).toBe(77);
    expect(() => seedFromEnv({ PRAAS_SEED: "x" })).toThrow(RangeError);
  });
});

describe("faultSchedule", () => {
  it("is a function of its seed, within the duration, using only the kinds asked for", () => {
    const options = { silos: 3, durationMs: 60_000 };
    const one = faultSchedule(9, options);
    expect(faultSchedule(9, options)).toEqual(one);
    expect(faultSchedule(10, options)).not.toEqual(one);
    expect(one.length).toBeGreaterThan(3);
    for (const e of one) {
      expect(DEFAULT_FAULT_KINDS).toContain(e.kind);
      expect(e.at).toBeLessThanOrEqual(60_000);
    }
    const crashes = faultSchedule(9, { ...options, kinds: ["crash"] });
    expect(crashes.every((e) => e.kind === "crash" && e.silos.length === 1)).toBe(true);
    expect(describeSchedule(one).split("\n")).toHaveLength(one.length);
  });
});
