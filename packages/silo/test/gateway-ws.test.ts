import { CLIENT_PROTOCOL_VERSION, CloseCode, encodeTrusted } from "@praas/core/internal";
import { afterEach, describe, expect, test } from "vitest";
import type { GatewayOptions } from "../src/index.js";
import { errorOf, gate, Peer, running, type Served, serve } from "./gateway-helpers.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

async function start<P = unknown>(options: GatewayOptions<P> = {}): Promise<Served> {
  served = await serve<P>(options);
  return served;
}

describe("gateway WebSocket protocol", () => {
  test("greets with the protocol version and limits, then answers calls", async () => {
    const { gw, silo } = await start({ limits: { maxFrameBytes: 4096, maxInFlightPerConnection: 7 } });
    const { peer, hello } = await Peer.open(gw.wsUrl);
    expect(hello).toEqual({
      t: "hello",
      v: CLIENT_PROTOCOL_VERSION,
      silo: silo.siloId,
      maxFrameBytes: 4096,
      maxInFlight: 7,
      callTimeoutMs: silo.callTimeoutMs,
    });
    expect(await peer.call("Counter", "a", "add", [2])).toMatchObject({ t: "ok", value: 2 });
    expect(await peer.call("Counter", "a", "add", [3])).toMatchObject({ t: "ok", value: 5 });
    expect(gw.connections).toBe(1);
    await peer.close();
  });

  test("actor errors, unknown types and methods come back as typed errors on a usable connection", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    expect(errorOf(await peer.call("Counter", "a", "fail", ["E_MINE"]))).toMatchObject({
      code: "E_MINE",
      message: "failed on purpose (E_MINE)",
    });
    expect(errorOf(await peer.call("Nope", "a", "add", [1])).code).toBe("ACTOR_TYPE_NOT_FOUND");
    expect(errorOf(await peer.call("Counter", "a", "nope", [1])).code).toBe("METHOD_NOT_FOUND");
    expect(errorOf(await peer.call("Counter", "a", "onActivate", [])).code).toBe("METHOD_NOT_FOUND");
    expect(errorOf(await peer.call("Counter", "", "add", [1])).code).toBe("INVALID_ARGUMENT");
    expect(errorOf(await peer.call("Counter", "a", "add", [1], { timeoutMs: -5 })).code).toBe("INVALID_ARGUMENT");
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
  });

  test("a deadline from the client is enforced by the gateway", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    const e = errorOf(await peer.call("Counter", "slow", "wait", ["never"], { timeoutMs: 30 }));
    expect(e.code).toBe("TIMEOUT");
  });

  test("a frame stamped `sent` that arrives later than its deadline is answered TIMEOUT and never run", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    // The reference: a frame that arrived as fast as this connection's frames do.
    expect(await peer.call("Counter", "late", "add", [1], { sent: 50_000 })).toMatchObject({ t: "ok", value: 1 });
    // Stamped 5 s earlier on the caller's clock: it spent 5 s on the way, past its 1 s deadline.
    const refused = errorOf(await peer.call("Counter", "late", "add", [10], { sent: 45_000, timeoutMs: 1_000 }));
    expect(refused.code).toBe("TIMEOUT");
    expect(refused.message).toMatch(/arrived \d+ ms after it was sent, past its 1000 ms deadline; not run/);
    // Within its deadline: runs. Without the field: runs, as before.
    expect(await peer.call("Counter", "late", "add", [100], { sent: 49_500, timeoutMs: 1_000 })).toMatchObject({
      value: 101,
    });
    expect(await peer.call("Counter", "late", "add", [1000])).toMatchObject({ value: 1101 });
    // Sends and stateless invocations are held to it too; the default deadline applies without timeoutMs.
    const send = { t: "send", type: "Counter", key: "late", channel: "c", data: 1, sent: 0 };
    peer.send({ ...send, id: 900 });
    expect(errorOf(await peer.answer(900)).code).toBe("TIMEOUT");
    // A bad stamp is a protocol error naming the field; the connection stays usable.
    expect(errorOf(await peer.call("Counter", "late", "get", [], { sent: -1 })).message).toMatch(/sent must be/);
    expect(errorOf(await peer.call("Counter", "late", "get", [], { sent: "x" })).code).toBe("PROTOCOL_ERROR");
    expect(await peer.call("Counter", "late", "get", [])).toMatchObject({ value: 1101 });
  });

  test("malformed CBOR, text frames and wrong shapes get errors and the connection stays usable", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    peer.sendRaw(new Uint8Array([0xff, 0x00, 0x1c]));
    expect(errorOf(await peer.answer(null)).code).toBe("PROTOCOL_ERROR");
    peer.sendRaw("hello?");
    expect(errorOf(await peer.answer(null)).message).toMatch(/Text frames/);
    peer.send({ t: "call", type: "Counter", key: "a", method: "add", args: [1] });
    expect(errorOf(await peer.answer(null)).message).toMatch(/id must be/);
    peer.sendRaw(encodeTrusted([1, 2, 3]));
    expect(errorOf(await peer.answer(null)).message).toMatch(/CBOR map/);
    peer.send({ t: "call", id: 41, type: "Counter", key: "a", method: "add", args: "1" });
    expect(errorOf(await peer.answer(41)).message).toMatch(/args must be an array/);
    peer.send({ t: "call", id: 42, type: 7, key: "a", method: "add", args: [] });
    expect(errorOf(await peer.answer(42)).message).toMatch(/type must be/);
    peer.send({ t: "launch", id: 43 });
    expect(errorOf(await peer.answer(43)).message).toMatch(/Unknown frame type "launch"/);
    peer.send({ t: "sub", id: 44, type: "Counter", key: "a", event: "changed", after: 3 });
    expect(errorOf(await peer.answer(44)).message).toMatch(/both after and stream/);
    peer.send({ t: "unsub", id: 45, sub: 999 });
    expect(errorOf(await peer.answer(45)).code).toBe("INVALID_ARGUMENT");
    // An Error instance travels as CBOR tag 27, which the gateway refuses before decoding.
    peer.send({ t: "call", id: 46, type: "Counter", key: "a", method: "add", args: [new Error("x")] });
    expect(errorOf(await peer.answer(null)).message).toMatch(/tag 27 is not accepted/);
    // Arguments the codec refuses: nested deeper than MAX_DEPTH (the frame itself may nest a little more).
    let deep: unknown = 1;
    for (let i = 0; i < 257; i++) deep = [deep];
    expect(errorOf(await peer.call("Counter", "a", "add", [deep])).code).toBe("CODEC");
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
  });

  test("arguments are checked against the method's schema", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    const bad = errorOf(await peer.call("Room", "r", "post", [{ user: "ana", text: 5 }]));
    expect(bad.code).toBe("INVALID_ARGUMENT");
    expect(bad.message).toMatch(/Room\.post/);
    expect(bad.message).toMatch(/Expected string/);
    expect(errorOf(await peer.call("Room", "r", "post", [])).code).toBe("INVALID_ARGUMENT");
    expect(errorOf(await peer.call("Room", "r", "post", [{ user: "a", text: "x".repeat(21) }])).code).toBe(
      "INVALID_ARGUMENT",
    );
    expect(errorOf(await peer.call("Room", "r", "rename", [1])).message).toMatch(/Room\.rename: expected one string/);
    expect(await peer.call("Room", "r", "rename", ["x"])).toMatchObject({ t: "ok", value: "X" });
    expect(await peer.call("Room", "r", "post", [{ user: "ana", text: "hi" }])).toMatchObject({ t: "ok", value: 1 });
  });

  test("an oversize frame is refused with an error; a far bigger one closes the connection (1009)", async () => {
    const { gw } = await start({ limits: { maxFrameBytes: 1000 } });
    const { peer } = await Peer.open(gw.wsUrl);
    peer.send({ t: "call", id: 1, type: "Counter", key: "a", method: "add", args: ["x".repeat(1500)] });
    const e = errorOf(await peer.answer(null));
    expect(e.code).toBe("PAYLOAD_TOO_LARGE");
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
    peer.send({ t: "call", id: 2, type: "Counter", key: "a", method: "add", args: ["x".repeat(2500)] });
    expect((await peer.closed).code).toBe(CloseCode.MESSAGE_TOO_BIG);
    // Everyone else is still served.
    const { peer: other } = await Peer.open(gw.wsUrl);
    expect(await other.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 2 });
  });

  test("a flood of malformed frames closes the connection with 1008", async () => {
    const { gw } = await start({ limits: { maxBadFrames: 5 } });
    const { peer } = await Peer.open(gw.wsUrl);
    for (let i = 0; i < 6; i++) peer.sendRaw(new Uint8Array([0xff]));
    const closed = await peer.closed;
    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(closed.reason).toMatch(/malformed/);
  });

  test("a request id already in flight is refused", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    peer.send({ t: "call", id: 9, type: "Counter", key: "a", method: "wait", args: ["dup"] });
    peer.send({ t: "call", id: 9, type: "Counter", key: "a", method: "get", args: [] });
    expect(errorOf(await peer.answer(9)).message).toMatch(/already used/);
    gate("dup").open();
    expect(await peer.answer(9)).toMatchObject({ t: "ok", value: "dup" });
  });

  test("in-flight calls per connection are bounded; excess waits or is refused, never queued without bound", async () => {
    const { gw } = await start({ limits: { maxInFlightPerConnection: 2 } });
    const { peer } = await Peer.open(gw.wsUrl);
    running.max = 0;
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    for (const id of ids)
      peer.send({ t: "call", id, type: "Counter", key: `k${id}`, method: "wait", args: [`g${id}`] });
    for (const id of ids) gate(`g${id}`).open();
    const answers = [];
    for (const id of ids) answers.push(await peer.answer(id));
    for (const a of answers) {
      if (a.t === "err") expect(errorOf(a).code).toBe("OVERLOADED");
      else expect(a.t).toBe("ok");
    }
    expect(answers[0]?.t).toBe("ok");
    expect(answers[1]?.t).toBe("ok");
    expect(running.max).toBeLessThanOrEqual(2);
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
  });

  test("connections beyond the limit are refused with 429", async () => {
    const { gw } = await start({ limits: { maxConnections: 1 } });
    const { peer } = await Peer.open(gw.wsUrl);
    const second = new Peer(gw.wsUrl);
    const status = await new Promise<number>((resolve) =>
      second.ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(429);
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok" });
  });

  test("an idle connection is closed; one with a subscription is not idle", async () => {
    const { gw } = await start({ limits: { idleTimeoutMs: 100 } });
    const { peer: idle } = await Peer.open(gw.wsUrl);
    const { peer: listening } = await Peer.open(gw.wsUrl);
    listening.send({ t: "sub", id: 1, type: "Counter", key: "a", event: "changed" });
    await listening.answer(1);
    const closed = await idle.closed;
    expect(closed.code).toBe(CloseCode.IDLE);
    // Well past the idle timeout, the subscriber still gets its events.
    expect(await listening.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok" });
    expect(await listening.next()).toMatchObject({ t: "ev", event: "changed", payload: 1 });
  });

  test("upgrades to other paths are refused with 404", async () => {
    const { gw } = await start();
    const p = new Peer(gw.wsUrl.replace("/ws", "/other"));
    const status = await new Promise<number>((resolve) =>
      p.ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)),
    );
    expect(status).toBe(404);
  });
});

describe("gateway events", () => {
  test("subscribers get numbered events; unsubscribing stops them; the actor sees its subscriber count", async () => {
    const { gw } = await start();
    const { peer: a } = await Peer.open(gw.wsUrl);
    const { peer: b } = await Peer.open(gw.wsUrl);
    a.send({ t: "sub", id: 1, type: "Counter", key: "c", event: "changed" });
    const okA = await a.answer(1);
    expect(okA).toMatchObject({ t: "ok", value: { sub: 1, seq: 0 } });
    b.send({ t: "sub", id: 1, type: "Counter", key: "c", event: "*" });
    await b.answer(1);
    expect(await a.call("Counter", "c", "subscribers", ["changed"])).toMatchObject({ value: 2 });
    await a.call("Counter", "c", "add", [5]);
    expect(await a.next()).toEqual({ t: "ev", sub: 1, seq: 1, event: "changed", payload: 5 });
    expect(await b.next()).toEqual({ t: "ev", sub: 1, seq: 1, event: "changed", payload: 5 });
    await a.call("Counter", "c", "shout", ["other", { x: [1, 2] }]);
    expect(await b.next()).toEqual({ t: "ev", sub: 1, seq: 2, event: "other", payload: { x: [1, 2] } });
    a.send({ t: "unsub", id: 2, sub: 1 });
    expect(await a.answer(2)).toMatchObject({ t: "ok", value: null });
    expect(await a.call("Counter", "c", "subscribers", ["changed"])).toMatchObject({ value: 1 });
    // After the unsub, a call's answer is the next frame: no event slipped in before it.
    a.send({ t: "call", id: 3, type: "Counter", key: "c", method: "add", args: [1] });
    expect(await a.next()).toMatchObject({ t: "ok", id: 3, value: 6 });
  });

  test("the actor's subscriber count counts every client of the same event", async () => {
    const { gw, silo } = await start();
    const peers = await Promise.all([1, 2, 3].map(() => Peer.open(gw.wsUrl)));
    for (const { peer } of peers) {
      peer.send({ t: "sub", id: 1, type: "Counter", key: "n", event: "changed" });
      await peer.answer(1);
    }
    expect(await silo.call("Counter", "n", "subscribers", ["changed"])).toBe(3);
    const first = peers[0]?.peer as Peer;
    first.send({ t: "unsub", id: 2, sub: 1 });
    await first.answer(2);
    expect(await silo.call("Counter", "n", "subscribers", ["changed"])).toBe(2);
    // The others still get events, once each.
    await silo.call("Counter", "n", "add", [1]);
    for (const { peer } of peers.slice(1)) expect(await peer.next()).toMatchObject({ t: "ev", seq: 1, payload: 1 });
  });

  test("subscriptions survive swap-out and swap-in", async () => {
    const { gw, silo } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    peer.send({ t: "sub", id: 1, type: "Counter", key: "s", event: "changed" });
    await peer.answer(1);
    await peer.call("Counter", "s", "add", [1]);
    expect(await peer.next()).toMatchObject({ seq: 1, payload: 1 });
    await silo.deactivate({ type: "Counter", key: "s" });
    expect(silo.isActive({ type: "Counter", key: "s" })).toBe(false);
    await peer.call("Counter", "s", "add", [1]);
    expect(await peer.next()).toMatchObject({ seq: 2, payload: 2 });
  });

  test("a client that reconnects resumes its stream and gets the events it missed", async () => {
    const { gw, silo } = await start();
    const { peer: first } = await Peer.open(gw.wsUrl);
    first.send({ t: "sub", id: 1, type: "Counter", key: "r", event: "changed" });
    const ok = (await first.answer(1)).value as { stream: string; seq: number };
    await first.call("Counter", "r", "add", [1]);
    expect(await first.next()).toMatchObject({ seq: 1 });
    await first.close();
    // While it is away, the actor keeps emitting (and counts the dropped client as a subscriber).
    for (let i = 0; i < 3; i++) await silo.call("Counter", "r", "add", [1]);
    expect(await silo.call("Counter", "r", "subscribers", [])).toBe(1);
    const { peer: again } = await Peer.open(gw.wsUrl);
    again.send({ t: "sub", id: 1, type: "Counter", key: "r", event: "changed", after: 1, stream: ok.stream });
    expect(await again.answer(1)).toMatchObject({ t: "ok", value: { stream: ok.stream, seq: 4 } });
    expect([await again.next(), await again.next(), await again.next()]).toMatchObject([
      { t: "ev", seq: 2, payload: 2 },
      { t: "ev", seq: 3, payload: 3 },
      { t: "ev", seq: 4, payload: 4 },
    ]);
  });

  test("a client away longer than the replay window is told about the gap", async () => {
    const { gw, silo } = await start({ limits: { replayEvents: 2 } });
    const { peer: first } = await Peer.open(gw.wsUrl);
    first.send({ t: "sub", id: 1, type: "Counter", key: "g", event: "changed" });
    const ok = (await first.answer(1)).value as { stream: string };
    await first.close();
    for (let i = 0; i < 5; i++) await silo.call("Counter", "g", "add", [1]);
    const { peer: again } = await Peer.open(gw.wsUrl);
    again.send({ t: "sub", id: 1, type: "Counter", key: "g", event: "changed", after: 0, stream: ok.stream });
    await again.answer(1);
    expect(await again.next()).toEqual({ t: "gap", sub: 1, from: 1, to: 3 });
    expect([await again.next(), await again.next()]).toMatchObject([{ seq: 4 }, { seq: 5 }]);
    // Resuming a stream this gateway does not know: the extent of the loss is unknown.
    again.send({ t: "sub", id: 2, type: "Counter", key: "g", event: "changed", after: 7, stream: "elsewhere" });
    const sub2 = (await again.answer(2)).value as { sub: number };
    expect(await again.next()).toEqual({ t: "gap", sub: sub2.sub, from: 8, to: null });
  });

  test("a lingering stream stops recording after the retention time", async () => {
    const { gw, silo } = await start({ limits: { replayRetentionMs: 20 } });
    const { peer } = await Peer.open(gw.wsUrl);
    peer.send({ t: "sub", id: 1, type: "Counter", key: "l", event: "changed" });
    await peer.answer(1);
    await peer.close();
    expect(await silo.call("Counter", "l", "subscribers", [])).toBe(1);
    await expect.poll(() => silo.call("Counter", "l", "subscribers", []), { interval: 10 }).toBe(0);
  });
});
