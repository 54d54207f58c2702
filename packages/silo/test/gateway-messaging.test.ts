/**
 * The gateway's messaging surface: `send` and `invoke` WebSocket frames, and
 * the HTTP routes for messages and stateless functions.
 */
import { Actor, MemoryStateStore, type ReceivedMessage } from "@praas/core";
import { afterEach, describe, expect, test } from "vitest";
import { type Gateway, type GatewayOptions, Silo, startGateway } from "../src/index.js";
import { errorOf, type Frame, Peer } from "./gateway-helpers.js";

class Inbox extends Actor {
  static readonly reentrant = true;
  async take(channel: string): Promise<ReceivedMessage> {
    return this.recv(channel);
  }
}

class Adder extends Actor {
  static readonly stateless = true;
  static schemas = {
    sum: (args: readonly unknown[]) => {
      if (!args.every((a) => typeof a === "number")) throw new Error("numbers only");
    },
  };
  sum(...xs: number[]): number {
    return xs.reduce((a, b) => a + b, 0);
  }
}

interface Served {
  readonly silo: Silo;
  readonly gw: Gateway;
}

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

async function start<P = unknown>(options: GatewayOptions<P> = {}): Promise<Served> {
  const silo = await Silo.start({ actors: [Inbox, Adder], storage: new MemoryStateStore() });
  const gw = await startGateway<P>(silo, { port: 0, ...options });
  stop = async () => {
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  };
  return { silo, gw };
}

async function peer(gw: Gateway): Promise<Peer> {
  return (await Peer.open(gw.wsUrl)).peer;
}

async function request(p: Peer, frame: Frame): Promise<Frame> {
  const id = p.id();
  p.send({ ...frame, id });
  return p.answer(id);
}

async function http(base: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, { method: "POST", body });
  const text = await res.text();
  return { status: res.status, json: text === "" ? undefined : JSON.parse(text) };
}

describe("send frames", () => {
  test("a message sent through the gateway is received by the actor's recv", async () => {
    const { gw, silo } = await start();
    const p = await peer(gw);
    const taking = silo.ref(Inbox, "a").take("jobs");
    const r = await request(p, { t: "send", type: "Inbox", key: "a", channel: "jobs", data: { n: 1 } });
    expect(r).toMatchObject({ t: "ok", value: null });
    expect(await taking).toEqual({ channel: "jobs", from: undefined, data: { n: 1 } });
    // Durable, and without data.
    expect(await request(p, { t: "send", type: "Inbox", key: "a", channel: "c", durable: true })).toMatchObject({
      t: "ok",
      value: null,
    });
    expect(await silo.ref(Inbox, "a").take("c")).toEqual({ channel: "c", from: undefined, data: undefined });
  });

  test("bad send frames get typed errors and the connection keeps serving", async () => {
    const { gw } = await start();
    const p = await peer(gw);
    const base = { t: "send", type: "Inbox", key: "a", channel: "jobs", data: 1 };
    const code = async (f: Frame) => errorOf(await request(p, f)).code;
    expect(await code({ ...base, channel: "" })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, channel: "x".repeat(257) })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, channel: 5 })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, key: 5 })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, type: "" })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, durable: "yes" })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, timeoutMs: 0 })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...base, timeoutMs: "soon" })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...base, type: "Nope" })).toBe("ACTOR_TYPE_NOT_FOUND");
    expect(await code({ ...base, type: "Adder" })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...base, key: "" })).toBe("INVALID_ARGUMENT");
    expect(await request(p, base)).toMatchObject({ t: "ok", value: null });
    expect(await request(p, { ...base, durable: true, timeoutMs: 5_000 })).toMatchObject({ t: "ok", value: null });
  });
});

describe("invoke frames", () => {
  test("call a stateless worker type without a key", async () => {
    const { gw } = await start();
    const p = await peer(gw);
    expect(await request(p, { t: "invoke", type: "Adder", method: "sum", args: [1, 2, 3] })).toMatchObject({
      t: "ok",
      value: 6,
    });
    expect(await request(p, { t: "invoke", type: "Adder", method: "sum", args: [4], timeoutMs: 1000 })).toMatchObject({
      t: "ok",
      value: 4,
    });
  });

  test("bad invoke frames get typed errors and the connection keeps serving", async () => {
    const { gw } = await start();
    const p = await peer(gw);
    const base = { t: "invoke", type: "Adder", method: "sum", args: [1] };
    const code = async (f: Frame) => errorOf(await request(p, f)).code;
    expect(await code({ ...base, args: "1" })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, method: "" })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, type: 1 })).toBe("PROTOCOL_ERROR");
    expect(await code({ ...base, timeoutMs: -1 })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...base, type: "Nope" })).toBe("ACTOR_TYPE_NOT_FOUND");
    expect(await code({ ...base, type: "Inbox", method: "take" })).toBe("INVALID_ARGUMENT");
    expect(await code({ ...base, method: "nope" })).toBe("METHOD_NOT_FOUND");
    expect(await code({ ...base, args: ["1"] })).toBe("INVALID_ARGUMENT");
    expect(await request(p, base)).toMatchObject({ t: "ok", value: 1 });
  });
});

describe("authorization", () => {
  test('send is authorized as "@send:<channel>" on the target, invoke with key ""', async () => {
    const seen: string[] = [];
    const { gw, silo } = await start({
      authorize: (_p, type, key, method) => {
        seen.push(`${type}|${key}|${method}`);
        return method !== "@send:secret" && key !== "locked";
      },
    });
    const p = await peer(gw);
    const send = (channel: string, key = "a") => request(p, { t: "send", type: "Inbox", key, channel, data: 1 });
    expect(errorOf(await send("secret")).code).toBe("FORBIDDEN");
    expect(errorOf(await send("open", "locked")).code).toBe("FORBIDDEN");
    expect(await send("open")).toMatchObject({ t: "ok" });
    expect((await silo.ref(Inbox, "a").take("open")).data).toBe(1);
    expect(await request(p, { t: "invoke", type: "Adder", method: "sum", args: [2] })).toMatchObject({ value: 2 });
    expect(seen).toEqual(["Inbox|a|@send:secret", "Inbox|locked|@send:open", "Inbox|a|@send:open", "Adder||sum"]);
    // Over HTTP too.
    expect((await http(gw.url, "/v1/actors/Inbox/a/messages/secret", '{"data":1}')).status).toBe(403);
    expect((await http(gw.url, "/v1/functions/Adder/sum", "[1]")).status).toBe(200);
    expect(seen.slice(-2)).toEqual(["Inbox|a|@send:secret", "Adder||sum"]);
  });

  test("an async authorize hook that refuses invoke answers FORBIDDEN on WS and 403 on HTTP", async () => {
    const { gw } = await start({ authorize: async (_p, type) => type !== "Adder" });
    const p = await peer(gw);
    expect(errorOf(await request(p, { t: "invoke", type: "Adder", method: "sum", args: [] })).code).toBe("FORBIDDEN");
    expect(await http(gw.url, "/v1/functions/Adder/sum", "[]")).toMatchObject({
      status: 403,
      json: { error: { code: "FORBIDDEN" } },
    });
    expect(await request(p, { t: "send", type: "Inbox", key: "a", channel: "c" })).toMatchObject({ t: "ok" });
  });
});

describe("HTTP routes", () => {
  test("POST /v1/actors/:type/:key/messages/:channel puts a message in the inbox", async () => {
    const { gw, silo } = await start();
    const taking = silo.ref(Inbox, "a/b").take("jobs");
    expect(await http(gw.url, "/v1/actors/Inbox/a%2Fb/messages/jobs", '{"data":{"n":2}}')).toEqual({
      status: 204,
      json: undefined,
    });
    expect(await taking).toEqual({ channel: "jobs", from: undefined, data: { n: 2 } });
    expect((await http(gw.url, "/v1/actors/Inbox/a/messages/d", '{"data":"x","durable":true}')).status).toBe(204);
    expect((await silo.ref(Inbox, "a").take("d")).data).toBe("x");
    // No body: a message without data.
    expect((await http(gw.url, "/v1/actors/Inbox/a/messages/e")).status).toBe(204);
    expect((await silo.ref(Inbox, "a").take("e")).data).toBeUndefined();
  });

  test("POST /v1/functions/:type/:method invokes a stateless worker", async () => {
    const { gw } = await start();
    expect(await http(gw.url, "/v1/functions/Adder/sum", "[1,2,3]")).toEqual({ status: 200, json: 6 });
    expect(await http(gw.url, "/v1/functions/Adder/sum")).toEqual({ status: 200, json: 0 });
    expect(await http(gw.url, "/v1/functions/Adder/sum?timeoutMs=500", "[5]")).toEqual({ status: 200, json: 5 });
  });

  test("bad input gets typed errors with fitting statuses", async () => {
    const { gw } = await start();
    const err = async (path: string, body?: string) => {
      const r = await http(gw.url, path, body);
      return [r.status, (r.json as { error: { code: string } }).error.code];
    };
    expect(await err("/v1/functions/Adder/sum", "{")).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/functions/Adder/sum", '{"a":1}')).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/functions/Adder/sum", '["1"]')).toEqual([400, "INVALID_ARGUMENT"]);
    expect(await err("/v1/functions/Adder/nope", "[]")).toEqual([404, "METHOD_NOT_FOUND"]);
    expect(await err("/v1/functions/Nope/sum", "[]")).toEqual([404, "ACTOR_TYPE_NOT_FOUND"]);
    expect(await err("/v1/functions/Inbox/take", '["c"]')).toEqual([400, "INVALID_ARGUMENT"]);
    expect(await err("/v1/functions/Adder/sum?timeoutMs=x", "[]")).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/actors/Inbox/a/messages/c", "[1]")).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/actors/Inbox/a/messages/c", "nope")).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/actors/Inbox/a/messages/c", '{"durable":"yes"}')).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err(`/v1/actors/Inbox/a/messages/${"x".repeat(257)}`, "{}")).toEqual([400, "PROTOCOL_ERROR"]);
    expect(await err("/v1/actors/Nope/a/messages/c", "{}")).toEqual([404, "ACTOR_TYPE_NOT_FOUND"]);
    expect(await err("/v1/actors/Adder/a/messages/c", "{}")).toEqual([400, "INVALID_ARGUMENT"]);
    const get = await fetch(`${gw.url}/v1/functions/Adder/sum`);
    expect(get.status).toBe(405);
    await get.text();
    // Still serving.
    expect(await http(gw.url, "/v1/functions/Adder/sum", "[2]")).toEqual({ status: 200, json: 2 });
  });
});
