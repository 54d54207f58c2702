/**
 * No public default secret: a cluster silo needs one (loopback included),
 * except with in-process membership, whose silos share a random one.
 */
import { decode, MemoryMembershipRegistry, memoryMembership, systemClock } from "@praas/core";
import { afterEach, describe, expect, it } from "vitest";
import { type RawData, WebSocket } from "ws";
import { newNonce, proof } from "../src/cluster/auth.js";
import { resolveClusterOptions } from "../src/cluster/config.js";
import { encodeAuth, parseHello, SiloCloseCode } from "../src/cluster/handshake.js";
import { SILO_PATH } from "../src/cluster/transport.js";
import { startCluster, type TestCluster } from "./cluster-helpers.js";
import { Counter } from "./fixtures.js";

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** The secret built into earlier versions for clusters on loopback: public, since it was in the source. */
const OLD_BUILT_IN_SECRET = Buffer.from("praas-development-secret-loopback-only", "utf8");

describe("the cluster secret", () => {
  it("in-process silos without a configured secret share a random one; the old built-in one gets nowhere", async () => {
    cluster = await startCluster([Counter], 2, { cluster: { secret: undefined } });
    const [a, b] = cluster.silos as [NonNullable<TestCluster["silos"][0]>, NonNullable<TestCluster["silos"][0]>];
    // The silos talk to each other: every key answers through either silo.
    for (let i = 0; i < 20; i++) expect(await a.call("Counter", `k${i}`, "add", [1])).toBe(1);
    for (let i = 0; i < 20; i++) expect(await b.call("Counter", `k${i}`, "add", [1])).toBe(2);

    // A local process that read the old source: it learns a's id from a's greeting and b's id
    // from b's, and proves the built-in secret as b.
    const ws = new WebSocket(`ws://${a.clusterAddress}${SILO_PATH}`);
    const messages: Uint8Array[] = [];
    let wake: (() => void) | undefined;
    ws.on("message", (data: RawData) => {
      messages.push(new Uint8Array(data as Buffer));
      wake?.();
    });
    ws.on("error", () => {});
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    const hello = parseHello(messages.shift() as Uint8Array);
    expect(hello?.siloId).toBe(a.siloId);
    ws.send(
      encodeAuth({
        siloId: b.siloId,
        proof: proof(OLD_BUILT_IN_SECRET, "client", hello?.nonce as Uint8Array, b.siloId, a.siloId, "test"),
        nonce: newNonce(),
      }),
    );
    expect(await closed).toBe(SiloCloseCode.AUTH_FAILED);
    expect(messages.map((m) => (decode(m) as unknown[])[0])).toEqual([]); // no welcome
  });

  it("a membership outside this process (Redis) gets no default: the silo refuses to start, on loopback too", () => {
    const redisLike = {
      join: async () => ({ version: 1, silos: [] }),
      view: () => ({ version: 1, silos: [] }),
      onChange: () => () => {},
      onEvicted: () => () => {},
      leave: async () => {},
      close: async () => {},
      leaseValidUntil: () => 0,
      clock: systemClock,
    };
    expect(() => resolveClusterOptions({ name: "c", membership: redisLike })).toThrow(/cluster\.secret is required/);
    expect(() => resolveClusterOptions({ name: "c", membership: redisLike, listen: { host: "127.0.0.1" } })).toThrow(
      /is required/,
    );
    // The library reads no environment variable: $PRAAS_CLUSTER_SECRET is the CLI's.
    const saved = process.env.PRAAS_CLUSTER_SECRET;
    process.env.PRAAS_CLUSTER_SECRET = "x".repeat(16);
    try {
      expect(() => resolveClusterOptions({ name: "c", membership: redisLike })).toThrow(/is required/);
    } finally {
      if (saved === undefined) delete process.env.PRAAS_CLUSTER_SECRET;
      else process.env.PRAAS_CLUSTER_SECRET = saved;
    }
    const given = resolveClusterOptions({ name: "c", membership: redisLike, secret: "x".repeat(16) });
    expect(Buffer.from(given.secret).toString()).toBe("x".repeat(16));
  });

  it("each in-process registry has its own random secret, shared by its providers", () => {
    const one = new MemoryMembershipRegistry();
    const secretOf = (registry: MemoryMembershipRegistry) =>
      Buffer.from(resolveClusterOptions({ name: "c", membership: memoryMembership(registry) }).secret);
    expect(secretOf(one).length).toBe(32);
    expect(secretOf(one).equals(secretOf(one))).toBe(true);
    expect(secretOf(one).equals(secretOf(new MemoryMembershipRegistry()))).toBe(false);
  });
});
