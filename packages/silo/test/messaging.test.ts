import { Actor, type ActorRef, ManualClock, MemoryStateStore, type ReceivedMessage, Silo } from "@praas/silo";
import { describe, expect, it } from "vitest";
import { deferred, testSilo } from "./fixtures.js";

/** Plays ping-pong: bounces a ball back to whoever sent it, `rounds` times. */
class Player extends Actor<{ hits: number }> {
  static initialState() {
    return { hits: 0 };
  }
  async serve(opponent: string, rounds: number): Promise<number> {
    const other = this.ref(Player, opponent);
    for (let i = 0; i < rounds; i++) {
      await this.send(other, "ball", i);
      const back = await this.recv<number>("ball", { from: other });
      if (back.data !== i) throw new Error(`expected ${i}, got ${back.data}`);
      this.state.hits++;
    }
    return this.state.hits;
  }
  async returner(rounds: number): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const m = await this.recv<number>("ball");
      await this.send({ type: "Player", key: (m.from as string).slice("Player/".length) }, "ball", m.data);
    }
  }
}

/** Collects messages on demand. */
class Mailbox extends Actor<{ log: string[] }> {
  static readonly reentrant = true;
  static initialState() {
    return { log: [] as string[] };
  }
  take(channel: string, from?: string, timeoutMs?: number): Promise<ReceivedMessage> {
    return this.recv(channel, { from, timeoutMs });
  }
  note(s: string): void {
    this.state.log.push(s);
  }
  async sendTo(key: string, channel: string, data: unknown): Promise<void> {
    await this.send(this.ref(Mailbox, key), channel, data);
  }
}

describe("send / recv", () => {
  it("plays ping-pong between two actors on one silo", async () => {
    const { silo } = await testSilo([Player]);
    const returning = silo.ref(Player, "b").returner(20);
    expect(await silo.ref(Player, "a").serve("b", 20)).toBe(20);
    await returning;
    await silo.stop();
  });

  it("keeps every message sent under one channel, FIFO", async () => {
    const { silo } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    for (let i = 0; i < 5; i++) await silo.send(box, "jobs", i);
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await box.take("jobs")).data);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    await silo.stop();
  });

  it("filters by sender with `from`, leaving other senders' messages in place", async () => {
    const { silo } = await testSilo([Mailbox]);
    await silo.ref(Mailbox, "x").sendTo("m", "c", "from x 1");
    await silo.ref(Mailbox, "y").sendTo("m", "c", "from y");
    await silo.ref(Mailbox, "x").sendTo("m", "c", "from x 2");
    const box = silo.ref(Mailbox, "m");
    expect(await box.take("c", "Mailbox/y")).toEqual({ channel: "c", from: "Mailbox/y", data: "from y" });
    expect((await box.take("c", "Mailbox/x")).data).toBe("from x 1");
    expect((await box.take("c")).data).toBe("from x 2");
    await silo.stop();
  });

  it("wakes a waiting recv when the message arrives", async () => {
    const { silo } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    const waiting = box.take("later");
    await box.note("the actor keeps serving while it waits (reentrant)");
    await silo.send(box, "later", { n: 1 });
    expect(await waiting).toEqual({ channel: "later", from: undefined, data: { n: 1 } });
    await silo.stop();
  });

  it("fails recv with TimeoutError when nothing arrives in time", async () => {
    const { silo, clock } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    const waiting = box.take("never", undefined, 500).catch((e: unknown) => e);
    await clock.advance(500);
    expect(await waiting).toMatchObject({ code: "TIMEOUT", message: 'recv("never") got no message within 500 ms' });
    await silo.stop();
  });

  it("activates a swapped-out target and keeps unconsumed messages across swap-out and swap-in", async () => {
    const store = new MemoryStateStore();
    const { silo } = await testSilo([Mailbox], { storage: store });
    const box = silo.ref(Mailbox, "m");
    await box.note("hello");
    await silo.deactivate(box);
    expect(silo.isActive(box)).toBe(false);
    await silo.send(box, "q", "first");
    expect(silo.isActive(box)).toBe(true);
    await silo.send(box, "q", new Map([["second", new Date(0)]]));
    await silo.deactivate(box);
    await silo.stop();

    const again = await Silo.start({ actors: [Mailbox], storage: store });
    const box2 = again.ref(Mailbox, "m");
    expect((await box2.take("q")).data).toBe("first");
    expect((await box2.take("q")).data).toEqual(new Map([["second", new Date(0)]]));
    await again.stop();
  });

  it("fails a waiting recv with a clear error when the activation is deactivated", async () => {
    const { silo } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    const waiting = box.take("c").catch((e: unknown) => e);
    await silo.deactivate(box);
    expect(await waiting).toMatchObject({ code: "DEACTIVATED", retryable: true });
    expect(((await waiting) as Error).message).toMatch(/Mailbox\/m was deactivated while recv\("c"\) was waiting/);
    await silo.stop();
  });

  it("rejects bad channels and unencodable data at the call site", async () => {
    const { silo } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    await expect(silo.send(box, "", 1)).rejects.toThrow(/channel/);
    await expect(silo.send(box, "c", () => 1)).rejects.toThrow(/message on channel "c" is a function/);
    await silo.stop();
  });
});

describe("durable send", () => {
  it("resolves only once the message is in the target's store, and survives losing the activation", async () => {
    const store = new MemoryStateStore();
    class Sink extends Actor<{ n: number }> {
      static initialState() {
        return { n: 0 };
      }
      async take(): Promise<unknown> {
        return (await this.recv("c", { timeoutMs: 1_000 })).data;
      }
    }
    const a = await Silo.start({ actors: [Sink], storage: store });
    await a.send({ type: "Sink", key: "s" }, "c", "kept", { durable: true });
    expect(store.size).toBe(1);
    // Simulate a crash: a second silo on the same store, the first never saves again.
    const b = await Silo.start({ actors: [Sink], storage: store });
    expect(await b.ref(Sink, "s").take()).toBe("kept");
    await b.stop();
  });

  it("does not deliver a resend of the same message twice", async () => {
    const { silo, store } = await testSilo([Mailbox]);
    const box = silo.ref(Mailbox, "m");
    await silo.send(box, "c", "once", { durable: true });
    expect(store.size).toBe(1);
    expect((await box.take("c")).data).toBe("once");
    await silo.stop();
  });
});

describe("stateless workers", () => {
  class Hasher extends Actor<{ calls: number }> {
    static readonly stateless = true;
    static readonly maxWorkers = 4;
    static live = 0;
    static readonly keys = new Set<string>();
    static initialState() {
      return { calls: 0 };
    }
    async hash(text: string, gate: boolean): Promise<number> {
      Hasher.keys.add(this.key);
      this.state.calls++;
      if (gate) await new Promise<void>((r) => setImmediate(r));
      let h = 0;
      for (const c of text) h = (h * 31 + c.charCodeAt(0)) | 0;
      return h;
    }
  }

  it("spreads concurrent invocations over several activations, up to maxWorkers", async () => {
    Hasher.keys.clear();
    const { silo, store } = await testSilo([Hasher]);
    const results = await Promise.all(Array.from({ length: 20 }, () => silo.invoke(Hasher, "hash", "abc", true)));
    expect(new Set(results)).toEqual(new Set([96354]));
    expect(Hasher.keys.size).toBe(4);
    await silo.stop();
    expect(store.size).toBe(0); // never persisted
  });

  it("reuses an idle worker for sequential calls", async () => {
    Hasher.keys.clear();
    const { silo } = await testSilo([Hasher]);
    for (let i = 0; i < 10; i++) await silo.invoke(Hasher, "hash", "x", false);
    expect(Hasher.keys.size).toBe(1);
    await silo.stop();
  });

  it("is refused for keyed types, and keyed types are refused for invoke", async () => {
    class Keyed extends Actor {
      m(): number {
        return 1;
      }
    }
    const { silo } = await testSilo([Keyed, Hasher]);
    await expect(silo.invoke(Keyed, "m")).rejects.toThrow(/not stateless/);
    await expect(silo.send({ type: "Hasher", key: "k" }, "c", 1)).rejects.toThrow(/stateless and has no inbox/);
    await silo.stop();
  });
});

describe("durable reminders", () => {
  class Alarm extends Actor<{ fired: { name: string; missed: number }[] }> {
    static initialState() {
      return { fired: [] as { name: string; missed: number }[] };
    }
    async every(name: string, ms: number): Promise<void> {
      await this.remind(name, { every: ms });
    }
    async once(name: string, at: number): Promise<void> {
      await this.remind(name, { at });
    }
    async stop(name: string): Promise<void> {
      await this.forget(name);
    }
    override onReminder(name: string, firing: { missed: number }): void {
      this.state.fired.push({ name, missed: firing.missed });
      this.emit("fired", name);
    }
    fired(): { name: string; missed: number }[] {
      return this.state.fired;
    }
  }

  it("fire on schedule with the test clock, and stop when forgotten", async () => {
    const { silo, clock } = await testSilo([Alarm], { idleTimeoutMs: 3_600_000 });
    const alarm = silo.ref(Alarm, "a");
    await alarm.every("tick", 1_000);
    await clock.advance(3_500);
    expect((await alarm.fired()).map((f) => f.name)).toEqual(["tick", "tick", "tick"]);
    await alarm.stop("tick");
    await clock.advance(5_000);
    expect(await alarm.fired()).toHaveLength(3);
    await silo.stop();
  });

  it("wake a swapped-out actor", async () => {
    const { silo, clock } = await testSilo([Alarm]);
    const alarm = silo.ref(Alarm, "sleepy");
    await alarm.once("wake", clock.now() + 10_000);
    await silo.deactivate(alarm);
    const fired = deferred<string>();
    silo.subscribe(alarm, "fired", (_e, name) => fired.resolve(name as string));
    await clock.advance(10_000);
    expect(await fired.promise).toBe("wake");
    expect(silo.isActive(alarm)).toBe(true);
    await silo.stop();
  });

  it("are picked up by the next silo on the same stores, with missed periods counted", async () => {
    const store = new MemoryStateStore();
    const { MemoryReminderStore } = await import("@praas/core");
    const reminders = new MemoryReminderStore();
    const first = await testSilo([Alarm], { storage: store, reminders });
    await first.silo.ref(Alarm, "r").every("beat", 1_000);
    await first.silo.stop();

    // The next silo starts 5.5 s later: nobody fired meanwhile. It fires once,
    // reporting the 4 whole periods that were missed.
    const second = await testSilo([Alarm], { storage: store, reminders, clock: new ManualClock(1_005_500) });
    const alarm: ActorRef<Alarm> = second.silo.ref(Alarm, "r");
    await second.clock.advance(0);
    expect(await alarm.fired()).toEqual([{ name: "beat", missed: 4 }]);
    const stored = await reminders.get({ type: "Alarm", key: "r" }, "beat");
    expect(stored).toMatchObject({ missedTotal: 4, failures: 0, dueAt: 1_006_000 });
    await second.silo.stop();
  });
});
