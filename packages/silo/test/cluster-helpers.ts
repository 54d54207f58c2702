/**
 * Test clusters in one process: real silos, real sockets, one in-memory
 * membership registry and one state store shared by all (as S3 would be).
 */
import {
  type ActorId,
  type MembershipTimings,
  MemoryMembershipRegistry,
  MemoryStateStore,
  memoryMembership,
  type StateStore,
  type StoredState,
} from "@praas/core";
import { type ActorClass, Silo, type SiloOptions } from "@praas/silo";
import type { ClusterOptions } from "../src/cluster/config.js";

/** One store for every silo of a test cluster; closing a silo does not close it. */
export class SharedStore implements StateStore {
  readonly kind = "memory";
  readonly inner = new MemoryStateStore();
  writes = 0;
  load(id: ActorId): Promise<StoredState | undefined> {
    return this.inner.load(id);
  }
  save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    this.writes++;
    return this.inner.save(id, data, expected);
  }
  delete(id: ActorId, expected?: string): Promise<void> {
    return this.inner.delete(id, expected);
  }
  describe(id: ActorId): string {
    return this.inner.describe(id);
  }
  async close(): Promise<void> {}
}

export interface TestCluster {
  readonly registry: MemoryMembershipRegistry;
  readonly store: SharedStore;
  readonly silos: Silo[];
  /** Start one more silo in the cluster. */
  add(extra?: Partial<ClusterOptions>): Promise<Silo>;
  /** Stop every silo still running. */
  close(): Promise<void>;
}

export const SECRET = "in-process-test-secret";

export async function startCluster(
  actors: readonly ActorClass[],
  size: number,
  options: { timings?: MembershipTimings; silo?: Partial<SiloOptions>; name?: string } = {},
): Promise<TestCluster> {
  const registry = new MemoryMembershipRegistry();
  const store = new SharedStore();
  const silos: Silo[] = [];
  const add = async (extra: Partial<ClusterOptions> = {}): Promise<Silo> => {
    const silo = await Silo.start({
      actors,
      storage: store,
      idleTimeoutMs: 600_000,
      ...options.silo,
      cluster: {
        name: options.name ?? "test",
        membership: memoryMembership(registry, options.timings),
        secret: SECRET,
        ...extra,
      },
    });
    silos.push(silo);
    return silo;
  };
  for (let i = 0; i < size; i++) await add();
  return {
    registry,
    store,
    silos,
    add,
    close: async () => {
      await Promise.allSettled(silos.map((s) => s.stop()));
    },
  };
}

/** The silos on which `Type/key` is in memory now. */
export function hosts(silos: readonly Silo[], type: string, key: string): Silo[] {
  return silos.filter((s) => s.isActive({ type, key }));
}

/** Wait (bounded) until `check` holds, polling on the event loop. */
export async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
