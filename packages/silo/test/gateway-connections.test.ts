import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test, vi } from "vitest";
import { connectionBudget, descriptorLimit } from "../src/gateway/connection-cap.js";
import { Peer, type Served, serve } from "./gateway-helpers.js";

let served: Served | undefined;
const sockets: Socket[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of children.splice(0)) c.kill("SIGKILL");
  await served?.stop();
  served = undefined;
});

/** A raw TCP connection to `port`, once connected; records whether and what the server answered before closing it. */
function openSocket(port: number, send?: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    let received = "";
    socket.on("data", (d: Buffer) => {
      received += d.toString("latin1");
    });
    const closed = new Promise<string>((done) => socket.once("close", () => done(received)));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      socket.on("error", () => {});
      if (send !== undefined) socket.write(send);
      resolve({ socket, closed });
    });
  });
}

/** How many sockets this test may open (each costs two descriptors here: ours and the gateway's). */
function affordable(wanted: number): number {
  const limit = descriptorLimit();
  return limit === undefined ? wanted : Math.max(50, Math.min(wanted, Math.floor((limit - 300) / 2)));
}

describe("gateway connections: one cap over HTTP and WebSocket, header and keep-alive timeouts", () => {
  test("a slowloris of 2,000 half-open requests keeps no client out, and the header timeout closes every one", async () => {
    served = await serve({ limits: { headersTimeoutMs: 1000, requestTimeoutMs: 2000 } });
    const { gw } = served;
    const n = affordable(2000);
    const slow = await Promise.all(
      Array.from({ length: n }, () => openSocket(gw.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")),
    );
    // A new client is served while the attack is on.
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
    const answers = await vi.waitFor(() => Promise.all(slow.map((s) => s.closed)), { timeout: 30_000 });
    expect(answers.every((a) => a.startsWith("HTTP/1.1 408"))).toBe(true);
  });

  test("idle keep-alive connections are closed after keepAliveTimeoutMs", async () => {
    served = await serve({ limits: { keepAliveTimeoutMs: 200 } });
    const { closed } = await openSocket(served.gw.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await closed).toMatch(/^HTTP\/1\.1 200 /);
  });

  test("at the cap a newcomer displaces the oldest connection that holds no request; never a WebSocket client", async () => {
    served = await serve({ limits: { maxConnections: 4 } });
    const { gw } = served;
    expect(gw.maxConnections).toBe(4);
    const { peer } = await Peer.open(gw.wsUrl);
    const idle: { socket: Socket; closed: Promise<string> }[] = [];
    for (let i = 0; i < 3; i++) idle.push(await openSocket(gw.port));
    // Four open: the HTTP request takes the place of the oldest idle socket.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect(await idle[0]?.closed).toBe("");
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toMatch(/^praas_gateway_connections_shed\{how="displaced"\} [1-9]/m);
    expect(metrics).toMatch(/^praas_gateway_open_connections [1-4]$/m);
    // Only WebSocket clients: nobody to displace, so the newcomer is refused with 429.
    const more = [await Peer.open(gw.wsUrl), await Peer.open(gw.wsUrl), await Peer.open(gw.wsUrl)];
    const refused = await fetch(`${gw.url}/healthz`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ error: { code: "OVERLOADED" } });
    for (const { peer: p } of [{ peer }, ...more]) {
      expect(await p.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok" });
    }
  });

  test("the cap is kept below the descriptor limit: a gateway with 256 descriptors survives 400 idle connections", async () => {
    const fixture = fileURLToPath(new URL("./fixtures/gateway-process.mjs", import.meta.url));
    if (!existsSync(fileURLToPath(new URL("../dist/index.js", import.meta.url)))) {
      throw new Error("This test runs the built package: run `npx tsc -b` first");
    }
    const child = spawn("sh", ["-c", 'ulimit -n 256 && exec "$0" "$@"', process.execPath, fixture], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const ready = await new Promise<{ port: number; maxConnections: number }>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf("\n");
        if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
      });
      void exited.then((code) => reject(new Error(`gateway process exited (${code}): ${stderr}`)));
    });
    expect(ready.maxConnections).toBe(128);
    const idle: { socket: Socket; closed: Promise<string> }[] = [];
    for (let i = 0; i < 400; i++) idle.push(await openSocket(ready.port));
    // The oldest idle connections made room: the process still has descriptors and serves.
    const res = await fetch(`http://127.0.0.1:${ready.port}/v1/actors/Counter/a/add`, { method: "POST", body: "[2]" });
    expect(await res.json()).toBe(2);
    expect(child.exitCode).toBe(null);
    const open = await vi.waitFor(() => {
      const n = idle.filter((s) => !s.socket.destroyed && s.socket.readyState === "open").length;
      expect(n).toBeLessThanOrEqual(128);
      return n;
    });
    expect(open).toBeGreaterThan(0);
  });

  test("the budget leaves a quarter of the descriptors (at least 128) for everything else", () => {
    expect(descriptorLimit(() => "Limit  Soft Limit  Hard Limit  Units\nMax open files  1024  4096  files\n")).toBe(
      1024,
    );
    expect(descriptorLimit(() => "Max open files  unlimited  unlimited  files\n")).toBe(undefined);
    expect(
      descriptorLimit(() => {
        throw new Error("ENOENT");
      }),
    ).toBe(undefined);
    expect(connectionBudget(10_000, 1024)).toBe(768);
    expect(connectionBudget(10_000, 256)).toBe(128);
    expect(connectionBudget(10_000, 65_536)).toBe(10_000);
    expect(connectionBudget(10_000, undefined)).toBe(10_000);
  });
});
