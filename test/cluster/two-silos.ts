/** Shared steps of the in-process two-silo tests: wait until both agree, pick a key by owner. */
import { HashRing } from "@praas/core/internal";
import { Actor, type Silo } from "@praas/silo";
import { expect } from "vitest";

/** The counter both two-silo tests call (saved on swap-out). */
export class Tally extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

/** The same counter, written after every turn; same type name, so keys and stored state match. */
export class TurnTally extends Tally {
  static readonly actorType = "Tally";
  static readonly persistence = "turn";
}

/** Resolves once each silo's view lists both. */
export async function bothInBothViews(a: Silo, b: Silo, timeout = 20_000): Promise<void> {
  await expect
    .poll(() => a.clusterView().silos.length === 2 && b.clusterView().silos.length === 2, {
      message: "both in both views",
      timeout,
      interval: 10,
    })
    .toBe(true);
}

/** A key of actor type `type` that `owner` owns in `viewer`'s view (`k0`, `k1`, … the first that fits). */
export function keyOwnedBy(viewer: Silo, owner: Silo, type: string): string {
  const ring = HashRing.fromView({
    version: 1,
    silos: viewer.clusterView().silos.map((s) => ({ ...s, address: "", startedAt: 0, status: "active" as const })),
  });
  for (let i = 0; i < 100_000; i++) if (ring.owner(`${type}/k${i}`) === owner.siloId) return `k${i}`;
  throw new Error(`no key of ${type} owned by ${owner.siloId} among the first 100,000`);
}

/** Resolves once `watcher`'s view lists silo `id` as dead. */
export async function seesDead(watcher: Silo, id: string): Promise<void> {
  await expect
    .poll(() => watcher.clusterView().silos.find((s) => s.id === id)?.status === "dead", {
      message: `${watcher.siloId} to see ${id} dead`,
      timeout: 20_000,
      interval: 10,
    })
    .toBe(true);
}
