import {
  ActorError,
  ActorTypeNotFoundError,
  CodecError,
  ConnectionLostError,
  MemoryStateStore,
  MethodNotFoundError,
  PayloadTooLargeError,
  TimeoutError,
  UnauthenticatedError,
} from "@praas/core";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import {
  type Client,
  ClientClosedError,
  type ClientEvents,
  ConnectionFailedError,
  connect,
  type Gap,
  type WebSocketConstructor,
} from "../src/index.js";
import { Collector, Counter, gate, once, openGate, type Served, serve, TcpProxy } from "./helpers.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(options: Parameters<typeof serve>[0] = {}, store?: MemoryStateStore): Promise<Served> {
  const s = await serve(options, store);
  cleanup.push(() => s.stop());
  return s;
}

async function client(url: string, options: Parameters<typeof connect>[1] = {}): Promise<Client> {
  const c = await connect(url, { reconnect: { initialDelayMs: 5, maxDelayMs: 20 }, ...options });
  cleanup.push(() => c.close());
  return c;
}

async function proxy(port: number): Promise<TcpProxy> {
  const p = await TcpProxy.start(port);
  cleanup.push(() => p.close());
  return p;
}

function next<K extends keyof ClientEvents>(c: Client, event: K): Promise<ClientEvents[K]> {
  return once<ClientEvents[K]>((l) => c.on(event, l));
}

describe("calls through the gateway", () => {
  test("typed proxies call actors and rebuild errors as their classes", async () => {
    const { gw, silo } = await start();
    const c = await client(gw.wsUrl);
    expect(c.silo).toBe(silo.siloId);
    const counter = c.ref<Counter>("Counter", "a");
    expect(counter.id).toEqual({ type: "Counter", key: "a" });
    expect(await counter.add(2)).toBe(2);
    expect(await counter.get()).toBe(2);
    expect(await c.ref(Counter, "a").add(1)).toBe(3);
    expect(await counter.echo(new Map([[1, new Set(["x"])]]))).toEqual(new Map([[1, new Set(["x"])]]));
    expect(await counter.echo(10n ** 20n)).toBe(10n ** 20n);

    const failed = counter.fail("E_MINE");
    await expect(failed).rejects.toBeInstanceOf(ActorError);
    await expect(failed).rejects.toMatchObject({ code: "E_MINE", message: "failed (E_MINE)" });
    const untyped = counter as unknown as { nope(): Promise<unknown> };
    await expect(untyped.nope()).rejects.toBeInstanceOf(MethodNotFoundError);
    await expect(c.ref<Counter>("Nope", "a").get()).rejects.toBeInstanceOf(ActorTypeNotFoundError);
    // Not encodable: refused before it leaves the client.
    await expect(counter.echo(new (class Point {})())).rejects.toBeInstanceOf(CodecError);
    // A reference is not a promise.
    expect(await Promise.resolve(counter)).toBe(counter);
  });

  test("every call has a deadline", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    const slow = c.ref<Counter>("Counter", "slow", { timeoutMs: 30 });
    await expect(slow.wait("never")).rejects.toBeInstanceOf(TimeoutError);
    expect(() => c.ref<Counter>("Counter", "x", { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => c.ref<Counter>("Counter", "")).toThrow(/key/);
  });

  test("a frame over the gateway's limit fails that call only", async () => {
    const { gw } = await start({ limits: { maxFrameBytes: 1000 } });
    const c = await client(gw.wsUrl);
    const counter = c.ref<Counter>("Counter", "big");
    await expect(counter.echo("x".repeat(2000))).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await counter.echo("small")).toBe("small");
  });

  test("calls beyond the gateway's in-flight limit wait in the client and all complete", async () => {
    const { gw } = await start({ limits: { maxInFlightPerConnection: 2 } });
    const c = await client(gw.wsUrl);
    const calls = Array.from({ length: 10 }, (_, i) => c.ref<Counter>("Counter", `k${i}`).wait(`w${i}`));
    for (let i = 0; i < 10; i++) openGate(`w${i}`);
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 10 }, (_, i) => `w${i}`));
  });

  test("wrong credentials are refused with UnauthenticatedError; the right token connects", async () => {
    const { gw } = await start({ token: "right-token" });
    await expect(connect(gw.wsUrl)).rejects.toBeInstanceOf(UnauthenticatedError);
    await expect(connect(gw.wsUrl, { token: "wrong-token" })).rejects.toBeInstanceOf(UnauthenticatedError);
    const c = await client(gw.wsUrl, { token: "right-token" });
    expect(await c.ref<Counter>("Counter", "a").add(1)).toBe(1);
  });

  test("the standard WebSocket path (as in browsers) works, with the token in the query", async () => {
    const { gw } = await start({ token: "browser-token" });
    // ws's WebSocket implements the standard API; handing it in takes the browser code path.
    const c = await client(gw.wsUrl, {
      token: "browser-token",
      WebSocket: WsWebSocket as unknown as WebSocketConstructor,
    });
    const counter = c.ref<Counter>("Counter", "browser");
    const got = new Collector<unknown>();
    await counter.on("changed", got.push).ready;
    expect(await counter.add(2)).toBe(2);
    expect(await got.count(1)).toEqual([2]);
    await expect(
      connect(gw.wsUrl, { token: "nope-nope", WebSocket: WsWebSocket as unknown as WebSocketConstructor }),
    ).rejects.toBeInstanceOf(ConnectionFailedError);
  });

  test("an unreachable gateway is a ConnectionFailedError", async () => {
    const p = await proxy(1);
    p.down();
    await expect(connect(p.url, { connectTimeoutMs: 2000 })).rejects.toBeInstanceOf(ConnectionFailedError);
    await expect(connect("http://localhost/ws")).rejects.toThrow(/ws:\/\//);
  });

  test("close() fails pending calls and refuses new ones", async () => {
    const { gw } = await start();
    const c = await connect(gw.wsUrl);
    const pending = expect(c.ref<Counter>("Counter", "c").wait("closing")).rejects.toBeInstanceOf(ClientClosedError);
    await c.close();
    await pending;
    await expect(c.ref<Counter>("Counter", "c").get()).rejects.toBeInstanceOf(ClientClosedError);
    expect(c.state).toBe("closed");
  });
});

describe("reconnecting", () => {
  test("calls in flight fail with CONNECTION_LOST; calls made while away wait and succeed after reconnect", async () => {
    const { gw } = await start();
    const p = await proxy(gw.port);
    const c = await client(p.url);
    const counter = c.ref<Counter>("Counter", "r");
    expect(await counter.add(1)).toBe(1);
    const inFlight = counter.wait("cut");
    await expect.poll(() => gw.inFlight).toBe(1);
    const disconnected = next(c, "disconnect");
    p.down();
    await expect(inFlight).rejects.toBeInstanceOf(ConnectionLostError);
    await disconnected;
    const whileAway = c.ref<Counter>("Counter", "r2").add(5);
    const reconnected = next(c, "connect");
    p.up();
    expect(await reconnected).toMatchObject({ reconnect: true });
    expect(await whileAway).toBe(5);
    openGate("cut");
  });

  test("a client dropped for idleness reconnects on its next call", async () => {
    const { gw } = await start({ limits: { idleTimeoutMs: 50 } });
    const c = await client(gw.wsUrl);
    const dropped = await next(c, "disconnect");
    expect(dropped.code).toBe(4000);
    expect(c.state).toBe("idle");
    expect(await c.ref<Counter>("Counter", "i").add(1)).toBe(1);
  });
});

describe("events", () => {
  test("on() delivers numbered events; listeners share one subscription; off() stops them", async () => {
    const { gw, silo } = await start();
    const c = await client(gw.wsUrl);
    const counter = c.ref<Counter, { changed: number }>("Counter", "e");
    const a = new Collector<[number, number]>();
    const b = new Collector<number>();
    const offA = counter.on("changed", (v, info) => a.push([v, info.seq]));
    const offB = counter.on("changed", (v) => b.push(v));
    await Promise.all([offA.ready, offB.ready]);
    expect(await counter.subscribers("changed")).toBe(1);
    await counter.add(3);
    await counter.add(4);
    expect(await a.count(2)).toEqual([
      [3, 1],
      [7, 2],
    ]);
    expect(await b.count(2)).toEqual([3, 7]);
    offA();
    await counter.add(1);
    expect(b.items).toEqual([3, 7, 8]);
    expect(a.items).toHaveLength(2);
    offB();
    expect(await counter.subscribers()).toBe(0);
    // Events emitted in-silo reach clients too.
    const all = new Collector<string>();
    await counter.on("*", (_v, info) => all.push(info.event)).ready;
    await silo.call("Counter", "e", "add", [1]);
    expect(await all.count(1)).toEqual(["changed"]);
  });

  test("a refused subscription rejects ready and calls onError", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    const errors: Error[] = [];
    const sub = c.ref<Counter>("Nope", "x").on("changed", () => {}, { onError: (e) => errors.push(e) });
    await expect(sub.ready).rejects.toBeInstanceOf(ActorTypeNotFoundError);
    expect(errors[0]).toBeInstanceOf(ActorTypeNotFoundError);
  });

  test("subscriptions survive swap-out and swap-in", async () => {
    const { gw, silo } = await start();
    const c = await client(gw.wsUrl);
    const counter = c.ref<Counter>("Counter", "swap");
    const got = new Collector<unknown>();
    await counter.on("changed", got.push).ready;
    await counter.add(1);
    await silo.deactivate({ type: "Counter", key: "swap" });
    expect(silo.isActive({ type: "Counter", key: "swap" })).toBe(false);
    await counter.add(1);
    expect(await got.count(2)).toEqual([1, 2]);
  });

  test("events missed during a disconnect are replayed after reconnect, once each, in order", async () => {
    const { gw, silo } = await start();
    const p = await proxy(gw.port);
    const c = await client(p.url);
    const got = new Collector<[unknown, number]>();
    const gaps: Gap[] = [];
    await c
      .ref<Counter>("Counter", "replay")
      .on("changed", (v, info) => got.push([v, info.seq]), { onGap: (g) => gaps.push(g) }).ready;
    await silo.call("Counter", "replay", "add", [1]);
    await got.count(1);
    const disconnected = next(c, "disconnect");
    p.down();
    await disconnected;
    for (let i = 0; i < 3; i++) await silo.call("Counter", "replay", "add", [1]);
    p.up();
    expect(await got.count(4)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    await silo.call("Counter", "replay", "add", [1]);
    expect((await got.count(5))[4]).toEqual([5, 5]);
    expect(gaps).toEqual([]);
  });

  test("a disconnect longer than the replay window is reported as a gap, then events continue", async () => {
    const { gw, silo } = await start({ limits: { replayEvents: 2 } });
    const p = await proxy(gw.port);
    const c = await client(p.url);
    const got = new Collector<number>();
    const gaps = new Collector<Gap>();
    await c.ref<Counter>("Counter", "gap").on("changed", (_v, info) => got.push(info.seq), { onGap: gaps.push }).ready;
    await silo.call("Counter", "gap", "add", [1]);
    await got.count(1);
    const disconnected = next(c, "disconnect");
    p.down();
    await disconnected;
    for (let i = 0; i < 5; i++) await silo.call("Counter", "gap", "add", [1]);
    p.up();
    expect(await gaps.count(1)).toEqual([{ from: 2, to: 4 }]);
    expect(await got.count(3)).toEqual([1, 5, 6]);
  });

  test("subscriptions follow the actor to another silo (a gap of unknown size is reported)", async () => {
    const store = new MemoryStateStore();
    const one = await start({}, store);
    const two = await start({}, new MemoryStateStore());
    const p = await proxy(one.gw.port);
    const c = await client(p.url);
    const counter = c.ref<Counter>("Counter", "mover");
    const got = new Collector<unknown>();
    const gaps = new Collector<Gap>();
    await counter.on("changed", got.push, { onGap: gaps.push }).ready;
    await counter.add(1);
    await got.count(1);
    // The gateway the client reaches is now another silo's.
    p.targetPort = two.gw.port;
    const moved = next(c, "connect");
    p.down();
    p.up();
    expect((await moved).silo).toBe(two.silo.siloId);
    expect(await gaps.count(1)).toEqual([{ from: 2, to: null }]);
    await counter.add(10);
    expect(await got.count(2)).toEqual([1, 10]);
  });
});

test("gates are released between tests", async () => {
  // Guards the helpers: an opened gate resolves waiters that come later.
  openGate("late");
  expect(await gate("late")).toBeUndefined();
});
