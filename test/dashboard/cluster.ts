/**
 * A two-silo cluster in this process for the dashboard tests: real silos on
 * real sockets, in-memory membership, one shared memory store (as S3 would
 * be), and a gateway with a token on each silo.
 */
import { MemoryMembershipRegistry, MemoryStateStore, memoryMembership } from "@praas/core";
import { Actor, type Gateway, Silo, startGateway } from "@praas/silo";

export const TOKEN = "dashboard-test-token";

export class Counter extends Actor<{ value: number }> {
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
  fail(): never {
    throw new RangeError("asked to fail");
  }
}

/** Turns of `Gate.wait` run until the test opens the gate: they make queues to see. */
export class Gate extends Actor {
  static gates = new Map<string, () => void>();
  static opened = new Set<string>();
  wait(): Promise<void> {
    if (Gate.opened.has(this.key)) return Promise.resolve();
    return new Promise((resolve) => Gate.gates.set(this.key, resolve));
  }
  static open(key: string): void {
    Gate.opened.add(key);
    Gate.gates.get(key)?.();
  }
}

/** One store for both silos; stopping a silo does not close it. */
class SharedStore extends MemoryStateStore {
  override async close(): Promise<void> {}
}

export interface DashboardCluster {
  readonly silos: Silo[];
  readonly gateways: Gateway[];
  readonly store: MemoryStateStore;
  close(): Promise<void>;
}

export async function startDashboardCluster(size = 2): Promise<DashboardCluster> {
  const registry = new MemoryMembershipRegistry();
  const store = new SharedStore();
  const silos: Silo[] = [];
  const gateways: Gateway[] = [];
  for (let i = 0; i < size; i++) {
    const silo = await Silo.start({
      actors: [Counter, Gate],
      storage: store,
      idleTimeoutMs: 600_000,
      cluster: { name: "dashboard", membership: memoryMembership(registry), secret: "dashboard-test-secret" },
    });
    silos.push(silo);
    gateways.push(await startGateway(silo, { port: 0, host: "127.0.0.1", token: TOKEN }));
  }
  return {
    silos,
    gateways,
    store,
    close: async () => {
      await Promise.allSettled(gateways.map((g) => g.close({ drainTimeoutMs: 100 })));
      await Promise.allSettled(silos.map((s) => s.stop()));
    },
  };
}

/** GET a dashboard API path with the token; the parsed body and the status. */
export async function api<T = unknown>(
  gateway: Gateway,
  path: string,
  token: string | null = TOKEN,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${gateway.url}${path}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as T };
}
