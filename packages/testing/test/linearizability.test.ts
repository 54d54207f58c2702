import { describe, expect, it } from "vitest";
import {
  checkCounterLinearizable,
  checkLinearizable,
  counterModel,
  History,
  type LinOp,
  type RegisterInput,
  registerModel,
} from "../src/index.js";

type RegOp = LinOp<RegisterInput<number>, number>;
const write = (value: number, start: number, end: number | undefined): RegOp => ({
  input: { kind: "write", value },
  start,
  end,
});
const read = (value: number, start: number, end: number): RegOp => ({
  input: { kind: "read" },
  start,
  end,
  output: value,
});

describe("checkLinearizable (register)", () => {
  it("accepts overlapping writes read in either order", () => {
    const ops = [write(1, 0, 10), write(2, 5, 15), read(2, 16, 17), read(2, 18, 19)];
    expect(checkLinearizable(ops, registerModel(0)).verdict).toBe("linearizable");
  });

  it("rejects a stale read after a completed write", () => {
    const ops = [write(1, 0, 10), write(2, 11, 15), read(1, 16, 17)];
    const r = checkLinearizable(ops, registerModel(0));
    expect(r.verdict).toBe("violation");
  });

  it("rejects reads that see two writes in opposite orders", () => {
    const ops = [write(1, 0, 100), write(2, 0, 100), read(1, 10, 20), read(2, 30, 40), read(1, 50, 60)];
    expect(checkLinearizable(ops, registerModel(0)).verdict).toBe("violation");
  });

  it("lets an unknown write take effect late, or never", () => {
    // The write failed at its caller (no end): it may still have been applied.
    expect(checkLinearizable([write(7, 0, undefined), read(0, 5, 6), read(7, 8, 9)], registerModel(0)).verdict).toBe(
      "linearizable",
    );
    expect(checkLinearizable([write(7, 0, undefined), read(0, 5, 6)], registerModel(0)).verdict).toBe("linearizable");
    // But once seen, it cannot be unseen.
    expect(checkLinearizable([write(7, 0, undefined), read(7, 5, 6), read(0, 8, 9)], registerModel(0)).verdict).toBe(
      "violation",
    );
  });

  it("answers unknown when the search budget runs out", () => {
    const ops: RegOp[] = [];
    for (let i = 0; i < 40; i++) ops.push(write(i, 0, 1000));
    ops.push(read(-1, 2000, 2001));
    expect(checkLinearizable(ops, registerModel(0), { maxSteps: 1000 }).verdict).toBe("unknown");
  });
});

describe("checkCounterLinearizable", () => {
  const at = (h: { t: number }) => () => h.t;

  it("accepts a clean concurrent history and its final value", () => {
    const clock = { t: 0 };
    const h = new History(at(clock));
    const a = h.begin("k", "add", { n: 2 });
    const b = h.begin("k", "add", { n: 3 });
    clock.t = 5;
    b.ok(3);
    a.ok(5);
    const failed = h.begin("k", "add", { n: 4 });
    clock.t = 6;
    failed.fail("TIMEOUT");
    const results = checkCounterLinearizable(h.ops, new Map([["k", 9]]));
    expect(results.get("k")?.verdict).toBe("linearizable");
    // The failed add was applied (9) or not (5): both are fine; 7 is not.
    expect(checkCounterLinearizable(h.ops, new Map([["k", 5]])).get("k")?.verdict).toBe("linearizable");
    expect(checkCounterLinearizable(h.ops, new Map([["k", 7]])).get("k")?.verdict).toBe("violation");
  });

  it("rejects a lost acknowledged add", () => {
    const clock = { t: 0 };
    const h = new History(at(clock));
    const a = h.begin("k", "add", { n: 1 });
    clock.t = 1;
    a.ok(1);
    const b = h.begin("k", "add", { n: 1 });
    clock.t = 2;
    b.ok(1);
    expect(checkCounterLinearizable(h.ops).get("k")?.verdict).toBe("violation");
  });

  it("decides many unanswered adds of the same amount within a small budget, both ways", () => {
    type CounterOp = LinOp<{ kind: "add"; n: number } | { kind: "read" }, number>;
    // 30 adds of 1 that failed at their callers (each may have been applied, or not), then a read.
    const history = (seen: number): CounterOp[] => [
      ...Array.from({ length: 30 }, (_, i): CounterOp => ({ input: { kind: "add", n: 1 }, start: i, end: undefined })),
      { input: { kind: "read" }, start: 100, end: 101, output: seen },
    ];
    expect(checkLinearizable(history(17), counterModel(), { maxSteps: 5_000 }).verdict).toBe("linearizable");
    // 31 cannot be: only 30 were sent. Proving it means ruling out every subset of them, 2^30
    // without treating unanswered twins as interchangeable; with it, one per count.
    expect(checkLinearizable(history(31), counterModel(), { maxSteps: 5_000 }).verdict).toBe("violation");
  });

  it("counter model replays adds and reads", () => {
    const m = counterModel();
    expect(m.step(0, { kind: "add", n: 2 }, 2)).toBe(2);
    expect(m.step(0, { kind: "add", n: 2 }, 3)).toBeUndefined();
    expect(m.step(4, { kind: "read" }, undefined)).toBe(4);
  });
});
