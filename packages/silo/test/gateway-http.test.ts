import { request } from "node:http";
import { afterEach, describe, expect, test } from "vitest";
import type { GatewayOptions } from "../src/index.js";
import { gate, type Served, serve } from "./gateway-helpers.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

async function start<P = unknown>(options: GatewayOptions<P> = {}): Promise<Served> {
  served = await serve<P>(options);
  return served;
}

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

async function http(base: string, method: string, path: string, body?: string, headers?: HeadersInit): Promise<Reply> {
  const res = await fetch(`${base}${path}`, { method, body, headers });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

describe("HTTP control plane", () => {
  test("POST …/:method calls the actor with a JSON array of arguments", async () => {
    const { gw } = await start();
    expect(await http(gw.url, "POST", "/v1/actors/Counter/alice/add", "[5]")).toMatchObject({ status: 200, json: 5 });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/alice/add", "[1]")).toMatchObject({ status: 200, json: 6 });
    // No body: no arguments.
    expect(await http(gw.url, "POST", "/v1/actors/Counter/alice/get")).toMatchObject({ status: 200, json: 6 });
    // Keys are percent-decoded, so they may contain slashes.
    expect(await http(gw.url, "POST", "/v1/actors/Counter/a%2Fb/add", "[2]")).toMatchObject({ json: 2 });
    // A method returning nothing answers null.
    expect(await http(gw.url, "POST", "/v1/actors/Counter/x/shout", '["e", 1]')).toMatchObject({
      status: 200,
      text: "null",
    });
  });

  test("values JSON cannot carry are rendered as documented", async () => {
    const { gw } = await start();
    const r = await http(gw.url, "POST", "/v1/actors/Counter/v/values", "[]");
    expect(r.json).toEqual({
      map: { a: 1, b: 2 },
      odd: [[[1], "x"]],
      set: [1, 2],
      big: "12345678901234567890",
      bytes: "AQID",
      date: "1970-01-01T00:00:00.000Z",
    });
  });

  test("errors have a code, a message and a fitting status", async () => {
    const { gw } = await start({ limits: { maxBodyBytes: 100 } });
    const cases: [string, string, string | undefined, number, string][] = [
      ["POST", "/v1/actors/Counter/a/add", "[1,", 400, "PROTOCOL_ERROR"],
      ["POST", "/v1/actors/Counter/a/add", '{"n":1}', 400, "PROTOCOL_ERROR"],
      ["POST", "/v1/actors/Room/r/post", '[{"user":"a","text":1}]', 400, "INVALID_ARGUMENT"],
      ["POST", "/v1/actors/Counter/a/add?timeoutMs=abc", "[1]", 400, "PROTOCOL_ERROR"],
      ["POST", "/v1/actors/Nope/a/add", "[1]", 404, "ACTOR_TYPE_NOT_FOUND"],
      ["POST", "/v1/actors/Counter/a/nope", "[1]", 404, "METHOD_NOT_FOUND"],
      ["POST", "/v1/actors/Counter/a/fail", '["E_OWN"]', 500, "E_OWN"],
      ["POST", "/v1/actors/Counter/a/add", `[${"1,".repeat(60)}1]`, 413, "PAYLOAD_TOO_LARGE"],
      ["POST", "/v1/actors/Ping/p/ping", "[0]", 409, "DEADLOCK"],
      ["POST", "/v1/actors/Counter/w/wait?timeoutMs=20", '["never-opened"]', 504, "TIMEOUT"],
      ["GET", "/v1/nothing", undefined, 404, "NOT_FOUND"],
      ["GET", "/v1/actors/Counter/a/add", undefined, 405, "METHOD_NOT_ALLOWED"],
      ["PUT", "/v1/cluster", "", 405, "METHOD_NOT_ALLOWED"],
      ["GET", "/v1/actors/Nope/a", undefined, 404, "ACTOR_TYPE_NOT_FOUND"],
      ["GET", "/v1/actors/Counter/%E0%A4%A", undefined, 400, "PROTOCOL_ERROR"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await http(gw.url, method, path, body);
      expect({ path, status: r.status, code: (r.json as { error?: { code?: string } }).error?.code }).toEqual({
        path,
        status,
        code,
      });
      expect(typeof (r.json as { error: { message: unknown } }).error.message).toBe("string");
    }
    const r405 = await http(gw.url, "GET", "/v1/actors/Counter/a/add");
    expect(r405.headers.get("allow")).toBe("POST");
    // After all that, the silo still answers.
    expect(await http(gw.url, "POST", "/v1/actors/Counter/a/add", "[1]")).toMatchObject({ status: 200, json: 1 });
  });

  test("a body larger than the limit is refused even without a content-length", async () => {
    const { gw } = await start({ limits: { maxBodyBytes: 1000 } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gw.url}/v1/actors/Counter/a/add`, { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      // Chunked: the gateway only learns the size while reading.
      for (let i = 0; i < 10; i++) req.write("[".padEnd(500, " "));
      req.end();
    });
    expect(status).toBe(413);
  });

  test("GET …/:type/:key says where the actor is; deactivate swaps it out; DELETE state forgets it", async () => {
    const { gw, silo } = await start();
    expect(await http(gw.url, "GET", "/v1/actors/Counter/s")).toMatchObject({
      status: 200,
      json: { type: "Counter", key: "s", status: "unknown" },
    });
    await http(gw.url, "POST", "/v1/actors/Counter/s/add", "[3]");
    expect((await http(gw.url, "GET", "/v1/actors/Counter/s")).json).toEqual({
      type: "Counter",
      key: "s",
      status: "active",
      silo: silo.siloId,
    });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/s/deactivate")).toMatchObject({
      status: 200,
      json: { deactivated: true },
    });
    expect(silo.isActive({ type: "Counter", key: "s" })).toBe(false);
    expect((await http(gw.url, "GET", "/v1/actors/Counter/s")).json).toMatchObject({ status: "swapped" });
    // Swapped state comes back on the next call.
    expect((await http(gw.url, "POST", "/v1/actors/Counter/s/add", "[1]")).json).toBe(4);
    expect(await http(gw.url, "DELETE", "/v1/actors/Counter/s/state")).toMatchObject({
      status: 200,
      json: { deleted: true },
    });
    expect((await http(gw.url, "GET", "/v1/actors/Counter/s")).json).toMatchObject({ status: "unknown" });
    expect((await http(gw.url, "POST", "/v1/actors/Counter/s/add", "[1]")).json).toBe(1);
  });

  test("GET /v1/cluster lists silos with their activations per type", async () => {
    const { gw, silo } = await start();
    await http(gw.url, "POST", "/v1/actors/Counter/a/add", "[1]");
    await http(gw.url, "POST", "/v1/actors/Counter/b/add", "[1]");
    await http(gw.url, "POST", "/v1/actors/Room/r/rename", '["x"]');
    const r = await http(gw.url, "GET", "/v1/cluster");
    expect(r.status).toBe(200);
    const view = r.json as {
      version: number;
      self: string;
      silos: { id: string; activations: number; perType: object }[];
    };
    expect(view.self).toBe(silo.siloId);
    expect(typeof view.version).toBe("number");
    expect(view.silos[0]).toMatchObject({ id: silo.siloId, activations: 3, perType: { Counter: 2, Room: 1 } });
  });

  test("health, readiness and drain", async () => {
    const { gw } = await start();
    expect(await http(gw.url, "GET", "/healthz")).toMatchObject({ status: 200, json: { status: "ok" } });
    expect(await http(gw.url, "GET", "/readyz")).toMatchObject({ status: 200, json: { status: "ready" } });
    const slow = http(gw.url, "POST", "/v1/actors/Counter/d/wait", '["drain"]');
    await expect.poll(() => gw.inFlight).toBe(1);
    const closing = gw.close({ drainTimeoutMs: 30_000 });
    expect(gw.draining).toBe(true);
    expect(await http(gw.url, "GET", "/readyz")).toMatchObject({ status: 503, json: { status: "draining" } });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/d/add", "[1]")).toMatchObject({
      status: 503,
      json: { error: { code: "SILO_STOPPED" } },
    });
    gate("drain").open();
    expect(await slow).toMatchObject({ status: 200, json: "drain" });
    await closing;
  });

  test("GET /metrics exposes Prometheus text with calls, latency, activations, swaps, errors, connections", async () => {
    const { gw } = await start();
    await http(gw.url, "POST", "/v1/actors/Counter/m/add", "[1]");
    await http(gw.url, "POST", "/v1/actors/Counter/m/fail", '["E_X"]');
    await http(gw.url, "POST", "/v1/actors/Counter/m/deactivate");
    const r = await http(gw.url, "GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/plain/);
    expect(r.text).toMatch(/^praas_calls_total\{type="Counter",method="add"\} 1$/m);
    expect(r.text).toMatch(/^praas_call_errors_total\{type="Counter",method="fail",code="E_X"\} 1$/m);
    expect(r.text).toMatch(/^praas_call_duration_seconds_count\{type="Counter",method="add"\} 1$/m);
    expect(r.text).toMatch(/^praas_activations_total 1$/m);
    expect(r.text).toMatch(/^praas_deactivations_total\{reason="request"\} 1$/m);
    expect(r.text).toMatch(/^praas_activations 0$/m);
    expect(r.text).toMatch(/^praas_gateway_connections 0$/m);
    expect(r.text).toMatch(/^praas_http_requests_total\{route="call",status="200"\} 1$/m);
  });

  test("metrics can be turned off", async () => {
    const { gw } = await start({ metrics: false });
    expect(await http(gw.url, "GET", "/metrics")).toMatchObject({ status: 404 });
  });
});

describe("HTTP security", () => {
  test("a token is required on every route but the probes", async () => {
    const { gw } = await start({ token: "s3cret-token" });
    const unauth = await http(gw.url, "POST", "/v1/actors/Counter/a/add", "[1]");
    expect(unauth).toMatchObject({ status: 401, json: { error: { code: "UNAUTHENTICATED" } } });
    expect(unauth.headers.get("www-authenticate")).toBe("Bearer");
    expect(
      await http(gw.url, "POST", "/v1/actors/Counter/a/add", "[1]", { authorization: "Bearer wrong-token" }),
    ).toMatchObject({ status: 401 });
    expect(
      await http(gw.url, "POST", "/v1/actors/Counter/a/add", "[1]", { authorization: "Bearer s3cret-token" }),
    ).toMatchObject({ status: 200, json: 1 });
    // Query tokens are for WebSocket upgrades only (browsers cannot set headers there).
    expect(await http(gw.url, "GET", "/v1/cluster?token=s3cret-token")).toMatchObject({ status: 401 });
    expect(await http(gw.url, "GET", "/metrics")).toMatchObject({ status: 401 });
    expect(await http(gw.url, "GET", "/healthz")).toMatchObject({ status: 200 });
  });

  test("authenticate and authorize hooks admit and refuse", async () => {
    const seen: string[] = [];
    const { gw } = await start<{ user: string }>({
      authenticate: (req) => {
        const user = req.headers["x-user"];
        return typeof user === "string" ? { user } : undefined;
      },
      authorize: (p, type, key, method) => {
        seen.push(`${p.user}:${type}/${key}.${method}`);
        return p.user === "admin" || (method !== "@deactivate" && key === p.user);
      },
    });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/ana/add", "[1]")).toMatchObject({ status: 401 });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/ana/add", "[1]", { "x-user": "ana" })).toMatchObject({
      status: 200,
    });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/bob/add", "[1]", { "x-user": "ana" })).toMatchObject({
      status: 403,
      json: { error: { code: "FORBIDDEN" } },
    });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/ana/deactivate", "", { "x-user": "ana" })).toMatchObject({
      status: 403,
    });
    expect(await http(gw.url, "POST", "/v1/actors/Counter/ana/deactivate", "", { "x-user": "admin" })).toMatchObject({
      status: 200,
    });
    expect(seen).toContain("ana:Counter/ana.add");
    expect(seen).toContain("ana:Counter/ana.@deactivate");
  });

  test("a throwing authenticate hook is a 401 without its internals", async () => {
    const { gw } = await start({
      authenticate: () => {
        throw new Error("db password is hunter2");
      },
    });
    const r = await http(gw.url, "GET", "/v1/cluster");
    expect(r.status).toBe(401);
    expect(r.text).not.toMatch(/hunter2/);
  });
});

describe("HTTP fallback", () => {
  test("requests without a gateway route go to the fallback, which may decline (404)", async () => {
    const { gw } = await start({
      token: "fallback-token",
      fallback: (req, res) => {
        if (req.url !== "/hello") return false;
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("hi");
        return true;
      },
    });
    // The page is public (the handler decides); the API still needs the token.
    expect(await http(gw.url, "GET", "/hello")).toMatchObject({ status: 200, text: "hi" });
    expect(await http(gw.url, "GET", "/other")).toMatchObject({ status: 404, json: { error: { code: "NOT_FOUND" } } });
    expect(await http(gw.url, "GET", "/v1/cluster")).toMatchObject({ status: 401 });
  });
});
