import { encodeTrusted, InvalidArgumentError, MAX_CHAIN_LENGTH } from "@praas/core/internal";
import { describe, expect, it } from "vitest";
import { newNonce, proof, resolveSecret, verifyProof } from "../src/cluster/auth.js";
import { resolveClusterOptions } from "../src/cluster/config.js";
import { BYE, CALL, decodeFrame, ERR, encodeFrame, OK, parseEnvelope } from "../src/cluster/frames.js";
import { encodeAuth, encodeHello, parseAuth, parseHello, parseWelcome } from "../src/cluster/handshake.js";
import { stubMembership } from "./cluster-helpers.js";

const secret = Buffer.from("0123456789abcdef0123456789abcdef");

function call(overrides: Partial<Record<number, unknown>> = {}): unknown[] {
  const env: unknown[] = [CALL, 7, "Counter", "alice", "add", [1], 1000, [["Other/x", 3]], 0];
  for (const [i, v] of Object.entries(overrides)) env[Number(i)] = v;
  return env;
}

describe("frames", () => {
  it("round-trips a batch of envelopes through CBOR", () => {
    const bytes = encodeFrame([
      call() as never,
      [OK, 7, { value: 3 }],
      [ERR, 8, { name: "E", message: "m", code: "X" }, true],
      [BYE],
    ]);
    const list = decodeFrame(bytes);
    expect(list).toHaveLength(4);
    expect(list?.map((e) => parseEnvelope(e).ok)).toEqual([true, true, true, true]);
  });

  it("rejects non-arrays and undecodable bytes as frames", () => {
    expect(decodeFrame(Uint8Array.from([0xff, 0x00, 0x13]))).toBeUndefined();
    expect(decodeFrame(encodeTrusted({ not: "a frame" }))).toBeUndefined();
  });

  it.each([
    ["wrong length", call({ 9: "extra" }), 7],
    ["empty type", call({ 2: "" }), 7],
    ["args not an array", call({ 5: "1" }), 7],
    ["zero timeout", call({ 6: 0 }), 7],
    ["huge timeout", call({ 6: 1e12 }), 7],
    ["chain link malformed", call({ 7: [["a"]] }), 7],
    ["chain too long", call({ 7: Array.from({ length: MAX_CHAIN_LENGTH + 1 }, () => ["A/b", 1]) }), 7],
    ["negative hops", call({ 8: -1 }), 7],
    ["fractional id", call({ 1: 1.5 }), undefined],
  ])("refuses a call with %s, keeping its id when readable", (_name, env, id) => {
    const parsed = parseEnvelope(env);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.id).toBe(id);
  });

  it("refuses malformed replies and unknown kinds without an id to answer", () => {
    for (const env of [
      [OK, 1],
      [ERR, 1, { name: "x" }, true],
      [ERR, 1, { name: "E", message: "m", code: "C" }],
      [9, 1],
      "x",
      [],
    ]) {
      const parsed = parseEnvelope(env);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.id).toBeUndefined();
    }
  });
});

describe("authentication proofs", () => {
  const nonce = newNonce();

  it("verifies a proof made with the same secret, silos, cluster and nonce", () => {
    const p = proof(secret, "client", nonce, "silo-a", "silo-b", "shop");
    expect(verifyProof(p, secret, "client", nonce, "silo-a", "silo-b", "shop")).toBe(true);
  });

  it.each([
    [
      "another secret",
      () =>
        verifyProof(
          proof(Buffer.from("x".repeat(32)), "client", nonce, "a", "b", "c"),
          secret,
          "client",
          nonce,
          "a",
          "b",
          "c",
        ),
    ],
    [
      "another nonce",
      () => verifyProof(proof(secret, "client", newNonce(), "a", "b", "c"), secret, "client", nonce, "a", "b", "c"),
    ],
    [
      "the other role (reflection)",
      () => verifyProof(proof(secret, "server", nonce, "a", "b", "c"), secret, "client", nonce, "a", "b", "c"),
    ],
    [
      "another prover",
      () => verifyProof(proof(secret, "client", nonce, "x", "b", "c"), secret, "client", nonce, "a", "b", "c"),
    ],
    [
      "another cluster",
      () => verifyProof(proof(secret, "client", nonce, "a", "b", "x"), secret, "client", nonce, "a", "b", "c"),
    ],
    [
      "shifted fields",
      () => verifyProof(proof(secret, "client", nonce, "ab", "c", "d"), secret, "client", nonce, "a", "bc", "d"),
    ],
    ["a non-bytes value", () => verifyProof("proof", secret, "client", nonce, "a", "b", "c")],
    ["a short value", () => verifyProof(new Uint8Array(3), secret, "client", nonce, "a", "b", "c")],
  ])("refuses a proof with %s", (_name, check) => {
    expect(check()).toBe(false);
  });

  it("requires a secret on every host, long enough, unless the membership is in-process", () => {
    // Loopback included: any local process can reach a silo port on 127.0.0.1.
    expect(() => resolveSecret(undefined, undefined)).toThrow(InvalidArgumentError);
    expect(() => resolveSecret("", undefined)).toThrow(/cluster\.secret is required/);
    expect(() => resolveSecret("short", undefined)).toThrow(/at least 16/);
    const local = new Uint8Array(32).fill(7);
    expect(resolveSecret(undefined, local)).toBe(local);
    expect(Buffer.from(resolveSecret("configured-secret-wins", local)).toString()).toBe("configured-secret-wins");
  });
});

describe("handshake messages", () => {
  it("parses what it encodes and nothing else", () => {
    const n = newNonce();
    expect(parseHello(encodeHello({ version: 1, cluster: "c", siloId: "s", nonce: n }))?.siloId).toBe("s");
    expect(parseAuth(encodeAuth({ siloId: "s", proof: new Uint8Array(32), nonce: n }))?.siloId).toBe("s");
    expect(parseHello(encodeAuth({ siloId: "s", proof: new Uint8Array(32), nonce: n }))).toBeUndefined();
    expect(
      parseHello(encodeHello({ version: 1, cluster: "c", siloId: "s", nonce: new Uint8Array(3) })),
    ).toBeUndefined();
    expect(parseWelcome(encodeTrusted(["welcome", "not bytes"]))).toBeUndefined();
    expect(parseAuth(new Uint8Array(5000))).toBeUndefined();
  });
});

describe("cluster options", () => {
  const membership = stubMembership();

  it("fills in defaults", () => {
    const o = resolveClusterOptions({ name: "shop", membership, secret: "s".repeat(16) });
    expect(o.host).toBe("127.0.0.1");
    expect(o.port).toBe(0);
    expect(o.maxHops).toBe(3);
  });

  it.each([
    ["no name", { name: "", membership }],
    ["no provider", { name: "x", membership: {} }],
    ["a bad port", { name: "x", membership, listen: { port: 70_000 } }],
    ["a bad advertise", { name: "x", membership, advertise: "nohostport" }],
    [
      "a wildcard host without advertise",
      { name: "x", membership, listen: { host: "0.0.0.0" }, secret: "s".repeat(16) },
    ],
    ["a public host without secret", { name: "x", membership, listen: { host: "10.1.2.3" } }],
    ["loopback without secret (membership outside this process)", { name: "x", membership }],
    ["negative maxHops", { name: "x", membership, maxHops: -1 }],
  ])("refuses %s", (_name, options) => {
    expect(() => resolveClusterOptions(options as never)).toThrow(InvalidArgumentError);
  });
});

describe("timeouts of calls from peers", () => {
  it("round remaining times down to few distinct lengths, never up", async () => {
    const { quantizeTimeout } = await import("../src/cluster/router.js");
    const lengths = new Set<number>();
    for (let ms = 1; ms <= 60_000; ms += 7) {
      const q = quantizeTimeout(ms);
      expect(q).toBeLessThanOrEqual(ms);
      expect(q).toBeGreaterThanOrEqual(Math.max(1, ms * 0.93));
      lengths.add(q);
    }
    expect(lengths.size).toBeLessThan(300);
  });
});
