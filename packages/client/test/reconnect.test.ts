/**
 * The reconnect policy (ReconnectOptions) against a real gateway behind a TCP
 * proxy the test cuts: maxDelayMs caps every pause, maxAttempts bounds the
 * attempts in a row, and giving up fails what waited and leaves the client
 * idle, ready to start over on its next call.
 */
import { ConnectionLostError } from "@praas/core";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket as WsWebSocket } from "ws";
import { type Client, connect, type WebSocketConstructor } from "../src/index.js";
import { Collector, type Counter, serve, TcpProxy } from "./helpers.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe("reconnect policy", () => {
  test("maxDelayMs caps the pauses and maxAttempts bounds the attempts; then waiting subscriptions fail", async () => {
    const served = await serve();
    cleanup.push(() => served.stop());
    const proxy = await TcpProxy.start(served.gw.port);
    cleanup.push(() => proxy.close());
    let dials = 0;
    /** `ws`'s WebSocket, counting the sockets the client opens. */
    class CountingWebSocket extends WsWebSocket {
      constructor(url: string) {
        super(url);
        dials++;
      }
    }
    const c: Client = await connect(proxy.url, {
      WebSocket: CountingWebSocket as unknown as WebSocketConstructor,
      // Uncapped, the pauses would be drawn from up to an hour, then two, four…: the test would time out.
      reconnect: { initialDelayMs: 3_600_000, maxDelayMs: 1, maxAttempts: 3 },
    });
    cleanup.push(() => c.close());
    expect(dials).toBe(1);

    // A subscription is what keeps a dropped client reconnecting.
    const errors = new Collector<Error>();
    const counter = c.ref<Counter>("Counter", "policy");
    await counter.on("changed", () => {}, { onError: errors.push }).ready;

    proxy.down();
    const [err] = await errors.count(1);
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect(err?.message).toBe("Could not reconnect after 3 attempts");
    expect(dials).toBe(1 + 3);
    expect(c.state).toBe("idle");

    // Having given up, the client starts over with the next call.
    proxy.up();
    expect(await counter.add(1)).toBe(1);
    expect(dials).toBe(5);
    expect(c.state).toBe("open");
  }, 15_000); // Fail fast if a pause escaped maxDelayMs (it would be drawn from up to an hour).
});
