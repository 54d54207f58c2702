import type { MembershipView } from "@praas/core";
import { describe, expect, test } from "vitest";
import { LocalCoordinator, type Member } from "../src/local-cluster/coordinator.js";
import { IpcMembership } from "../src/local-cluster/ipc-membership.js";
import type { LocalTimings, ToChild, ToParent } from "../src/local-cluster/protocol.js";

// The parent's membership table and a silo's IPC provider, wired in one process through a channel
// that can be paused (a stalled silo process) — the safety argument of the lease, without processes.
const timings: LocalTimings = { heartbeatMs: 20, deadAfterMs: 100 };

interface Wired {
  readonly provider: IpcMembership;
  readonly member: Member;
  /** Stop delivering in both directions, as a stopped process would. */
  pause(paused: boolean): void;
}

function wire(coordinator: LocalCoordinator): Wired {
  let paused = false;
  const toChild = new Set<(m: ToChild) => void>();
  const member: Member = {
    send: (m) => {
      if (!paused)
        queueMicrotask(() => {
          for (const l of toChild) l(m);
        });
    },
  };
  const provider = new IpcMembership(
    {
      send: (m: ToParent) => {
        if (!paused) queueMicrotask(() => coordinator.receive(member, m));
      },
      onMessage: (l) => toChild.add(l),
    },
    timings,
  );
  return { provider, member, pause: (p) => (paused = p) };
}

const self = (id: string) => ({ id, address: `127.0.0.1:${1000 + id.length}`, startedAt: Date.now() });
const statusOf = (view: MembershipView, id: string) => view.silos.find((s) => s.id === id)?.status;

describe("local cluster membership (parent table, IPC provider)", () => {
  test("silos join and see each other; a silent silo's lease ends before the parent declares it dead; it rejoins when it wakes", async () => {
    const coordinator = new LocalCoordinator(timings, () => {});
    const a = wire(coordinator);
    const b = wire(coordinator);
    await a.provider.join(self("a"));
    await b.provider.join(self("b"));
    await expect.poll(() => statusOf(a.provider.view(), "b")).toBe("active");
    expect(statusOf(b.provider.view(), "a")).toBe("active");
    expect(b.provider.leaseValidUntil()).toBeGreaterThan(b.provider.clock.now());

    // b stalls: no beats arrive, nothing reaches it.
    let evicted: string | undefined;
    b.provider.onEvicted((reason) => {
      evicted = reason;
    });
    b.pause(true);
    let declaredAt = 0;
    await expect
      .poll(() => {
        coordinator.sweep();
        if (statusOf(a.provider.view(), "b") === "dead" && declaredAt === 0) declaredAt = b.provider.clock.now();
        return statusOf(a.provider.view(), "b");
      })
      .toBe("dead");
    // The lease b holds (from its last acknowledged beat) was over before anyone could move its actors.
    expect(b.provider.leaseValidUntil()).toBeLessThanOrEqual(declaredAt);

    // b wakes: its next beat is answered with an eviction, and it can join again under a new id.
    b.pause(false);
    await expect.poll(() => evicted).toMatch(/no longer a member/);
    expect(b.provider.leaseValidUntil()).toBe(Number.NEGATIVE_INFINITY);
    await b.provider.join(self("b.1"));
    await expect.poll(() => statusOf(a.provider.view(), "b.1")).toBe("active");

    await Promise.all([a.provider.close(), b.provider.close(), coordinator.close()]);
  });

  test("a silo whose process exits is dead at once; one that leaves is gone", async () => {
    const coordinator = new LocalCoordinator(timings, () => {});
    const a = wire(coordinator);
    const b = wire(coordinator);
    const c = wire(coordinator);
    await a.provider.join(self("a"));
    await b.provider.join(self("b"));
    await c.provider.join(self("c"));
    coordinator.exited(b.member);
    await expect.poll(() => statusOf(a.provider.view(), "b")).toBe("dead");
    await c.provider.leave();
    await expect.poll(() => statusOf(a.provider.view(), "c")).toBeUndefined();
    expect(statusOf(a.provider.view(), "a")).toBe("active");
    await Promise.all([a.provider.close(), coordinator.close()]);
  });

  test("a view that arrives with the join's answer, before join() resumes, is not lost", async () => {
    let toChild: ((m: ToChild) => void) | undefined;
    const one = { id: "a", address: "127.0.0.1:1", startedAt: 1, status: "active" as const };
    const two = { id: "b", address: "127.0.0.1:2", startedAt: 2, status: "active" as const };
    const provider = new IpcMembership(
      {
        // As Node does for the messages of one read: both handled in the same turn.
        send: (m: ToParent) => {
          if (m.t !== "join") return;
          toChild?.({ t: "joined", view: { version: 1, silos: [one] } });
          toChild?.({ t: "view", view: { version: 2, silos: [one, two] } });
        },
        onMessage: (l) => {
          toChild = l;
        },
      },
      timings,
    );
    const seen: number[] = [];
    provider.onChange((v) => seen.push(v.version));
    expect((await provider.join(self("a"))).version).toBe(1);
    await expect.poll(() => seen).toEqual([2]);
    expect(provider.view().version).toBe(2);
    await provider.close();
  });

  test("a join the table refuses (a duplicate id) fails the join with its reason", async () => {
    const coordinator = new LocalCoordinator(timings, () => {});
    const a = wire(coordinator);
    const b = wire(coordinator);
    await a.provider.join(self("same"));
    await expect(b.provider.join(self("same"))).rejects.toThrow(/already a member/);
    await Promise.all([a.provider.close(), b.provider.close(), coordinator.close()]);
  });
});
