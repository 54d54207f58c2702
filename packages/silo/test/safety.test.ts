/**
 * The promises that break at the edges: no acknowledgement without the write
 * it promises (stale activations), nothing hangs (stuck turns, bounded stop),
 * state the codec cannot save is kept, not thrown away, and capacity eviction
 * counts only what is really active.
 */
import type { LogFunction, LogLevel } from "@praas/core";
import {
  Actor,
  type ActorId,
  encodeStateRecord,
  ManualClock,
  MemoryStateStore,
  Silo,
  type SiloFailure,
  type StateStore,
  startGateway,
} from "@praas/silo";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Counter, deferred, settledFlag, testSilo } from "./fixtures.js";

class TurnCounter extends Actor<{ value: number }> {
  static readonly persistence = "turn";
  static initialState() {
    return { value: 0 };
  }
  async add(n: number): Promise<number> {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

/** A method that never returns, beside ordinary ones. */
class Hanging extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  async hang(): Promise<void> {
    this.state.value += 1000;
    await new Promise(() => {});
  }
}

/** State the codec cannot encode (a function) until `heal` removes it. */
class Unsaveable extends Actor<{ value: number; bad?: unknown }> {
  static readonly idleTimeoutMs = 1_000;
  static initialState() {
    return { value: 0 } as { value: number; bad?: unknown };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  poison(): void {
    this.state.bad = () => 1;
  }
  heal(): void {
    delete this.state.bad;
  }
}

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s().catch(() => {});
});

function started<T extends { silo: Silo }>(t: T): T {
  stops.push(() => t.silo.stop());
  return t;
}

/** Write newer state for `id` straight into the store, as another silo would. */
async function writeBehindItsBack(store: MemoryStateStore, id: ActorId, value: number): Promise<void> {
  const current = await store.load(id);
  await store.save(id, encodeStateRecord({ stateVersion: 1, state: { value } }), current?.version ?? null);
}

/** One log line as a test keeps it. */
interface SiloLogRecord {
  readonly level: LogLevel;
  readonly message: string;
}

/** Failure events and log lines of a silo, as an operator would see them. */
function watch(): {
  failures: SiloFailure[];
  logs: SiloLogRecord[];
  log: LogFunction;
  on: (silo: Silo) => void;
} {
  const failures: SiloFailure[] = [];
  const logs: SiloLogRecord[] = [];
  return {
    failures,
    logs,
    log: (level, message) => {
      logs.push({ level, message });
    },
    on: (silo) => {
      silo.on("failure", (f) => failures.push(f));
    },
  };
}

describe("a stale activation acknowledges nothing it did not store", () => {
  it('fails the conflicting call and every call queued behind it ("turn")', async () => {
    const { silo, store } = started(await testSilo([TurnCounter]));
    const ref = silo.ref(TurnCounter, "k");
    expect(await ref.add(1)).toBe(1);
    await writeBehindItsBack(store, { type: "TurnCounter", key: "k" }, 100);
    const results = await Promise.allSettled([ref.add(1), ref.add(1), ref.add(1)]);
    // None of the three could be stored on top of the other writer's state, so none is acknowledged.
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason.code).toBe("STALE_ACTIVATION");
      expect((r as PromiseRejectedResult).reason.retryable).toBe(true);
    }
    // A fresh activation starts from the stored state, and what it acknowledges is stored.
    expect(await ref.add(1)).toBe(101);
    const stored = await store.load({ type: "TurnCounter", key: "k" });
    expect(stored).toBeDefined();
    expect(await ref.get()).toBe(101);
  });

  it("fails calls queued behind a conflicting saveState", async () => {
    class Saver extends Actor<{ value: number }> {
      static initialState() {
        return { value: 0 };
      }
      async add(n: number): Promise<number> {
        this.state.value += n;
        await this.saveState();
        return this.state.value;
      }
      async peek(): Promise<number> {
        return this.state.value;
      }
    }
    const { silo, store } = started(await testSilo([Saver]));
    const ref = silo.ref(Saver, "k");
    await ref.add(1);
    await writeBehindItsBack(store, { type: "Saver", key: "k" }, 50);
    const [a, b] = await Promise.allSettled([ref.add(1), ref.peek()]);
    expect(a.status).toBe("rejected");
    // peek would have answered from the stale copy (2) although the store holds 50.
    expect(b.status).toBe("rejected");
    expect((b as PromiseRejectedResult).reason.code).toBe("STALE_ACTIVATION");
    expect(await ref.peek()).toBe(50);
  });

  it('makes a conflict in "deactivate" mode loud: failure event and one log line with both versions', async () => {
    const w = watch();
    const { silo, store } = started(await testSilo([Counter], { log: w.log }));
    w.on(silo);
    const { failures, logs } = w;
    const ref = silo.ref(Counter, "loud");
    await ref.add(5);
    await store.save(
      { type: "Counter", key: "loud" },
      encodeStateRecord({ stateVersion: 1, state: { value: 9 } }),
      null,
    );
    const found = (await store.load({ type: "Counter", key: "loud" }))?.version;
    await silo.deactivate(ref);
    const conflict = failures.find((f) => f.kind === "conflict");
    expect(conflict?.actor).toBe("Counter/loud");
    const lines = logs.filter((l) => l.message.includes("Counter/loud"));
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe("error");
    expect(lines[0]?.message).toContain(`found version ${found}`);
    expect(lines[0]?.message).toContain("expected no stored state");
    // The other writer's state is intact.
    expect(await ref.get()).toBe(9);
  });

  it("counts conflicts in the silo's metrics", async () => {
    const { silo, store } = started(await testSilo([Counter], { log: () => {} }));
    const gw = await startGateway(silo, { port: 0 });
    stops.push(() => gw.close());
    const ref = silo.ref(Counter, "m");
    await ref.add(1);
    await store.save({ type: "Counter", key: "m" }, encodeStateRecord({ stateVersion: 1, state: { value: 2 } }), null);
    await silo.deactivate(ref);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/^praas_failures_total\{kind="conflict"\} 1$/m);
    expect(text).toMatch(/^praas_deactivations_total\{reason="stale"\} 1$/m);
  });
});

describe("nothing hangs", () => {
  it("detects a stuck turn, reports it, and serves the actor again from a fresh activation", async () => {
    const clock = new ManualClock();
    const w = watch();
    const { silo } = started(
      await testSilo([Hanging], { clock, callTimeoutMs: 1_000, stuckTurnGraceMs: 2_000, log: w.log }),
    );
    w.on(silo);
    const { failures, logs } = w;
    const ref = silo.ref(Hanging, "h");
    expect(await ref.add(1)).toBe(1);
    const hung = ref.hang().catch((e: unknown) => e);
    const queued = ref.add(1).catch((e: unknown) => e);
    await clock.advance(1_000);
    expect(await hung).toMatchObject({ code: "TIMEOUT" });
    expect(await queued).toMatchObject({ code: "TIMEOUT" });
    expect(failures.filter((f) => f.kind === "stuck")).toHaveLength(0);
    await clock.advance(2_000);
    const stuck = failures.filter((f) => f.kind === "stuck");
    expect(stuck).toHaveLength(1);
    expect(stuck[0]?.actor).toBe("Hanging/h");
    expect(String(stuck[0]?.error)).toContain("hang");
    expect(logs.filter((l) => l.message.includes("Hanging/h") && l.message.includes("stuck"))).toHaveLength(1);
    // The actor is served again, from what was saved when the stuck activation was abandoned
    // ("deactivate" persistence: its state as it was, stuck turn's changes included).
    expect(await ref.add(1)).toBe(1002);
    expect(await silo.deactivate(ref)).toBe(true);
  });

  it("finds a stuck turn that started while another overdue turn was being watched", async () => {
    const clock = new ManualClock();
    const release = deferred();
    class TwoSlow extends Actor<{ n: number }> {
      static initialState() {
        return { n: 0 };
      }
      async slow(): Promise<void> {
        await release.promise; // overdue, but finishes
      }
      async hang(): Promise<void> {
        await new Promise(() => {});
      }
      ping(): string {
        return "pong";
      }
    }
    const w = watch();
    const { silo } = started(
      await testSilo([TwoSlow], { clock, callTimeoutMs: 1_000, stuckTurnGraceMs: 2_000, log: w.log }),
    );
    w.on(silo);
    const ref = silo.ref(TwoSlow, "t");
    const slow = ref.slow().catch((e: unknown) => e);
    await clock.advance(1_000); // slow is overdue: a stuck check is armed for t = 3,000
    const hung = ref.hang().catch((e: unknown) => e); // queued behind slow
    release.resolve(); // slow ends before its grace: not stuck; hang starts
    await clock.advance(1_500); // t = 2,500: hang's deadline (2,000) has passed while it runs
    expect(await slow).toMatchObject({ code: "TIMEOUT" });
    expect(await hung).toMatchObject({ code: "TIMEOUT" });
    await clock.advance(1_000); // t = 3,500: the check at 3,000 found slow done and re-armed for hang (4,000)
    expect(w.failures.filter((f) => f.kind === "stuck")).toHaveLength(0);
    await clock.advance(1_000); // t = 4,500: hang has been overdue for its whole grace
    const stuck = w.failures.filter((f) => f.kind === "stuck");
    expect(stuck).toHaveLength(1);
    expect(String(stuck[0]?.error)).toContain("hang");
    expect(await ref.ping()).toBe("pong");
  });

  it("bounds stop() by the drain timeout and reports what it abandoned and saved", async () => {
    const clock = new ManualClock();
    const store = new MemoryStateStore();
    const { silo } = await testSilo([Hanging, Counter], { clock, storage: store, drainTimeoutMs: 5_000 });
    await silo.ref(Counter, "fine").add(3);
    await silo.ref(Hanging, "h").add(7);
    void silo
      .ref(Hanging, "h", { timeoutMs: 60_000 })
      .hang()
      .catch(() => {});
    const stopping = silo.stop();
    const settled = settledFlag(stopping);
    await clock.advance(3_000);
    expect(settled()).toBe(false);
    await clock.advance(2_000);
    const report = await stopping;
    expect(report.saved).toBe(2);
    expect(report.abandoned).toEqual([{ actor: "Hanging/h", method: "hang", saved: true }]);
    // The stuck actor's earlier, acknowledged change survives (with the stuck turn's own change).
    const restarted = await Silo.start({ actors: [Hanging, Counter], storage: store, clock });
    stops.push(() => restarted.stop());
    expect(await restarted.ref(Hanging, "h").add(0)).toBe(1007);
    expect(await restarted.ref(Counter, "fine").get()).toBe(3);
  });
});

describe("a swap-out whose write never comes back", () => {
  it("stop() abandons it at the drain deadline, reports it unsaved, and saves the others", async () => {
    const clock = new ManualClock();
    const memory = new MemoryStateStore();
    // The write of one key is swallowed: neither answered nor failed (a store past its own timeouts).
    const storage: StateStore = {
      kind: "swallowing",
      load: (id) => memory.load(id),
      save: (id, data, expected) =>
        id.key === "stuck" ? new Promise<string>(() => {}) : memory.save(id, data, expected),
      delete: (id, expected) => memory.delete(id, expected),
      describe: (id) => memory.describe(id),
      close: () => memory.close(),
    };
    const { silo } = await testSilo([Counter], { clock, storage, drainTimeoutMs: 4_000 });
    await silo.ref(Counter, "fine").add(3);
    await silo.ref(Counter, "stuck").add(5);
    const stopping = silo.stop();
    const settled = settledFlag(stopping);
    await clock.advance(2_999);
    expect(settled()).toBe(false);
    // 3 s: the graceful share is over, and the rest of the drain goes to saving the abandoned.
    await clock.advance(1_001);
    const report = await stopping;
    expect(report.saved).toBe(1);
    expect(report.abandoned).toEqual([{ actor: "Counter/stuck", method: "(saving)", saved: false }]);
    expect(report.failed).toEqual([]);
    expect((await memory.load({ type: "Counter", key: "fine" }))?.data).toBeDefined();
    expect(await memory.load({ type: "Counter", key: "stuck" })).toBeUndefined();
  });
});

describe("state the codec cannot save", () => {
  it("explicit deactivate reports the error and keeps the activation serving", async () => {
    const w = watch();
    const { silo } = started(await testSilo([Unsaveable], { log: w.log }));
    w.on(silo);
    const { failures } = w;
    const ref = silo.ref(Unsaveable, "u");
    await ref.add(2);
    await ref.poison();
    await expect(silo.deactivate(ref)).rejects.toMatchObject({ code: "CODEC" });
    expect(failures.some((f) => f.kind === "save" && f.actor === "Unsaveable/u")).toBe(true);
    // Still active, in-memory changes kept.
    expect((await silo.locate(ref)).active).toBe(true);
    expect(await ref.add(1)).toBe(3);
    await ref.heal();
    expect(await silo.deactivate(ref)).toBe(true);
    expect(await ref.add(0)).toBe(3);
  });

  it("idle swap-out retries with exponential backoff and logs one line", async () => {
    const clock = new ManualClock();
    const w = watch();
    const { silo } = started(await testSilo([Unsaveable], { clock, idleCheckIntervalMs: 100, log: w.log }));
    w.on(silo);
    const { failures, logs } = w;
    const ref = silo.ref(Unsaveable, "u");
    await ref.add(1);
    await ref.poison();
    for (let i = 0; i < 600; i++) await clock.advance(100); // one minute of idle collection
    const attempts = failures.filter((f) => f.kind === "save").length;
    // Every 100 ms would be ~590 attempts; backoff from 1 s doubling gives a handful.
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(8);
    expect(logs.filter((l) => l.message.includes("Unsaveable/u"))).toHaveLength(1);
    // Once the state can be saved, the next attempt swaps it out and says so.
    await ref.heal();
    for (let i = 0; i < 1_300; i++) await clock.advance(100);
    expect(silo.isActive(ref)).toBe(false);
    expect(logs.filter((l) => l.message.includes("Unsaveable/u"))).toHaveLength(2);
    expect(await ref.add(0)).toBe(1);
  });

  it("pauses exactly 1 s, 2 s, 4 s, … between swap-out attempts (no jitter)", async () => {
    const clock = new ManualClock();
    const { silo } = started(await testSilo([Unsaveable], { clock, idleCheckIntervalMs: 100, log: () => {} }));
    const attemptsAt: number[] = [];
    silo.on("failure", (f) => {
      if (f.kind === "save") attemptsAt.push(clock.now());
    });
    const ref = silo.ref(Unsaveable, "u");
    await ref.add(1);
    await ref.poison();
    for (let i = 0; i < 400; i++) await clock.advance(100); // 40 s of idle collection
    const pauses = attemptsAt.slice(1).map((t, i) => t - (attemptsAt[i] as number));
    expect(pauses.length).toBeGreaterThanOrEqual(4);
    // An attempt runs at the first idle check once its pause has passed: within one check interval of it.
    for (const [i, pause] of pauses.entries()) {
      expect(pause).toBeGreaterThanOrEqual(1_000 * 2 ** i);
      expect(pause).toBeLessThanOrEqual(1_000 * 2 ** i + 100);
    }
  });
});

describe("maxActivations", () => {
  it("evicts only down to the limit, not counting activations already on their way out", async () => {
    const gate = deferred();
    class SlowSave extends Actor<{ value: number }> {
      static initialState() {
        return { value: 0 };
      }
      override async onDeactivate(): Promise<void> {
        await gate.promise;
      }
      add(n: number): number {
        this.state.value += n;
        return this.state.value;
      }
    }
    const { silo } = started(await testSilo([SlowSave], { maxActivations: 3 }));
    const keys = ["a", "b", "c", "d", "e", "f", "g"];
    // Swap-outs are held open while the keys are touched, as a slow store would.
    for (const k of keys) await silo.ref(SlowSave, k).add(1);
    gate.resolve();
    await vi.waitFor(() => expect(silo.activationCount).toBe(3));
    const locations = await Promise.all(keys.map((k) => silo.locate(silo.ref(SlowSave, k))));
    expect(keys.filter((_, i) => locations[i]?.active)).toEqual(["e", "f", "g"]);
  });

  it("locate says inactive once the deactivate event has fired", async () => {
    const { silo } = started(await testSilo([Counter], { maxActivations: 1 }));
    const seen: string[] = [];
    const checks: Promise<void>[] = [];
    silo.on("deactivate", (id) => {
      checks.push(
        silo.locate(id).then((l) => {
          seen.push(`${id.key}:${l.active}`);
        }),
      );
    });
    await silo.ref(Counter, "a").add(1);
    await silo.ref(Counter, "b").add(1);
    await silo.ref(Counter, "c").add(1);
    await vi.waitFor(() => expect(checks).toHaveLength(2));
    await Promise.all(checks);
    expect(seen.sort()).toEqual(["a:false", "b:false"]);
  });
});

describe("awaited calls settle by their deadline", () => {
  it("also in an otherwise idle embedded process", async () => {
    const { spawn } = await import("node:child_process");
    const script = `
      import { Actor, Silo, MemoryStateStore } from "@praas/silo";
      class Stuck extends Actor { async hang() { await new Promise(() => {}); } }
      const silo = await Silo.start({ actors: [Stuck], storage: new MemoryStateStore(), callTimeoutMs: 200, drainTimeoutMs: 400 });
      try { await silo.ref(Stuck, "x").hang(); console.log("resolved"); }
      catch (err) { console.log("rejected", err.code); }
      const report = await silo.stop();
      console.log("stopped", JSON.stringify(report.abandoned));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(out).toContain("rejected TIMEOUT");
    expect(out).toContain('stopped [{"actor":"Stuck/x","method":"hang","saved":true}]');
    expect(code).toBe(0);
  }, 30_000);
});
