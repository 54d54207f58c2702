/**
 * The silo transport on real sockets: one connection per pair, the HMAC
 * handshake, bad input, backpressure, and what happens to calls when a
 * connection dies.
 */

import { connect, type Socket } from "node:net";
import { type ChainLink, decode, encodeTrusted, type PraasError, systemClock } from "@praas/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { newNonce, proof } from "../src/cluster/auth.js";
import { CALL, CAPS, type CallEnvelope, decodeFrame, ERR, encodeFrame, OK } from "../src/cluster/frames.js";
import { encodeAuth, encodeHello, parseHello, SiloCloseCode } from "../src/cluster/handshake.js";
import type { ConnectionLimits, OutboundCall, PeerConnection } from "../src/cluster/peer-connection.js";
import { StrangerPool } from "../src/cluster/strangers.js";
import { SILO_PATH, Transport, type TransportHost } from "../src/cluster/transport.js";

const secret = Buffer.from("test-secret-0123456789");
const CLUSTER = "test";

const limits: ConnectionLimits = {
  maxFrameBytes: 1024 * 1024,
  highWaterBytes: 64 * 1024,
  maxQueued: 1000,
  maxEnvelopesPerFrame: 256,
  pingIntervalMs: 60_000,
  handshakeTimeoutMs: 2_000,
};

/** Membership as the tests want it: silo id → address. */
const members = new Map<string, string>();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  members.clear();
});

interface Node {
  readonly id: string;
  readonly transport: Transport;
  readonly calls: { conn: PeerConnection; env: CallEnvelope }[];
  readonly rerouted: OutboundCall[];
}

async function node(id: string, options: { answer?: boolean; limits?: Partial<ConnectionLimits> } = {}): Promise<Node> {
  const calls: Node["calls"] = [];
  const rerouted: OutboundCall[] = [];
  const handler: TransportHost = {
    isMember: (peer) => members.has(peer),
    waitForMember: async () => false,
    addressOf: (peer) => members.get(peer),
    onCall: (conn, env) => {
      calls.push({ conn, env });
      // Echo the arguments back, like a trivial actor method.
      if (options.answer !== false) conn.reply(env[1], env[5]);
    },
    onPeerLeaving: () => {},
    reroute: (c) => rerouted.push(c),
  };
  const transport = new Transport(
    {
      selfId: id,
      cluster: CLUSTER,
      secret,
      host: "127.0.0.1",
      port: 0,
      limits: { ...limits, ...options.limits },
      clock: systemClock,
      backoffMs: 20,
      maxBackoffMs: 200,
    },
    handler,
  );
  const { port } = await transport.listen();
  members.set(id, `127.0.0.1:${port}`);
  cleanups.push(() => transport.close());
  return { id, transport, calls, rerouted };
}

/** A call whose outcome the test awaits. */
function testCall(args: unknown[] = [1], timeoutMs = 5_000): OutboundCall & { outcome: Promise<unknown> } {
  let settle!: (v: { ok: boolean; value: unknown; how: string }) => void;
  const outcome = new Promise<{ ok: boolean; value: unknown; how: string }>((r) => {
    settle = r;
  });
  let done = false;
  const finish = (v: { ok: boolean; value: unknown; how: string }) => {
    if (done) return;
    done = true;
    settle(v);
  };
  return {
    get done() {
      return done;
    },
    deadline: systemClock.now() + timeoutMs,
    type: "Counter",
    key: "k",
    method: "add",
    args,
    chain: [] as ChainLink[],
    hops: 0,
    replied: (ok, value, notRun) => finish({ ok, value, how: notRun ? "notRun" : "replied" }),
    refused: (e: PraasError) => finish({ ok: false, value: e, how: "refused" }),
    lost: (e: PraasError) => finish({ ok: false, value: e, how: "lost" }),
    outcome,
  };
}

/** A raw WebSocket to a node's listener, with its messages and close code. */
async function raw(address: string): Promise<{
  ws: WebSocket;
  messages: Uint8Array[];
  next(): Promise<Uint8Array>;
  closed: Promise<number>;
}> {
  const ws = new WebSocket(`ws://${address}${SILO_PATH}`);
  const messages: Uint8Array[] = [];
  const waiters: ((m: Uint8Array) => void)[] = [];
  ws.on("message", (data: RawData) => {
    const m = new Uint8Array(data as Buffer);
    const w = waiters.shift();
    if (w === undefined) messages.push(m);
    else w(m);
  });
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  cleanups.push(() => ws.terminate());
  return {
    ws,
    messages,
    next: () => {
      const m = messages.shift();
      return m !== undefined ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve));
    },
    closed,
  };
}

/** A raw TCP connection that sends `request` (default: HTTP headers that never end) and nothing more. */
async function halfOpen(
  address: string,
  request = "GET /praas/silo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n",
): Promise<{ socket: Socket; closed: Promise<void> }> {
  const [host, port] = address.split(":") as [string, string];
  const socket = connect(Number(port), host);
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  if (request !== "") socket.write(request);
  cleanups.push(() => {
    socket.destroy();
  });
  return { socket, closed };
}

/** A WebSocket upgrade done by hand, so the test can write frames byte by byte; resolves after the 101. */
async function upgradedSocket(address: string): Promise<{ socket: Socket; closeCode: Promise<number | undefined> }> {
  const { socket } = await halfOpen(
    address,
    "GET /praas/silo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  let received = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    received = Buffer.concat([received, d]);
  });
  await expect
    .poll(() => received.includes("\r\n\r\n"), { message: "the 101 response", timeout: 5_000, interval: 5 })
    .toBe(true);
  expect(received.toString("latin1")).toMatch(/^HTTP\/1\.1 101 /);
  // The close frame the server sends (opcode 8), if any, carries the code in its first two payload bytes.
  const closeCode = new Promise<number | undefined>((resolve) =>
    socket.once("close", () => {
      const frames = received.subarray(received.indexOf("\r\n\r\n") + 4);
      for (let at = 0; at + 2 <= frames.length; ) {
        const opcode = (frames[at] as number) & 0x0f;
        let len = (frames[at + 1] as number) & 0x7f;
        let start = at + 2;
        if (len === 126) {
          len = frames.readUInt16BE(at + 2);
          start = at + 4;
        }
        if (opcode === 8 && len >= 2) {
          resolve(frames.readUInt16BE(start));
          return;
        }
        at = start + len;
      }
      resolve(undefined);
    }),
  );
  return { socket, closeCode };
}

/** Authenticate a raw socket as member `as` (the test knows the secret). */
async function authenticate(address: string, as: string, serverId: string) {
  const r = await raw(address);
  const hello = parseHello(await r.next());
  expect(hello?.siloId).toBe(serverId);
  const nonce = newNonce();
  r.ws.send(
    encodeAuth({
      siloId: as,
      proof: proof(secret, "client", hello?.nonce as Uint8Array, as, serverId, CLUSTER),
      nonce,
    }),
  );
  const welcome = decode(await r.next()) as unknown[];
  expect(welcome[0]).toBe("welcome");
  return r;
}

describe("one connection per silo pair", () => {
  it("converges to a single socket when both silos dial at once, kept by the smaller id", async () => {
    for (let round = 0; round < 5; round++) {
      const a = await node(`silo-a${round}`);
      const b = await node(`silo-b${round}`);
      const fromA = testCall(["a"]);
      const fromB = testCall(["b"]);
      // Same tick: both dial before either handshake completes.
      a.transport.send(b.id, fromA);
      b.transport.send(a.id, fromB);
      expect(await fromA.outcome).toEqual({ ok: true, value: ["a"], how: "replied" });
      expect(await fromB.outcome).toEqual({ ok: true, value: ["b"], how: "replied" });
      await expect
        .poll(() => a.transport.openConnections === 1 && b.transport.openConnections === 1, {
          message: "one connection",
          timeout: 5_000,
          interval: 5,
        })
        .toBe(true);
      const ca = a.transport.connection(b.id);
      const cb = b.transport.connection(a.id);
      expect(ca?.dialedBySelf).toBe(true); // "silo-a…" < "silo-b…"
      expect(cb?.dialedBySelf).toBe(false);
      // Both calls travelled on that one connection.
      expect(b.calls.map((c) => c.conn)).toEqual([cb]);
      expect(a.calls.map((c) => c.conn)).toEqual([ca]);
    }
  });

  it("batches the calls of one tick into few frames and keeps their order", async () => {
    const a = await node("silo-a");
    const b = await node("silo-b");
    const warm = testCall();
    a.transport.send(b.id, warm);
    await warm.outcome;
    const calls = Array.from({ length: 2_000 }, (_, i) => testCall([i]));
    for (const c of calls) a.transport.send(b.id, c);
    const results = await Promise.all(calls.map((c) => c.outcome));
    expect(results.map((r) => (r as { value: number[] }).value[0])).toEqual(calls.map((_, i) => i));
    expect(b.calls.slice(1).map((c) => c.env[5][0])).toEqual(calls.map((_, i) => i));
    // 2,000 calls in one tick, at most 256 envelopes per frame: a handful of frames, not 2,000.
    const received = b.transport.connection(a.id)?.framesReceived ?? 0;
    expect(received).toBeGreaterThanOrEqual(1 + Math.ceil(2_000 / limits.maxEnvelopesPerFrame));
    expect(received).toBeLessThan(30);
  });
});

describe("authentication", () => {
  it("closes a connection that sends a call before authenticating, and runs nothing", async () => {
    const s = await node("silo-s");
    const r = await raw(members.get("silo-s") as string);
    await r.next(); // hello
    r.ws.send(encodeFrame([[CALL, 1, "Counter", "k", "add", [1], 1000, [], 0]]));
    expect(await r.closed).toBe(SiloCloseCode.PROTOCOL);
    expect(s.calls).toHaveLength(0);
    expect(s.transport.stats.rejected).toBeGreaterThanOrEqual(1);
  });

  it("lets a silo connect while 100 strangers hold connections that never authenticate", async () => {
    const a = await node("silo-a");
    const b = await node("silo-b");
    const address = members.get("silo-b") as string;
    // Half upgrade to WebSocket and then say nothing; half never finish their HTTP headers.
    // Whichever gets cut comes straight back, as an attacker would.
    let stopped = false;
    const hold = async (upgrade: boolean): Promise<void> => {
      while (!stopped) {
        const closed = upgrade ? (await raw(address)).closed : (await halfOpen(address)).closed;
        await closed;
      }
    };
    cleanups.push(() => {
      stopped = true;
    });
    for (let i = 0; i < 100; i++) void hold(i % 2 === 0).catch(() => {});
    await expect
      .poll(() => b.transport.strangers >= 100, {
        message: "100 strangers to be connected",
        timeout: 5_000,
        interval: 5,
      })
      .toBe(true);
    const c = testCall(["through"]);
    a.transport.send(b.id, c);
    expect(await c.outcome).toEqual({ ok: true, value: ["through"], how: "replied" });
    expect(b.transport.strangers).toBeGreaterThanOrEqual(90);
  });

  it("at its bound, the stranger pool cuts the oldest stranger of the address holding the most places", () => {
    const pool = new StrangerPool<{ remoteAddress: string; destroy(): void; once(): void; cut: boolean }>(3, 60_000);
    const socket = (remoteAddress: string) => ({
      remoteAddress,
      cut: false,
      destroy() {
        this.cut = true;
      },
      once() {},
    });
    const [a1, a2, b1, c1, c2] = [
      socket("10.0.0.1"),
      socket("10.0.0.1"),
      socket("10.0.0.2"),
      socket("10.0.0.3"),
      socket("10.0.0.3"),
    ];
    for (const s of [b1, a1, a2]) pool.add(s);
    pool.add(c1); // 10.0.0.1 holds two: its oldest goes, the older 10.0.0.2 stays
    expect([a1.cut, a2.cut, b1.cut]).toEqual([true, false, false]);
    pool.trust(b1); // authenticated: out of the pool, never cut
    pool.add(c2);
    expect(pool.size).toBe(3);
    pool.add(socket("10.0.0.4"));
    expect([a2.cut, b1.cut, c1.cut, c2.cut]).toEqual([false, false, true, false]);
    expect(pool.displaced).toBe(2);
    pool.clear();
  });

  it("cuts a stranger at the handshake deadline, whether it sent nothing, half a request, or no auth", async () => {
    const s = await node("silo-s", { limits: { handshakeTimeoutMs: 300 } });
    const address = members.get("silo-s") as string;
    const silent = await halfOpen(address, "");
    const partial = await halfOpen(address);
    const upgraded = await raw(address);
    await Promise.all([silent.closed, partial.closed, upgraded.closed]);
    await expect
      .poll(() => s.transport.strangers === 0, {
        message: "the server to let go of the sockets",
        timeout: 5_000,
        interval: 5,
      })
      .toBe(true);
  });

  it("refuses a stranger's frame beyond the handshake size from its header, before its body arrives", async () => {
    const s = await node("silo-s");
    const address = members.get("silo-s") as string;
    // Announce a 48 MiB frame and send 1 KiB of it: the server must not wait for (or buffer) the rest.
    const socket = await upgradedSocket(address);
    const header = Buffer.alloc(14);
    header[0] = 0x82; // FIN, binary
    header[1] = 0xff; // masked, 64-bit length
    header.writeBigUInt64BE(48n * 1024n * 1024n, 2);
    socket.socket.write(Buffer.concat([header, Buffer.alloc(1024)]));
    expect(await socket.closeCode).toBe(1009);
    await expect
      .poll(() => s.transport.strangers === 0, {
        message: "the server to let go of the socket",
        timeout: 5_000,
        interval: 5,
      })
      .toBe(true);
  });

  it("carries frames far beyond the handshake size once both sides proved the secret", async () => {
    const a = await node("silo-a");
    const b = await node("silo-b");
    const big = "x".repeat(200_000);
    const c = testCall([big]);
    a.transport.send(b.id, c);
    expect(await c.outcome).toEqual({ ok: true, value: [big], how: "replied" });
  });

  it("refuses a wrong proof of the secret", async () => {
    const s = await node("silo-s");
    members.set("silo-x", "127.0.0.1:1");
    const r = await raw(members.get("silo-s") as string);
    const hello = parseHello(await r.next());
    const wrong = proof(
      Buffer.from("another-secret-12345"),
      "client",
      hello?.nonce as Uint8Array,
      "silo-x",
      "silo-s",
      CLUSTER,
    );
    r.ws.send(encodeAuth({ siloId: "silo-x", proof: wrong, nonce: newNonce() }));
    expect(await r.closed).toBe(SiloCloseCode.AUTH_FAILED);
    expect(s.calls).toHaveLength(0);
  });

  it("refuses a silo that knows the secret but is not a member", async () => {
    const s = await node("silo-s");
    const r = await raw(members.get("silo-s") as string);
    const hello = parseHello(await r.next());
    const p = proof(secret, "client", hello?.nonce as Uint8Array, "silo-stranger", "silo-s", CLUSTER);
    r.ws.send(encodeAuth({ siloId: "silo-stranger", proof: p, nonce: newNonce() }));
    expect(await r.closed).toBe(SiloCloseCode.UNKNOWN_PEER);
    expect(s.calls).toHaveLength(0);
  });

  it("does not talk to a server that cannot prove the secret (mutual authentication)", async () => {
    const a = await node("silo-a");
    // An impostor listening where membership says silo-b is.
    const impostor = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => new Promise<void>((r) => impostor.close(() => r())));
    await new Promise((r) => impostor.once("listening", r));
    const got: unknown[] = [];
    impostor.on("connection", (ws) => {
      ws.send(encodeHello({ version: 1, cluster: CLUSTER, siloId: "silo-b", nonce: newNonce() }));
      ws.on("message", (data: RawData) => {
        got.push(decode(new Uint8Array(data as Buffer)));
        // Answer the client's auth with a welcome it cannot verify.
        ws.send(encodeTrusted(["welcome", new Uint8Array(32)]));
      });
    });
    members.set("silo-b", `127.0.0.1:${(impostor.address() as { port: number }).port}`);
    const c = testCall();
    a.transport.send("silo-b", c);
    const out = (await c.outcome) as { ok: boolean; value: PraasError; how: string };
    expect(out.ok).toBe(false);
    expect(out.value.code).toBe("SILO_UNAVAILABLE");
    // The impostor saw the auth message and nothing else: no call envelope left silo-a.
    expect(got.map((m) => (m as unknown[])[0])).toEqual(["auth"]);
  });
});

describe("bad input from an authenticated peer", () => {
  it("drops garbage, answers a malformed call with an error, and keeps serving", async () => {
    const s = await node("silo-s");
    members.set("silo-m", "127.0.0.1:1");
    const r = await authenticate(members.get("silo-s") as string, "silo-m", "silo-s");
    r.ws.send(Uint8Array.from([0xff, 0xfe, 0x00])); // not CBOR
    r.ws.send(encodeTrusted({ a: 1 })); // CBOR, not a frame
    r.ws.send("text is not a frame");
    r.ws.send(encodeFrame([[OK, 99, "reply to nothing"]]));
    r.ws.send(
      encodeTrusted([
        [CALL, 5, "Counter", "", "add", [1], 1000, [], 0],
        "junk",
        [CALL, 6, "Counter", "k", "add", [42], 1000, [], 0],
      ]),
    );
    const reply = decodeFrame(await r.next()) as unknown[][];
    const bad = reply.find((e) => e[1] === 5) ?? (decodeFrame(await r.next()) as unknown[][]).find((e) => e[1] === 5);
    expect(bad?.[0]).toBe(ERR);
    expect(bad?.[2]).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(bad?.[3]).toBe(true); // not run
    // The valid call in the same frame was served.
    await expect
      .poll(() => s.calls.length === 1, { message: "the valid call", timeout: 5_000, interval: 5 })
      .toBe(true);
    expect(s.calls[0]?.env[5]).toEqual([42]);
    expect(s.transport.stats.dropped).toBeGreaterThanOrEqual(5);
    expect(r.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('send stamps (feature "sent")', () => {
  /** The envelopes of the raw peer's next frames, until `done` says it has what it wants. */
  async function envelopes(r: { next(): Promise<Uint8Array> }, done: (seen: unknown[][]) => boolean) {
    const seen: unknown[][] = [];
    while (!done(seen)) seen.push(...(decodeFrame(await r.next()) as unknown[][]));
    return seen;
  }

  it("announces the feature, refuses unrun a call stamped later than its deadline, and serves old-style calls", async () => {
    const s = await node("silo-s");
    members.set("silo-m", "127.0.0.1:1");
    const r = await authenticate(members.get("silo-s") as string, "silo-m", "silo-s");
    const caps = await envelopes(r, (seen) => seen.some((e) => e[0] === CAPS));
    expect(caps.find((e) => e[0] === CAPS)).toEqual([CAPS, ["sent"]]);
    const call = (id: number, n: number, timeoutMs: number, ...rest: unknown[]) => [
      CALL,
      id,
      "Counter",
      "k",
      "add",
      [n],
      timeoutMs,
      [],
      0,
      ...rest,
    ];
    r.ws.send(
      encodeTrusted([
        [CAPS, ["sent", "some-future-feature"]],
        call(1, 1, 1000, null, null, 50_000), // the reference: as fast as this link goes
        call(2, 2, 1000, null, null, 45_000), // sent 5 s before it: past its 1 s deadline
        call(3, 3, 1000, null, null, 49_500), // 0.5 s: within it
        call(4, 4, 1000), // no stamp (an older silo): as before
        call(5, 5, 1000, null, null, -1), // a bad stamp
      ]),
    );
    const replies = await envelopes(r, (seen) => [1, 2, 3, 4, 5].every((id) => seen.some((e) => e[1] === id)));
    const late = replies.find((e) => e[1] === 2) as unknown[];
    expect(late[0]).toBe(ERR);
    expect(late[2]).toMatchObject({ code: "TIMEOUT" });
    expect((late[2] as { message: string }).message).toMatch(
      /arrived \d+ ms after it was sent, past its 1000 ms deadline; not run/,
    );
    expect(late[3]).toBe(true); // not run
    const bad = replies.find((e) => e[1] === 5) as unknown[];
    expect(bad[2]).toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect
      .poll(() => s.calls.map((c) => c.env[1]).join(","), { message: "the calls served", timeout: 5_000, interval: 5 })
      .toBe("1,3,4");
    expect(r.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("stamps calls only to a peer that announced it reads stamps", async () => {
    const a = await node("silo-a");
    const b = await node("silo-b");
    // The first call may leave before b's caps arrive; once a reply came back, they have.
    const first = testCall([1]);
    a.transport.send(b.id, first);
    await first.outcome;
    const second = testCall([2]);
    a.transport.send(b.id, second);
    expect(await second.outcome).toMatchObject({ ok: true, value: [2] });
    expect(b.calls.at(-1)?.env).toHaveLength(12);
    expect(typeof b.calls.at(-1)?.env[11]).toBe("number");
  });
});

describe("when things go wrong", () => {
  it("reports calls in flight on a dying connection as lost, and never resends them", async () => {
    const a = await node("silo-a");
    const b = await node("silo-b", { answer: false });
    const c = testCall();
    a.transport.send(b.id, c);
    await expect
      .poll(() => b.calls.length === 1, { message: "the call to arrive", timeout: 5_000, interval: 5 })
      .toBe(true);
    await b.transport.close();
    const out = (await c.outcome) as { ok: boolean; value: PraasError; how: string };
    expect(out.how).toBe("lost");
    expect(out.value.code).toBe("SILO_UNAVAILABLE");
    expect(out.value.retryable).toBe(true);
    expect(b.calls).toHaveLength(1);
  });

  it("keeps calls for an unreachable peer waiting, redials with backoff, and reroutes them when the peer is gone", async () => {
    const a = await node("silo-a");
    members.set("silo-dead", "127.0.0.1:1"); // nothing listens there
    const c = testCall();
    a.transport.send("silo-dead", c);
    await expect
      .poll(() => a.transport.stats.dials >= 3, { message: "redials", timeout: 5_000, interval: 5 })
      .toBe(true);
    expect(c.done).toBe(false);
    a.transport.peerGone("silo-dead", false);
    expect(a.rerouted).toEqual([c]);
  });

  it("holds sends while the peer does not read, then fails new calls fast once the queue is full", async () => {
    const a = await node("silo-a", { limits: { maxQueued: 50, highWaterBytes: 16 * 1024 } });
    const peer = await fakeServer("silo-b");
    const warm = testCall();
    a.transport.send("silo-b", warm);
    await expect.poll(() => peer.frames > 0, { message: "the connection", timeout: 5_000, interval: 5 }).toBe(true);
    // The peer stops reading: its TCP window fills and a's socket buffer grows past the high-water mark.
    peer.socket?.pause();
    const big = new Uint8Array(64 * 1024);
    const calls = Array.from({ length: 400 }, () => testCall([big]));
    for (const c of calls) a.transport.send("silo-b", c);
    await expect
      .poll(() => calls.some((c) => c.done), { message: "a call refused by backpressure", timeout: 5_000, interval: 5 })
      .toBe(true);
    const refused = (await Promise.race(calls.filter((c) => c.done).map((c) => c.outcome))) as {
      ok: boolean;
      value: PraasError;
      how: string;
    };
    expect(refused.how).toBe("refused");
    expect(refused.value.code).toBe("SILO_UNAVAILABLE");
    expect(refused.value.retryable).toBe(true);
    // Held, not dropped: the queue stays at its bound.
    expect(a.transport.connection("silo-b")?.queued).toBeLessThanOrEqual(50);
    expect(calls.filter((c) => !c.done).length).toBeGreaterThan(0);
    peer.socket?.resume();
  });
});

/**
 * A peer that completes the server side of the handshake and then only counts
 * frames: lets a test stop reading from the TCP socket.
 */
async function fakeServer(id: string): Promise<{ frames: number; socket: import("node:net").Socket | undefined }> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, path: SILO_PATH });
  cleanups.push(() => {
    for (const c of server.clients) c.terminate();
    return new Promise<void>((r) => server.close(() => r()));
  });
  await new Promise((r) => server.once("listening", r));
  members.set(id, `127.0.0.1:${(server.address() as { port: number }).port}`);
  const state: { frames: number; socket: import("node:net").Socket | undefined } = { frames: 0, socket: undefined };
  server.on("connection", (ws, req) => {
    state.socket = req.socket;
    const nonce = newNonce();
    ws.send(encodeHello({ version: 1, cluster: CLUSTER, siloId: id, nonce }));
    let authed = false;
    ws.on("message", (data: RawData) => {
      if (authed) {
        state.frames++;
        return;
      }
      const auth = decode(new Uint8Array(data as Buffer)) as [string, string, Uint8Array, Uint8Array];
      authed = true;
      ws.send(encodeTrusted(["welcome", proof(secret, "server", auth[3], id, auth[1], CLUSTER)]));
    });
  });
  return state;
}
