import {
  leaseMarginMs,
  ManualClock,
  type MembershipProvider,
  MemoryMembershipRegistry,
  memoryMembership,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";

const HEARTBEAT = 500;
const DEAD_AFTER = 2000;
const MARGIN = leaseMarginMs(DEAD_AFTER);
const timings = { heartbeatMs: HEARTBEAT, deadAfterMs: DEAD_AFTER, pruneAfterMs: 30_000 };

function silo(id: string, clock: ManualClock) {
  return { id, address: `10.0.0.1:${7000 + id.length}`, startedAt: clock.now() };
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

const statusIn = (registry: MemoryMembershipRegistry, id: string) =>
  registry.view().silos.find((s) => s.id === id)?.status;

describe("membership lease (memory provider)", () => {
  it("starts at join, is renewed by every heartbeat, and ends deadAfterMs − margin after the last beat that got through", async () => {
    const { clock, registry, providers } = await cluster(2);
    const [, b] = providers as [MembershipProvider, MembershipProvider];
    expect(MARGIN).toBe(100);
    const joinedAt = clock.now();
    expect(b.leaseValidUntil()).toBe(joinedAt + DEAD_AFTER - MARGIN);
    await clock.advance(HEARTBEAT);
    expect(b.leaseValidUntil()).toBe(joinedAt + HEARTBEAT + DEAD_AFTER - MARGIN);
    // Cut off from the store: beats stop arriving, the lease stops moving.
    registry.partition("s1");
    const lastBeat = clock.now();
    await clock.advance(3 * HEARTBEAT);
    expect(b.leaseValidUntil()).toBe(lastBeat + DEAD_AFTER - MARGIN);
    // Healed before anyone declared it dead: the next beat renews it.
    registry.partition("s1", false);
    await clock.advance(HEARTBEAT);
    expect(b.leaseValidUntil()).toBe(clock.now() + DEAD_AFTER - MARGIN);
    expect(statusIn(registry, "s1")).toBe("active");
  });

  it("ends strictly before any peer can declare the silo dead", async () => {
    const { clock, registry, providers } = await cluster(3);
    const b = providers[1] as MembershipProvider;
    registry.partition("s1");
    // Step through time in small increments: the lease is over before the first step that shows s1 dead.
    let leaseOverAt: number | undefined;
    let deadAt: number | undefined;
    for (let i = 0; i < 400 && deadAt === undefined; i++) {
      await clock.advance(10);
      if (leaseOverAt === undefined && clock.now() >= b.leaseValidUntil()) leaseOverAt = clock.now();
      if (statusIn(registry, "s1") === "dead") deadAt = clock.now();
    }
    expect(leaseOverAt).toBeDefined();
    expect(deadAt).toBeDefined();
    expect((deadAt as number) - (leaseOverAt as number)).toBeGreaterThanOrEqual(MARGIN);
  });

  it("ends with an eviction; the provider rejoins under a new id and the old id stays dead", async () => {
    const { clock, registry, providers } = await cluster(2);
    const b = providers[1] as MembershipProvider;
    const reasons: string[] = [];
    b.onEvicted((reason) => reasons.push(reason));
    registry.declareDead("s1");
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/peers declared silo s1 dead/);
    expect(b.leaseValidUntil()).toBe(Number.NEGATIVE_INFINITY);
    await expect(b.join(silo("s1", clock))).rejects.toThrow(/declared dead/);
    const view = await b.join(silo("s1.1", clock));
    expect(view.silos.map((s) => [s.id, s.status])).toEqual([
      ["s0", "active"],
      ["s1", "dead"],
      ["s1.1", "active"],
    ]);
    expect(b.leaseValidUntil()).toBe(clock.now() + DEAD_AFTER - MARGIN);
    await clock.advance(HEARTBEAT);
    expect(statusIn(registry, "s1.1")).toBe("active");
  });

  it("after the store lost its data, rejoins only once every old lease has run out", async () => {
    const { clock, registry, providers } = await cluster(2);
    const [a, b] = providers as [MembershipProvider, MembershipProvider];
    const oldLeases = Math.max(a.leaseValidUntil(), b.leaseValidUntil());
    const reasons: string[] = [];
    a.onEvicted((reason) => reasons.push(reason));
    registry.clear();
    expect(reasons[0]).toMatch(/entry of silo s0 is gone/);
    let joined = false;
    const rejoin = a.join(silo("s0.1", clock)).then(() => {
      joined = true;
    });
    await clock.advance(DEAD_AFTER - 1);
    expect(joined).toBe(false);
    await clock.advance(1);
    await rejoin;
    expect(clock.now()).toBeGreaterThanOrEqual(oldLeases);
    expect(registry.view().silos.map((s) => s.id)).toEqual(["s0.1"]);
  });

  it("close() during the wait before a rejoin ends the join", async () => {
    const { clock, registry, providers } = await cluster(1);
    const a = providers[0] as MembershipProvider;
    registry.clear();
    const rejoin = a.join(silo("s0.1", clock));
    await a.close();
    await expect(rejoin).rejects.toThrow(/closed/);
  });
});
