import { MemoryStateStore } from "@praas/core";
import { Silo, startGateway } from "@praas/silo";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { afterEach, describe, expect, test } from "vitest";
import { connect } from "../src/index.js";
import { Counter, openGate } from "./helpers.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Each test waits on a gate of its own: opened gates stay open (helpers.ts). */
async function serveWithCallTimeout(callTimeoutMs: number, gate: string): Promise<string> {
  const silo = await Silo.start({ actors: [Counter], storage: new MemoryStateStore(), callTimeoutMs });
  const gw = await startGateway(silo, { port: 0 });
  cleanup.push(async () => {
    openGate(gate);
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  });
  return gw.wsUrl;
}

/** A silo and its gateway, reached through a TCP proxy the test can freeze. */
async function gatewayBehindProxy(): Promise<TcpProxy> {
  const silo = await Silo.start({ actors: [Counter], storage: new MemoryStateStore() });
  const gw = await startGateway(silo, { port: 0 });
  const proxy = await startTcpProxy(Number(new URL(gw.url).port));
  cleanup.push(async () => {
    await proxy.close();
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  });
  return proxy;
}

describe("call deadlines", () => {
  test("a call with no deadline of its own gets the silo's call timeout, not 30 s", async () => {
    const url = await serveWithCallTimeout(300, "t1");
    const c = await connect(url);
    cleanup.push(() => c.close());
    const err = await c
      .ref<Counter>("Counter", "t")
      .wait("t1")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TIMEOUT" });
    expect((err as Error).message).toContain("300 ms");
  });

  test("a deadline set on the client, the reference or the call still wins", async () => {
    const url = await serveWithCallTimeout(60_000, "t2");
    const c = await connect(url, { timeoutMs: 200 });
    cleanup.push(() => c.close());
    const fromClient = await c
      .ref<Counter>("Counter", "t")
      .wait("t2")
      .catch((e: unknown) => e);
    expect((fromClient as Error).message).toContain("200 ms");
    const fromRef = await c
      .ref<Counter>("Counter", "t", { timeoutMs: 150 })
      .wait("t2")
      .catch((e: unknown) => e);
    expect((fromRef as Error).message).toContain("150 ms");
  });

  test("a connection silent through a timed-out call is dropped, and the next call connects afresh", async () => {
    const proxy = await gatewayBehindProxy();
    const c = await connect(`ws://127.0.0.1:${proxy.port}/ws`, { timeoutMs: 400, deadAfterSilenceMs: 300 });
    cleanup.push(() => c.close());
    const counter = c.ref<Counter>("Counter", "silent");
    expect(await counter.add(1)).toBe(1);
    const disconnected = new Promise<void>((resolve) => c.on("disconnect", () => resolve()));
    // A network cut nobody is told of; when it heals, the old socket stays dead (TCP gave up on it).
    proxy.freeze();
    expect(await counter.get().catch((e: unknown) => e)).toMatchObject({ code: "TIMEOUT" });
    await disconnected;
    proxy.thaw({ strand: true });
    expect(await counter.add(1)).toBe(2);
  });

  test("a call held up in the network past its deadline is not run when it finally arrives", async () => {
    const proxy = await gatewayBehindProxy();
    // The connection outlives the cut: the held frames are delivered on it when it heals.
    const c = await connect(`ws://127.0.0.1:${proxy.port}/ws`, { deadAfterSilenceMs: 60_000 });
    cleanup.push(() => c.close());
    const counter = c.ref<Counter>("Counter", "held");
    expect(await counter.add(1)).toBe(1);
    proxy.freeze();
    // Both held in the cut; the add's caller gives up after 100 ms, the read's after 1 s (so the
    // add is about 1 s late, far past its deadline plus the gateway's 100 ms slack).
    const add = c.ref<Counter>("Counter", "held", { timeoutMs: 100 }).add(10);
    const read = c.ref<Counter>("Counter", "held", { timeoutMs: 1_000 }).get();
    expect(await add.catch((e: unknown) => e)).toMatchObject({ code: "TIMEOUT" });
    expect(await read.catch((e: unknown) => e)).toMatchObject({ code: "TIMEOUT" });
    // Delivered now, some 1 s after it was sent: the gateway refuses the add unrun.
    proxy.thaw();
    expect(await counter.get()).toBe(1);
    expect(await counter.add(1)).toBe(2);
  });
});
