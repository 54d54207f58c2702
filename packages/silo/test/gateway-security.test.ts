import { CloseCode, MemoryStateStore } from "@praas/core/internal";
import { afterEach, describe, expect, test } from "vitest";
import { type GatewayOptions, InsecureBindError, Silo, startGateway } from "../src/index.js";
import { Counter, errorOf, gate, Peer, type Served, serve } from "./gateway-helpers.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

async function start<P = unknown>(options: GatewayOptions<P> = {}): Promise<Served> {
  served = await serve<P>(options);
  return served;
}

function upgradeStatus(url: string, headers?: Record<string, string>): Promise<number> {
  const p = new Peer(url, headers);
  return new Promise((resolve, reject) => {
    p.ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    p.ws.on("open", () => reject(new Error("upgrade was accepted")));
  });
}

describe("gateway authentication on upgrade", () => {
  test("a token is required: header or query parameter", async () => {
    const { gw } = await start({ token: "t0ken-t0ken" });
    expect(await upgradeStatus(gw.wsUrl)).toBe(401);
    expect(await upgradeStatus(`${gw.wsUrl}?token=wrong-wrong`)).toBe(401);
    const { peer: viaHeader } = await Peer.open(gw.wsUrl, { authorization: "Bearer t0ken-t0ken" });
    expect(await viaHeader.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
    const { peer: viaQuery } = await Peer.open(`${gw.wsUrl}?token=t0ken-t0ken`);
    expect(await viaQuery.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 2 });
  });

  test("authenticate hook and authorize per call and per subscription", async () => {
    const { gw } = await start<string>({
      authenticate: async (req) => (req.headers["x-user"] as string | undefined) ?? undefined,
      // Async on purpose: the slow path must behave like the fast one.
      authorize: async (user, _type, key, method) => key === user || (user === "reader" && method === "get"),
    });
    expect(await upgradeStatus(gw.wsUrl)).toBe(401);
    const { peer } = await Peer.open(gw.wsUrl, { "x-user": "ana" });
    expect(await peer.call("Counter", "ana", "add", [1])).toMatchObject({ t: "ok", value: 1 });
    expect(errorOf(await peer.call("Counter", "bob", "add", [1])).code).toBe("FORBIDDEN");
    peer.send({ t: "sub", id: 100, type: "Counter", key: "bob", event: "changed" });
    expect(errorOf(await peer.answer(100)).code).toBe("FORBIDDEN");
    peer.send({ t: "sub", id: 101, type: "Counter", key: "ana", event: "changed" });
    expect(await peer.answer(101)).toMatchObject({ t: "ok" });
    const { peer: reader } = await Peer.open(gw.wsUrl, { "x-user": "reader" });
    expect(await reader.call("Counter", "ana", "get", [])).toMatchObject({ t: "ok", value: 1 });
    expect(errorOf(await reader.call("Counter", "ana", "add", [1])).code).toBe("FORBIDDEN");
  });
});

describe("gateway binding", () => {
  test("refuses to listen beyond loopback without authentication, unless insecure", async () => {
    const silo = await Silo.start({ actors: [Counter], storage: new MemoryStateStore() });
    try {
      await expect(startGateway(silo, { host: "0.0.0.0", port: 0 })).rejects.toBeInstanceOf(InsecureBindError);
      await expect(startGateway(silo, { host: "0.0.0.0", port: 0 })).rejects.toMatchObject({ code: "INSECURE_BIND" });
      const open = await startGateway(silo, { host: "0.0.0.0", port: 0, insecure: true });
      await open.close();
      const withToken = await startGateway(silo, { host: "0.0.0.0", port: 0, token: "long-enough-token" });
      await withToken.close();
      const local = await startGateway(silo, { port: 0 });
      expect(local.host).toBe("127.0.0.1");
      await local.close();
    } finally {
      await silo.stop();
    }
  });

  test("bad options and limits are named", async () => {
    const silo = await Silo.start({ actors: [Counter], storage: new MemoryStateStore() });
    try {
      await expect(startGateway(silo, { port: 0, limits: { maxFrameBytes: -1 } })).rejects.toThrow(/maxFrameBytes/);
      // @ts-expect-error: an unknown limit
      await expect(startGateway(silo, { port: 0, limits: { maxFrames: 1 } })).rejects.toThrow(
        /Unknown gateway limit "maxFrames"/,
      );
      // @ts-expect-error: an unknown option
      await expect(startGateway(silo, { port: 0, hots: "x" })).rejects.toThrow(/Unknown gateway option "hots"/);
      await expect(startGateway(silo, { port: 70000 })).rejects.toThrow(/port/);
      await expect(startGateway(silo, { port: 0, token: "short" })).rejects.toThrow(/token/);
    } finally {
      await silo.stop();
    }
  });
});

describe("gateway drain", () => {
  test("close() lets running calls finish, refuses new ones, then closes clients with 1001", async () => {
    const { gw } = await start();
    const { peer } = await Peer.open(gw.wsUrl);
    peer.send({ t: "call", id: 1, type: "Counter", key: "d", method: "wait", args: ["drain-ws"] });
    await expect.poll(() => gw.inFlight).toBe(1);
    const closing = gw.close({ drainTimeoutMs: 30_000 });
    expect(errorOf(await peer.call("Counter", "e", "add", [1])).code).toBe("SILO_STOPPED");
    expect(await upgradeStatus(gw.wsUrl).catch(() => 0)).toBe(503);
    gate("drain-ws").open();
    expect(await peer.answer(1)).toMatchObject({ t: "ok", value: "drain-ws" });
    expect((await peer.closed).code).toBe(CloseCode.GOING_AWAY);
    await closing;
  });
});
