/**
 * Test clusters in one process: real silos, real sockets, one in-memory
 * membership registry and one state store shared by all (as S3 would be).
 */
import {
  type ActorId,
  decode,
  type MembershipProvider,
  type MembershipTimings,
  MemoryMembershipRegistry,
  MemoryStateStore,
  memoryMembership,
  type StateStore,
  type StoredState,
  systemClock,
} from "@praas/core";
import { type ActorClass, Silo, type SiloOptions } from "@praas/silo";
import { expect } from "vitest";
import { type RawData, WebSocket } from "ws";
import { newNonce, proof } from "../src/cluster/auth.js";
import type { ClusterOptions } from "../src/cluster/config.js";
import { decodeFrame, type Envelope, encodeFrame } from "../src/cluster/frames.js";
import { encodeAuth, parseHello } from "../src/cluster/handshake.js";
import { SILO_PATH } from "../src/cluster/transport.js";

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
  options: {
    timings?: MembershipTimings;
    silo?: Partial<SiloOptions>;
    name?: string;
    cluster?: Partial<ClusterOptions>;
  } = {},
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
        ...options.cluster,
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

/** A membership provider that answers everything at once and never changes (for option checks). */
export function stubMembership(): MembershipProvider {
  return {
    join: async () => ({ version: 1, silos: [] }),
    view: () => ({ version: 1, silos: [] }),
    onChange: () => () => {},
    onEvicted: () => () => {},
    leaseValidUntil: () => Number.POSITIVE_INFINITY,
    clock: systemClock,
    leave: async () => {},
    close: async () => {},
  };
}

/**
 * A member "silo-fake" joins `registry` by hand (it never listens) and `silo`
 * sees it: a test then drives it with {@link rawPeer}. Close the returned
 * provider when done.
 */
export async function joinFakeMember(registry: MemoryMembershipRegistry, silo: Silo): Promise<MembershipProvider> {
  const before = silo.clusterView().silos.length;
  const fake = memoryMembership(registry);
  await fake.join({ id: "silo-fake", address: "127.0.0.1:1", startedAt: Date.now() });
  await expect
    .poll(() => silo.clusterView().silos.length === before + 1, {
      message: "the fake member in the view",
      timeout: 10_000,
      interval: 5,
    })
    .toBe(true);
  return fake;
}

/**
 * A hand-driven peer: a raw WebSocket that authenticates to `silo` as member
 * `as` (the test knows the secret) and then sends frames of the test's choosing.
 */
export async function rawPeer(
  silo: Silo,
  as: string,
  cluster = "test",
): Promise<{ send(envelopes: unknown[]): void; reply(id: number): Promise<unknown[]>; close(): void }> {
  const ws = new WebSocket(`ws://${silo.clusterAddress}${SILO_PATH}`);
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  ws.on("message", (data: RawData) => {
    inbox.push(new Uint8Array(data as Buffer));
    wake?.();
  });
  ws.on("error", () => {});
  const next = async (): Promise<Uint8Array> => {
    for (let i = 0; i < 1_000 && inbox.length === 0; i++) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 20);
      });
    }
    const m = inbox.shift();
    if (m === undefined) throw new Error("no message from the silo");
    return m;
  };
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const hello = parseHello(await next());
  if (hello === undefined) throw new Error("no hello");
  const secret = Buffer.from(SECRET);
  ws.send(
    encodeAuth({
      siloId: as,
      proof: proof(secret, "client", hello.nonce, as, hello.siloId, cluster),
      nonce: newNonce(),
    }),
  );
  const welcome = decode(await next()) as unknown[];
  if (welcome[0] !== "welcome") throw new Error("not welcomed");
  const replies = new Map<number, unknown[]>();
  return {
    send: (envelopes) => ws.send(encodeFrame(envelopes as Envelope[])),
    reply: async (id) => {
      for (let i = 0; i < 100 && !replies.has(id); i++) {
        for (const env of decodeFrame(await next()) ?? [])
          replies.set((env as unknown[])[1] as number, env as unknown[]);
      }
      const r = replies.get(id);
      if (r === undefined) throw new Error(`no reply to ${id}`);
      return r;
    },
    close: () => ws.terminate(),
  };
}
