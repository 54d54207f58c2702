import {
  type Clock,
  HashRing,
  InvalidArgumentError,
  ManualClock,
  type MembershipProvider,
  type MembershipView,
  MemoryMembershipRegistry,
  memoryMembership,
  type TimerHandle,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";

const HEARTBEAT = 500;
const DEAD_AFTER = 2000;
const timings = { heartbeatMs: HEARTBEAT, deadAfterMs: DEAD_AFTER, pruneAfterMs: 30_000 };

function silo(id: string, clock: Clock = new ManualClock()) {
  return { id, address: `10.0.0.1:${7000 + id.length}`, startedAt: clock.now() };
}

function statusOf(view: MembershipView, id: string): string | undefined {
  return view.silos.find((s) => s.id === id)?.status;
}

/** Every view a provider announces, in order. */
function record(p: MembershipProvider): MembershipView[] {
  const seen: MembershipView[] = [];
  p.onChange((v) => seen.push(v));
  return seen;
}

async function cluster(n: number) {
  const clock = new ManualClock();
  const registry = new MemoryMembershipRegistry({ clock });
  const providers: MembershipProvider[] = [];
  for (let i = 0; i < n; i++) {
    const p = memoryMembership(registry, timings);
    await p.join(silo(`s${i}`, clock));
    providers.push(p);
  }
  return { clock, registry, providers };
}

describe("memoryMembership", () => {
  it("joins silos into one shared view that every member agrees on", async () => {
    const clock = new ManualClock();
    const registry = new MemoryMembershipRegistry({ clock });
    const a = memoryMembership(registry, timings);
    const b = memoryMembership(registry, timings);
    const seenByA = record(a);
    const v1 = await a.join(silo("a", clock));
    expect(v1.version).toBe(1);
    expect(v1.silos.map((s) => [s.id, s.status])).toEqual([["a", "active"]]);
    const v2 = await b.join(silo("b", clock));
    expect(v2.version).toBe(2);
    expect(seenByA.map((v) => v.version)).toEqual([2]);
    expect(a.view()).toBe(b.view());
    expect(registry.view()).toBe(a.view());
    expect(HashRing.fromView(a.view()).equals(HashRing.fromView(b.view()))).toBe(true);
    expect(a.view().silos.map((s) => s.id)).toEqual(["a", "b"]);
  });

  it("announces every change once, in version order, even when a listener changes membership", async () => {
    const { registry, providers } = await cluster(4);
    const [a, b, c, d] = providers as [MembershipProvider, MembershipProvider, MembershipProvider, MembershipProvider];
    const seenByB = record(b);
    // A reacts to the first change it sees by making D leave: a change inside a delivery.
    let reacted = false;
    a.onChange(() => {
      if (reacted) return;
      reacted = true;
      void d.leave();
    });
    registry.declareDead("s2");
    await c.close();
    const versions = seenByB.map((v) => v.version);
    // dead s2 (5), d leaving (6), d removed (7), in order, each exactly once.
    expect(versions).toEqual([5, 6, 7]);
    expect(seenByB.map((v) => [statusOf(v, "s2"), statusOf(v, "s3")])).toEqual([
      ["dead", "active"],
      ["dead", "leaving"],
      ["dead", undefined],
    ]);
    expect(a.view().version).toBe(7);
  });

  it("leaves gracefully: peers see the silo leaving, then gone; the leaver stops heartbeating", async () => {
    const { clock, providers } = await cluster(2);
    const [a, b] = providers as [MembershipProvider, MembershipProvider];
    const seenByA = record(a);
    const seenByB = record(b);
    const pendingBefore = clock.pending;
    await b.leave();
    expect(seenByA.map((v) => statusOf(v, "s1"))).toEqual(["leaving", undefined]);
    expect(seenByB).toEqual([]);
    expect(clock.pending).toBe(pendingBefore - 1);
    // Leaving is not a crash: nobody is declared dead later.
    await clock.advance(10 * DEAD_AFTER);
    expect(a.view().silos.map((s) => [s.id, s.status])).toEqual([["s0", "active"]]);
    await b.leave(); // idempotent
    expect(a.view().version).toBe(4);
  });

  it("declares a crashed silo dead within deadAfterMs + heartbeatMs, and not before deadAfterMs", async () => {
    const { clock, providers } = await cluster(3);
    const [a, b, c] = providers as [MembershipProvider, MembershipProvider, MembershipProvider];
    const deadSeen: number[] = [];
    const start = clock.now();
    for (const p of [a, b]) p.onChange((v) => statusOf(v, "s2") === "dead" && deadSeen.push(clock.now() - start));
    await c.close(); // crash: no leave, heartbeats stop
    await clock.advance(DEAD_AFTER);
    expect(statusOf(a.view(), "s2")).toBe("active");
    await clock.advance(HEARTBEAT);
    expect(statusOf(a.view(), "s2")).toBe("dead");
    expect(deadSeen).toHaveLength(2);
    for (const t of deadSeen) expect(t).toBeGreaterThan(DEAD_AFTER);
    for (const t of deadSeen) expect(t).toBeLessThanOrEqual(DEAD_AFTER + HEARTBEAT);
    expect(a.view()).toBe(b.view());
    expect(HashRing.fromView(a.view()).members).toEqual(["s0", "s1"]);
  });

  it("keeps live silos alive however long time runs", async () => {
    const { clock, providers } = await cluster(3);
    const seen = record(providers[0] as MembershipProvider);
    await clock.advance(60_000);
    expect(seen).toEqual([]);
    expect(providers.every((p) => p.view().silos.every((s) => s.status === "active"))).toBe(true);
  });

  it("evicts a silo declared dead: onEvicted once, heartbeats stop, it never comes back", async () => {
    const { clock, registry, providers } = await cluster(2);
    const [a, b] = providers as [MembershipProvider, MembershipProvider];
    let evicted = 0;
    b.onEvicted(() => evicted++);
    const changesOfB = record(b);
    const pendingBefore = clock.pending;
    expect(registry.declareDead("s1")).toBe(true);
    expect(evicted).toBe(1);
    expect(changesOfB).toEqual([]);
    expect(statusOf(b.view(), "s1")).toBe("dead");
    expect(clock.pending).toBe(pendingBefore - 1);
    expect(registry.declareDead("s1")).toBe(false);
    expect(registry.declareDead("nobody")).toBe(false);
    await clock.advance(5 * HEARTBEAT);
    expect(evicted).toBe(1);
    expect(statusOf(a.view(), "s1")).toBe("dead");
    // A restart must use a new id; the dead one cannot rejoin.
    await expect(memoryMembership(registry, timings).join(silo("s1", clock))).rejects.toThrow(/declared dead/);
  });

  it("evicts a silo whose heartbeats were late, once peers have declared it dead", async () => {
    // One slow silo (heartbeat far above peers' deadAfterMs) among fast ones.
    const clock = new ManualClock();
    const registry = new MemoryMembershipRegistry({ clock });
    const fast = memoryMembership(registry, timings);
    const slow = memoryMembership(registry, { heartbeatMs: 10_000, deadAfterMs: 20_000 });
    await fast.join(silo("fast", clock));
    await slow.join(silo("slow", clock));
    const evicted = new Promise<void>((resolve) => slow.onEvicted(() => resolve()));
    await clock.advance(DEAD_AFTER + HEARTBEAT);
    await evicted;
    expect(statusOf(fast.view(), "slow")).toBe("dead");
  });

  it("prunes dead entries after pruneAfterMs", async () => {
    const { clock, registry, providers } = await cluster(2);
    registry.declareDead("s1");
    await clock.advance(29_000);
    expect(statusOf(providers[0]?.view() as MembershipView, "s1")).toBe("dead");
    await clock.advance(2_000);
    expect(statusOf(providers[0]?.view() as MembershipView, "s1")).toBeUndefined();
  });

  it("does not declare peers dead after a stall of the whole process", async () => {
    // All silos of a registry share one event loop: when it stalls, their timers
    // fire late together. The first to wake must not judge the others.
    const clock = new StallClock();
    const registry = new MemoryMembershipRegistry({ clock });
    const a = memoryMembership(registry, timings);
    const b = memoryMembership(registry, timings);
    await a.join(silo("a", clock));
    await b.join(silo("b", clock));
    clock.stall(5 * DEAD_AFTER);
    clock.fireDue(); // a's tick runs while b's heartbeat is 10 s old
    clock.fireDue();
    expect(a.view().silos.map((s) => s.status)).toEqual(["active", "active"]);
    for (let i = 0; i < 10; i++) {
      clock.stall(HEARTBEAT);
      clock.fireDue();
    }
    expect(a.view().version).toBe(2);
  });

  it("works with no registry: a zero-config single silo", async () => {
    const clock = new ManualClock();
    const p = memoryMembership(undefined, { clock });
    expect(p.view()).toEqual({ version: 0, silos: [] });
    const v = await p.join(silo("solo", clock));
    expect(v.silos.map((s) => [s.id, s.status])).toEqual([["solo", "active"]]);
    await clock.advance(60_000);
    expect(p.view().version).toBe(1);
    await p.leave();
    expect(p.view().silos).toEqual([]);
    await p.close();
    expect(clock.pending).toBe(0);
  });

  it("isolates a throwing listener: the others still hear, the error is reported", async () => {
    const errors: unknown[] = [];
    const clock = new ManualClock();
    const registry = new MemoryMembershipRegistry({ clock });
    const a = memoryMembership(registry, { ...timings, onListenerError: (e) => errors.push(e) });
    await a.join(silo("a", clock));
    a.onChange(() => {
      throw new Error("listener bug");
    });
    const seen = record(a);
    await memoryMembership(registry, timings).join(silo("b", clock));
    expect(seen.map((v) => v.version)).toEqual([2]);
    expect(errors).toHaveLength(1);
  });

  it("unsubscribes listeners", async () => {
    const { registry, providers } = await cluster(2);
    let calls = 0;
    const off = providers[0]?.onChange(() => calls++) as () => void;
    off();
    registry.declareDead("s1");
    expect(calls).toBe(0);
  });

  it("rejects bad configuration and bad join records with InvalidArgumentError", async () => {
    const registry = new MemoryMembershipRegistry({ clock: new ManualClock() });
    for (const bad of [
      { heartbeatMs: 0 },
      { heartbeatMs: 1.5 },
      { deadAfterMs: 900, heartbeatMs: 500 },
      { pruneAfterMs: -1 },
    ]) {
      expect(() => memoryMembership(registry, bad)).toThrow(InvalidArgumentError);
    }
    expect(() => memoryMembership(registry, { clock: new ManualClock() })).toThrow(/clock/);
    expect(() => memoryMembership({} as MemoryMembershipRegistry)).toThrow(InvalidArgumentError);
    const p = memoryMembership(registry, timings);
    for (const bad of [
      null,
      { id: "", address: "h:1", startedAt: 1 },
      { id: "x", address: "", startedAt: 1 },
      { id: "x", address: "h:1", startedAt: Number.NaN },
    ]) {
      await expect(p.join(bad as never)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await p.join({ id: "x", address: "h:1", startedAt: 1 });
    await expect(p.join({ id: "y", address: "h:1", startedAt: 1 })).rejects.toThrow(InvalidArgumentError);
    await expect(memoryMembership(registry, timings).join({ id: "x", address: "h:2", startedAt: 2 })).rejects.toThrow(
      /already a member/,
    );
    await p.close();
  });
});

/**
 * A clock whose timers fire only when told, possibly late: `stall(ms)` moves
 * time without running anything, `fireDue()` then runs one due timer at a
 * time in order — what an event loop does after a long synchronous pause.
 */
class StallClock implements Clock {
  #now = 1_000_000;
  #timers: { at: number; fn: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.#now + ms, fn, cancelled: false };
    this.#timers.push(t);
    return { cancel: () => void (t.cancelled = true) };
  }

  stall(ms: number): void {
    this.#now += ms;
  }

  fireDue(): void {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    const due = this.#timers.filter((t) => t.at <= this.#now).sort((x, y) => x.at - y.at)[0];
    if (due === undefined) return;
    due.cancelled = true;
    due.fn();
  }
}
