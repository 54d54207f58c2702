import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTcpProxy, type TcpProxy } from "@praas/testing";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterEach, beforeAll, describe, expect, test } from "vitest";

// `praas start --cluster …` in real processes while Redis is unreachable, goes away, comes back.
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const actors = join(here, "fixtures", "actors.mjs");

const children: ChildProcess[] = [];
let proxy: TcpProxy | undefined;
beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  await proxy?.close();
  proxy = undefined;
});

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const count = (text: string, pattern: RegExp) => text.split("\n").filter((l) => pattern.test(l)).length;

describe("praas start and Redis", () => {
  test("Redis unreachable at start: bounded retries, then one clear line and exit code 2", async () => {
    const port = await closedPort();
    const started = performance.now();
    const result = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          main,
          "start",
          "--actors",
          actors,
          "--port",
          "0",
          "--cluster",
          "c",
          "--redis-url",
          `redis://127.0.0.1:${port}`,
          "--redis-connect-timeout-ms",
          "1500",
        ],
        (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), out: stdout, err: stderr }),
      );
    });
    const took = performance.now() - started;
    expect(result.code).toBe(2);
    const lines = result.err.split("\n").filter((l) => l.trim() !== "");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^praas: Redis at 127\\.0\\.0\\.1:${port} did not answer within 1\\.5 s \\(\\d+ connection attempts; last error: connect ECONNREFUSED .*\\) — is it running\\? .*--redis-connect-timeout-ms \\[REDIS_UNAVAILABLE\\]$`,
      ),
    );
    expect(result.out).toBe("");
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(30_000);
  });

  test("an outage: one line when Redis goes and one when it is back, no ioredis noise; calls wait and are served again; out of the cluster past --rejoin-timeout-ms it exits 3", async () => {
    proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
    const cluster = uniqueName("outage");
    const child = spawn(
      process.execPath,
      [
        main,
        "start",
        "--actors",
        actors,
        "--port",
        "0",
        "--cluster",
        cluster,
        "--redis-url",
        `redis://127.0.0.1:${proxy.port}`,
        "--storage",
        "redis",
        "--redis-key-prefix",
        `${cluster}:`,
        "--rejoin-timeout-ms",
        "6000",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PRAAS_CLUSTER_SECRET: "a-test-cluster-secret" } },
    );
    children.push(child);
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await expect
      .poll(() => /HTTP\s+http:\/\/\S+/.test(out) && out.includes("SIGTERM"), {
        message: "the banner",
        timeout: 30_000,
        interval: 25,
      })
      .toBe(true);
    const url = /HTTP\s+(http:\/\/\S+)/.exec(out)?.[1] as string;
    const call = async (method: string, args: unknown[]) => {
      const res = await fetch(`${url}/v1/actors/Counter/x/${method}`, { method: "POST", body: JSON.stringify(args) });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const ready = async () => (await fetch(`${url}/readyz`)).status;
    expect(await call("add", [1])).toEqual({ status: 200, body: 1 });

    // Redis goes away (connections reset, new ones refused) for longer than the lease.
    proxy.refuse(true);
    await expect
      .poll(async () => (await ready()) === 503, { message: "readyz 503", timeout: 30_000, interval: 25 })
      .toBe(true);
    expect(await (await fetch(`${url}/readyz`)).json()).toMatchObject({
      status: "not-serving",
      reason: expect.stringMatching(/membership lease expired/),
    });
    // A call now is not served: it waits for the lease (up to 3 s), then fails retryable.
    const waiting = call("get", []);
    proxy.refuse(false);
    await expect
      .poll(async () => (await ready()) === 200, { message: "readyz 200 again", timeout: 30_000, interval: 25 })
      .toBe(true);
    const waited = await waiting;
    if (waited.status === 200) expect(waited.body).toBe(1);
    else expect(waited).toMatchObject({ status: 503, body: { error: { code: "SILO_UNAVAILABLE" } } });
    // No peer took its keys (nobody declared it dead): the activation was kept.
    expect(await call("add", [1])).toEqual({ status: 200, body: 2 });
    await expect
      .poll(() => /reachable again/.test(out), { message: "the recovery line", timeout: 30_000, interval: 25 })
      .toBe(true);
    expect(count(out, /Redis at 127\.0\.0\.1:\d+ is unreachable/)).toBe(1);
    expect(count(out, /Redis at 127\.0\.0\.1:\d+ is reachable again/)).toBe(1);
    expect(count(out, /membership lease expired/)).toBe(1);
    expect(count(out, /membership lease renewed/)).toBe(1);

    // Gone for good: after the lease and --rejoin-timeout-ms, the process exits 3 for its supervisor.
    const goneAt = performance.now();
    proxy.refuse(true);
    expect(await exited).toBe(3);
    expect(performance.now() - goneAt).toBeGreaterThanOrEqual(6000);
    expect(out).toMatch(/could not get back into cluster .* within 6000 ms/);
    expect(out).toMatch(/exiting with code 3/);
    expect(out).not.toMatch(/\[ioredis\]|Unhandled/);
  });
});
