/**
 * The membership table of a local cluster, kept by the `praas start --silos N`
 * parent. It reuses the in-process provider (versions, ordered views,
 * eviction) with one provider per joined silo, and decides liveness itself:
 * a silo is dead when its process exits, or when its heartbeats stop for
 * longer than deadAfterMs (a stalled process: when it wakes it is told it was
 * evicted and rejoins under a new id, as with Redis).
 */
import { type MembershipProvider, MemoryMembershipRegistry, memoryMembership, systemClock } from "@praas/core/internal";
import type { LocalTimings, ToChild, ToParent } from "./protocol.js";

/** One silo process as the coordinator sees it. */
export interface Member {
  send(message: ToChild): void;
}

interface Joined {
  readonly member: Member;
  readonly provider: MembershipProvider;
  lastHeard: number;
}

export class LocalCoordinator {
  readonly registry = new MemoryMembershipRegistry();
  readonly #timings: LocalTimings;
  readonly #joined = new Map<string, Joined>();
  readonly #log: (line: string) => void;

  constructor(timings: LocalTimings, log: (line: string) => void) {
    this.#timings = timings;
    this.#log = log;
  }

  /** Handle a membership message from `member` (other messages are the supervisor's). */
  receive(member: Member, m: ToParent): void {
    switch (m.t) {
      case "join":
        void this.#join(member, m.self);
        return;
      case "beat": {
        const j = this.#joined.get(m.id);
        const alive = this.registry.view().silos.some((s) => s.id === m.id && s.status !== "dead");
        if (j === undefined || !alive) {
          member.send({ t: "evicted", reason: `silo ${m.id} is no longer a member of the local cluster` });
          return;
        }
        j.lastHeard = systemClock.now();
        member.send({ t: "ack", seq: m.seq });
        return;
      }
      case "leave": {
        const j = this.#joined.get(m.id);
        this.#joined.delete(m.id);
        const left = j === undefined ? Promise.resolve() : j.provider.leave().then(() => j.provider.close());
        void left.then(() => member.send({ t: "left" }));
        return;
      }
    }
  }

  /** The process of `member` is gone: its silos are dead now (their actors move at once). */
  exited(member: Member): void {
    for (const [id, j] of this.#joined) {
      if (j.member !== member) continue;
      this.#joined.delete(id);
      this.registry.declareDead(id);
      void j.provider.close();
    }
  }

  /** Declare dead every silo silent for longer than deadAfterMs (its actors move to the others). */
  sweep(): void {
    const now = systemClock.now();
    for (const [id, j] of this.#joined) {
      if (now - j.lastHeard <= this.#timings.deadAfterMs) continue;
      this.#log(`silo ${id} sent no heartbeat for ${Math.round(now - j.lastHeard)} ms: declared dead`);
      this.#joined.delete(id);
      this.registry.declareDead(id);
      void j.provider.close();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#joined.values()].map((j) => j.provider.close()));
    this.#joined.clear();
  }

  async #join(member: Member, self: Parameters<MembershipProvider["join"]>[0]): Promise<void> {
    // Liveness is judged here (sweep, exited); the provider's own beats only keep its entry current.
    const provider = memoryMembership(this.registry, {
      heartbeatMs: this.#timings.heartbeatMs,
      deadAfterMs: this.#timings.deadAfterMs,
    });
    provider.onChange((view) => member.send({ t: "view", view }));
    provider.onEvicted((reason) => member.send({ t: "evicted", reason }));
    try {
      const view = await provider.join(self);
      this.#joined.set(self.id, { member, provider, lastHeard: systemClock.now() });
      member.send({ t: "joined", view });
    } catch (err) {
      await provider.close();
      member.send({ t: "join-failed", message: err instanceof Error ? err.message : String(err) });
    }
  }
}
