/**
 * client.send (keyed messages into an actor's inbox) and client.invoke
 * (stateless workers) through a real gateway.
 */
import {
  Actor,
  ActorTypeNotFoundError,
  InvalidArgumentError,
  MemoryStateStore,
  type ReceivedMessage,
  TimeoutError,
} from "@praas/core";
import { type Gateway, Silo, startGateway } from "@praas/silo";
import { afterEach, describe, expect, expectTypeOf, test } from "vitest";
import { type Client, ClientClosedError, connect } from "../src/index.js";
import { TcpProxy } from "./helpers.js";

/** Takes messages from its inbox on request. */
class Inbox extends Actor<{ taken: number }> {
  static readonly reentrant = true;
  static initialState() {
    return { taken: 0 };
  }
  async take(channel: string, timeoutMs?: number): Promise<ReceivedMessage> {
    const m = await this.recv(channel, { timeoutMs });
    this.state.taken++;
    return m;
  }
}

/** A stateless function. */
class Thumbnail extends Actor {
  static readonly stateless = true;
  /** What `slow` waits for (a test opens it when done). */
  static gate: Promise<void> = Promise.resolve();
  render(bytes: Uint8Array, scale: number): { size: number; first: number } {
    return { size: Math.ceil(bytes.length / scale), first: bytes[0] ?? -1 };
  }
  async slow(_label: number): Promise<string> {
    await Thumbnail.gate;
    return "late";
  }
}

interface Served {
  readonly silo: Silo;
  readonly gw: Gateway;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(store = new MemoryStateStore()): Promise<Served> {
  const silo = await Silo.start({ actors: [Inbox, Thumbnail], storage: store });
  const gw = await startGateway(silo, { port: 0 });
  cleanup.push(async () => {
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  });
  return { silo, gw };
}

async function client(url: string): Promise<Client> {
  const c = await connect(url, { reconnect: { initialDelayMs: 5, maxDelayMs: 20 } });
  cleanup.push(() => c.close());
  return c;
}

describe("client.send", () => {
  test("puts a message in the inbox an actor recv()s from, by type and key or by reference", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    const box = c.ref<Inbox>("Inbox", "a");
    const taking = box.take("jobs");
    expect(await c.send("Inbox", "a", "jobs", { n: 1 })).toBeUndefined();
    expect(await taking).toEqual({ channel: "jobs", from: undefined, data: { n: 1 } });
    // A reference as the target; messages wait in the inbox, FIFO.
    await c.send(box, "jobs", new Map([[1, "x"]]));
    await c.send(box, "jobs");
    expect((await box.take("jobs")).data).toEqual(new Map([[1, "x"]]));
    expect((await box.take("jobs")).data).toBeUndefined();
    // Another actor's inbox is its own.
    await c.send("Inbox", "b", "jobs", "for b");
    expect((await c.ref<Inbox>("Inbox", "b").take("jobs")).data).toBe("for b");
    expect(await box.take("jobs", 20).catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
  });

  test("a durable message is stored before send resolves", async () => {
    const store = new MemoryStateStore();
    const { gw, silo } = await start(store);
    const c = await client(gw.wsUrl);
    await c.send("Inbox", "d", "jobs", "kept", { durable: true });
    // Stored with the actor's state: it survives a swap-out.
    await silo.deactivate({ type: "Inbox", key: "d" });
    expect(await store.load({ type: "Inbox", key: "d" })).toBeDefined();
    expect((await c.ref<Inbox>("Inbox", "d").take("jobs")).data).toBe("kept");
  });

  test("bad targets and channels are refused with typed errors", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    await expect(c.send("Nope", "a", "jobs", 1)).rejects.toBeInstanceOf(ActorTypeNotFoundError);
    // A stateless type has no inbox (the silo says so).
    await expect(c.send("Thumbnail", "a", "jobs", 1)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/stateless/),
    });
    await expect(c.send("Inbox", "a", "", 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.send("Inbox", "a", "x".repeat(257), 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.send("Inbox", "", "jobs", 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.send("Inbox", "a", "jobs", new (class Point {})())).rejects.toMatchObject({ code: "CODEC" });
    // The connection still serves.
    await c.send("Inbox", "a", "jobs", "still here");
    expect((await c.ref<Inbox>("Inbox", "a").take("jobs")).data).toBe("still here");
  });

  test("waits for a reconnect like a call, and fails once the client is closed", async () => {
    const { gw } = await start();
    const proxy = await TcpProxy.start(gw.port);
    cleanup.push(() => proxy.close());
    const c = await client(proxy.url);
    const disconnected = new Promise<void>((resolve) => c.on("disconnect", () => resolve()));
    proxy.down();
    await disconnected;
    const sent = c.send("Inbox", "r", "jobs", "after the outage");
    proxy.up();
    await sent;
    expect((await c.ref<Inbox>("Inbox", "r").take("jobs")).data).toBe("after the outage");
    await c.close();
    await expect(c.send("Inbox", "r", "jobs", 1)).rejects.toBeInstanceOf(ClientClosedError);
    await expect(c.invoke("Thumbnail", "render", new Uint8Array(1), 1)).rejects.toBeInstanceOf(ClientClosedError);
  });
});

describe("client.invoke", () => {
  test("calls a stateless worker type by name or by class", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    const bytes = new Uint8Array([7, 8, 9, 10]);
    expect(await c.invoke<Thumbnail>("Thumbnail", "render", bytes, 2)).toEqual({ size: 2, first: 7 });
    expect(await c.invoke(Thumbnail, "render", bytes, 4)).toEqual({ size: 1, first: 7 });
    expect(await c.invoke("Thumbnail", "render", new Uint8Array(0), 1)).toEqual({ size: 0, first: -1 });
  });

  test("unknown types, keyed types and unknown methods are typed errors", async () => {
    const { gw } = await start();
    const c = await client(gw.wsUrl);
    await expect(c.invoke("Nope", "render")).rejects.toBeInstanceOf(ActorTypeNotFoundError);
    await expect(c.invoke("Inbox", "take", "jobs")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringMatching(/not stateless/),
    });
    await expect(c.invoke("Thumbnail", "nope")).rejects.toMatchObject({ code: "METHOD_NOT_FOUND" });
    expect(await c.invoke<Thumbnail>("Thumbnail", "render", new Uint8Array([1]), 1)).toEqual({ size: 1, first: 1 });
  });

  test("has a deadline", async () => {
    const { gw } = await start();
    const c = await connect(gw.wsUrl, { timeoutMs: 30 });
    cleanup.push(() => c.close());
    let open!: () => void;
    Thumbnail.gate = new Promise<void>((r) => {
      open = r;
    });
    cleanup.push(async () => open());
    await expect(c.invoke<Thumbnail>("Thumbnail", "slow", 2000)).rejects.toBeInstanceOf(TimeoutError);
    await expect(c.invoke<Thumbnail>("Thumbnail", "slow", 2000)).rejects.toThrow(/Invoke Thumbnail\.slow/);
  });
});

describe("types", () => {
  test("invoke infers parameters and the awaited result from the worker's class", () => {
    const c = {} as Client;
    const call = () => {
      expectTypeOf(c.invoke<Thumbnail, "render">("Thumbnail", "render", new Uint8Array(1), 1)).toEqualTypeOf<
        Promise<{ size: number; first: number }>
      >();
      expectTypeOf(c.invoke(Thumbnail, "render", new Uint8Array(1), 1)).toEqualTypeOf<
        Promise<{ size: number; first: number }>
      >();
      // The class type works as the type argument too.
      expectTypeOf(c.invoke<typeof Thumbnail, "slow">("Thumbnail", "slow", 1)).toEqualTypeOf<Promise<string>>();
      // With only the type, the arguments are checked against the method named; the
      // result is one of the worker's methods' (TypeScript cannot infer the rest).
      expectTypeOf(c.invoke<Thumbnail>("Thumbnail", "slow", 1)).toEqualTypeOf<
        Promise<string> | Promise<{ size: number; first: number }>
      >();
      // Untyped without a type argument.
      expectTypeOf(c.invoke("Thumbnail", "whatever", 1, 2)).toEqualTypeOf<Promise<unknown>>();
      // @ts-expect-error: render takes bytes and a number
      void c.invoke<Thumbnail>("Thumbnail", "render", "bytes", 1);
      // @ts-expect-error: slow takes a number, not render's arguments
      void c.invoke<Thumbnail>("Thumbnail", "slow", new Uint8Array(1), 1);
      // @ts-expect-error: no such method
      void c.invoke<Thumbnail>("Thumbnail", "nope");
      // @ts-expect-error: wrong argument through the class
      void c.invoke(Thumbnail, "render", new Uint8Array(1), "2");
      // @ts-expect-error: Actor's own members are not callable
      void c.invoke<Thumbnail>("Thumbnail", "onActivate");
      expectTypeOf(c.send("Inbox", "a", "jobs", 1, { durable: true })).toEqualTypeOf<Promise<void>>();
      expectTypeOf(c.send(c.ref<Inbox>("Inbox", "a"), "jobs", 1)).toEqualTypeOf<Promise<void>>();
      // @ts-expect-error: a reference and a key
      void c.send(c.ref<Inbox>("Inbox", "a"), "a", "jobs", 1, { durable: true });
    };
    expect(typeof call).toBe("function");
  });
});
