import { Actor, type ActorError, DeadlockError, Silo } from "@praas/silo";
import { describe, expect, it } from "vitest";
import { Counter, deferred, testSilo } from "./fixtures.js";

/** Reads, awaits, then writes: loses updates unless turns are serialized. */
class SlowCounter extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  async add(n: number): Promise<number> {
    const before = this.state.value;
    await new Promise<void>((r) => setImmediate(r));
    this.state.value = before + n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

class ReentrantSlowCounter extends SlowCounter {
  static readonly actorType = "ReentrantSlowCounter";
  static readonly reentrant = true;
}

class Hooks extends Actor<{ log: string[] }> {
  static readonly events: string[] = [];
  static initialState() {
    return { log: [] as string[] };
  }
  override async onActivate(): Promise<void> {
    Hooks.events.push(`activate:${this.key}`);
  }
  override async onDeactivate(): Promise<void> {
    Hooks.events.push(`deactivate:${this.key}`);
  }
  ping(): string {
    return `pong:${this.key}`;
  }
}

describe("virtual activation", () => {
  it("activates a key exactly once, however many first calls race", async () => {
    const { silo } = await testSilo([Counter]);
    Counter.activations = 0;
    const ref = silo.ref(Counter, "race");
    const results = await Promise.all(Array.from({ length: 50 }, () => ref.add(1)));
    expect(Counter.activations).toBe(1);
    expect(results.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(silo.activationCount).toBe(1);
    await silo.stop();
  });

  it("runs onActivate before the first call and onDeactivate at swap-out", async () => {
    Hooks.events.length = 0;
    const { silo } = await testSilo([Hooks]);
    const ref = silo.ref(Hooks, "h1");
    expect(await ref.ping()).toBe("pong:h1");
    expect(Hooks.events).toEqual(["activate:h1"]);
    await silo.deactivate(ref);
    expect(Hooks.events).toEqual(["activate:h1", "deactivate:h1"]);
    expect(silo.isActive(ref)).toBe(false);
    await silo.stop();
  });

  it("saves what a synchronous onDeactivate leaves, and saves even when it throws", async () => {
    class SyncHook extends Actor<{ n: number; closed: boolean }> {
      static initialState() {
        return { n: 0, closed: false };
      }
      override onDeactivate(): void {
        this.state.closed = true;
        if (this.key === "throws") throw new Error("hook failed");
      }
      add(n: number): { n: number; closed: boolean } {
        this.state.n += n;
        return { ...this.state };
      }
    }
    const { silo } = await testSilo([SyncHook]);
    for (const key of ["plain", "throws"]) {
      const ref = silo.ref(SyncHook, key);
      await ref.add(1);
      await silo.deactivate(ref);
      expect(silo.isActive(ref)).toBe(false);
      // The fresh activation reads what the swap-out wrote: the turn's change and the hook's.
      expect(await ref.add(1)).toEqual({ n: 2, closed: true });
    }
    await silo.stop();
  });

  it("serves calls that arrive while the actor is deactivating, on a fresh activation", async () => {
    const gate = deferred();
    const inHook = deferred();
    let activations = 0;
    let live = 0;
    class Slow extends Actor<{ value: number }> {
      static initialState() {
        return { value: 0 };
      }
      override onActivate(): void {
        activations++;
        live++;
      }
      override async onDeactivate(): Promise<void> {
        inHook.resolve();
        await gate.promise; // hold the swap-out open
        live--;
      }
      add(n: number): { value: number; live: number } {
        this.state.value += n;
        return { value: this.state.value, live };
      }
    }
    const { silo } = await testSilo([Slow]);
    const ref = silo.ref(Slow, "d");
    await ref.add(1);
    const swapOut = silo.deactivate(ref);
    await inHook.promise;
    const during = ref.add(10); // arrives mid-deactivation: must wait, not run on the old instance
    gate.resolve();
    await swapOut;
    // Served by the second activation, which saw the saved state; never two live at once.
    expect(await during).toEqual({ value: 11, live: 1 });
    expect(activations).toBe(2);
    await silo.stop();
  });
});

describe("turn-based mailbox", () => {
  it("loses no update under 100 concurrent calls that await between read and write", async () => {
    const { silo } = await testSilo([SlowCounter]);
    const ref = silo.ref(SlowCounter, "s");
    await Promise.all(Array.from({ length: 100 }, () => ref.add(1)));
    expect(await ref.get()).toBe(100);
    await silo.stop();
  });

  it("interleaves turns of a reentrant type (and so loses updates here, by design)", async () => {
    const { silo } = await testSilo([ReentrantSlowCounter]);
    const ref = silo.ref(ReentrantSlowCounter, "r");
    await Promise.all(Array.from({ length: 100 }, () => ref.add(1)));
    expect(await ref.get()).toBeLessThan(100);
    await silo.stop();
  });

  it("runs calls of one activation in arrival order", async () => {
    class Recorder extends Actor<{ seen: number[] }> {
      static initialState() {
        return { seen: [] as number[] };
      }
      async record(i: number): Promise<void> {
        await new Promise<void>((r) => setImmediate(r));
        this.state.seen.push(i);
      }
      seen(): number[] {
        return this.state.seen;
      }
    }
    const { silo } = await testSilo([Recorder]);
    const ref = silo.ref(Recorder, "o");
    await Promise.all(Array.from({ length: 20 }, (_, i) => ref.record(i)));
    expect(await ref.seen()).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await silo.stop();
  });

  it("lets methods listed in `interleave` run while a turn is in progress", async () => {
    const gate = deferred();
    class Gated extends Actor<{ value: number }> {
      static readonly interleave = ["peek"];
      static initialState() {
        return { value: 1 };
      }
      async hold(): Promise<void> {
        await gate.promise;
        this.state.value = 2;
      }
      peek(): number {
        return this.state.value;
      }
      read(): number {
        return this.state.value;
      }
    }
    const { silo } = await testSilo([Gated]);
    const ref = silo.ref(Gated, "g");
    const holding = ref.hold();
    // peek interleaves: it answers while hold() is still waiting.
    expect(await ref.peek()).toBe(1);
    // read does not: it waits for hold() to finish.
    const reading = ref.read();
    gate.resolve();
    await holding;
    expect(await reading).toBe(2);
    await silo.stop();
  });
});

describe("deadlock detection", () => {
  class A extends Actor {
    async viaB(): Promise<string> {
      return this.ref(B, "b").back();
    }
    async self(): Promise<string> {
      return this.ref(A, this.key).leaf();
    }
    leaf(): string {
      return "leaf";
    }
  }
  class B extends Actor {
    async back(): Promise<string> {
      return this.ref(A, "a").leaf();
    }
  }
  class ReentrantA extends Actor {
    static readonly reentrant = true;
    async viaB(): Promise<string> {
      return this.ref(ReentrantB, "b").back();
    }
    leaf(): string {
      return "leaf";
    }
  }
  class ReentrantB extends Actor {
    async back(): Promise<string> {
      return this.ref(ReentrantA, "a").leaf();
    }
  }

  it("fails A→B→A at once with DeadlockError naming the cycle", async () => {
    // The manual clock never moves: only an immediate detection can settle this call.
    const { silo } = await testSilo([A, B]);
    const err = await silo
      .ref(A, "a")
      .viaB()
      .catch((e: unknown) => e);
    // B's call to A failed; B did not catch it, so it travels back to the caller as itself.
    expect(err).toBeInstanceOf(DeadlockError);
    expect((err as DeadlockError).message).toBe("Deadlock: call cycle A/a → B/b → A/a");
    expect((err as DeadlockError).cycle).toEqual(["A/a", "B/b", "A/a"]);
    expect((err as DeadlockError).code).toBe("DEADLOCK");
    await silo.stop();
  });

  it("fails A→A at once", async () => {
    const { silo } = await testSilo([A, B]);
    const err = await silo
      .ref(A, "a")
      .self()
      .catch((e: unknown) => e);
    expect((err as ActorError).code).toBe("DEADLOCK");
    expect((err as Error).message).toContain("A/a → A/a");
    await silo.stop();
  });

  it("lets a reentrant actor be called back through its own chain", async () => {
    const { silo } = await testSilo([ReentrantA, ReentrantB]);
    expect(await silo.ref(ReentrantA, "a").viaB()).toBe("leaf");
    await silo.stop();
  });

  it("does not report a deadlock for a fire-and-forget call that comes back later", async () => {
    const back = deferred<string>();
    class Caller extends Actor {
      fire(): void {
        void this.ref(Callee, "c")
          .callBack()
          .then((v) => back.resolve(v));
      }
      answer(): string {
        return "answered";
      }
    }
    class Callee extends Actor {
      async callBack(): Promise<string> {
        return this.ref(Caller, "x").answer();
      }
    }
    const { silo } = await testSilo([Caller, Callee]);
    await silo.ref(Caller, "x").fire();
    expect(await back.promise).toBe("answered");
    await silo.stop();
  });
});

describe("deadlines", () => {
  it("fails a call with TimeoutError when its deadline passes, without a timer per call", async () => {
    const never = deferred();
    class Stuck extends Actor {
      async wait(): Promise<void> {
        await never.promise;
      }
    }
    const { silo, clock } = await testSilo([Stuck], { callTimeoutMs: 1_000 });
    const ref = silo.ref(Stuck, "s");
    const calls = Array.from({ length: 10 }, () => ref.wait().catch((e: unknown) => e));
    await clock.advance(999);
    let settled = 0;
    for (const c of calls) void c.then(() => settled++);
    await clock.advance(0);
    expect(settled).toBe(0);
    await clock.advance(1);
    const errors = await Promise.all(calls);
    for (const e of errors) expect(e).toMatchObject({ name: "TimeoutError", code: "TIMEOUT", retryable: true });
    never.resolve();
    await silo.stop();
  });

  it("honours a per-reference timeout and skips a queued call whose deadline passed", async () => {
    const gate = deferred();
    let ran = 0;
    class Busy extends Actor {
      async block(): Promise<void> {
        await gate.promise;
      }
      count(): number {
        return ++ran;
      }
    }
    const { silo, clock } = await testSilo([Busy], { callTimeoutMs: 60_000 });
    const blocking = silo.ref(Busy, "b").block();
    const queued = silo
      .ref(Busy, "b", { timeoutMs: 50 })
      .count()
      .catch((e: unknown) => e);
    await clock.advance(50);
    expect(await queued).toMatchObject({ code: "TIMEOUT" });
    gate.resolve();
    await blocking;
    // The expired call never ran: the next call is the first to count.
    expect(await silo.ref(Busy, "b").count()).toBe(1);
    await silo.stop();
  });
});

describe("volatile timers", () => {
  it("fire as turns on the clock and stop when the actor is deactivated", async () => {
    class Ticker extends Actor<{ ticks: number }> {
      static initialState() {
        return { ticks: 0 };
      }
      start(): void {
        this.setTimer(
          () => {
            this.state.ticks++;
          },
          { dueMs: 100, periodMs: 100 },
        );
      }
      ticks(): number {
        return this.state.ticks;
      }
    }
    const { silo, clock } = await testSilo([Ticker], { idleTimeoutMs: 3_600_000 });
    const ref = silo.ref(Ticker, "t");
    await ref.start();
    await clock.advance(350);
    expect(await ref.ticks()).toBe(3);
    await silo.deactivate(ref);
    await clock.advance(1_000);
    // Swapped back in: the state kept 3 ticks, and no timer ran while it was out.
    expect(await ref.ticks()).toBe(3);
    await silo.stop();
  });
});

describe("configuration", () => {
  it("rejects duplicate type names at start", async () => {
    class Dup extends Actor {}
    class Other extends Actor {
      static readonly actorType = "Dup";
    }
    await expect(Silo.start({ actors: [Dup, Other] })).rejects.toMatchObject({ code: "DUPLICATE_ACTOR_TYPE" });
  });

  it("uses static actorType as the type name", async () => {
    class Named extends Actor {
      static readonly actorType = "shop.Cart";
      hi(): string {
        return this.id.type;
      }
    }
    const { silo } = await testSilo([Named]);
    expect(await silo.ref(Named, "k").hi()).toBe("shop.Cart");
    expect(silo.actorTypes).toEqual(["shop.Cart"]);
    await silo.stop();
  });

  it("rejects bad options and bad classes with clear errors", async () => {
    await expect(Silo.start({ actors: [Counter], callTimeoutMs: -1 })).rejects.toThrow(/callTimeoutMs/);
    await expect(Silo.start({ actors: [class NotAnActor {}] as never })).rejects.toThrow(/not a class extending Actor/);
    class BadInterleave extends Actor {
      static readonly interleave = ["nope"];
    }
    await expect(Silo.start({ actors: [BadInterleave] })).rejects.toThrow(/interleave names "nope"/);
  });

  it("validates keys when a reference is made", async () => {
    const { silo } = await testSilo([Counter]);
    expect(() => silo.ref(Counter, "")).toThrow(/Invalid actor key/);
    expect(() => silo.ref(Counter, "a\u0000b")).toThrow(/Invalid actor key/);
    await silo.stop();
  });

  it("refuses new calls once stopping", async () => {
    const { silo } = await testSilo([Counter]);
    const ref = silo.ref(Counter, "x");
    await ref.add(1);
    await silo.stop();
    await expect(ref.add(1)).rejects.toMatchObject({ code: "SILO_STOPPED", retryable: true });
  });

  it("refuses a class that declares state as a class field, which would hide its changes from the store", async () => {
    class FieldState extends Actor<{ value: number }> {
      // @ts-expect-error: the mistake under test (TypeScript flags it; JavaScript does not)
      state = { value: 0 };
      add(n: number): number {
        this.state.value += n;
        return this.state.value;
      }
    }
    const silo = await Silo.start({ actors: [FieldState] });
    try {
      await expect(silo.ref(FieldState, "k").add(1)).rejects.toThrow(
        /FieldState declares "state" as a class field.*static initialState\(\)/,
      );
    } finally {
      await silo.stop();
    }
  });

  it("does not let actors be constructed outside a silo", () => {
    expect(() => new Counter()).toThrow(/created by a silo/);
  });
});
