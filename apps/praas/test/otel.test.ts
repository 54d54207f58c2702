/**
 * `praas start --otel` exports spans over OTLP/HTTP to the endpoint the
 * standard variables name, and JSON log lines carry the silo id. A real
 * process; the collector is a plain HTTP server recording what it receives.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@praas/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { otelWanted } from "../src/otel.js";

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const fixtures = join(here, "fixtures");

let dir: string;
let collector: Server;
let endpoint: string;
const received: { path: string; body: string }[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
  dir = mkdtempSync(join(tmpdir(), "praas-otel-"));
  collector = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => {
      body += d.toString();
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "", body });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await new Promise((resolve) => collector.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe("praas start --otel", () => {
  test("exports the spans of a call over OTLP/HTTP; JSON log lines carry the silo id", async () => {
    const child = spawn(
      process.execPath,
      [main, "start", "--port", "0", "--otel", "--actors", join(fixtures, "actors.mjs"), "--storage", "memory"],
      {
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: "praas-test", NODE_ENV: "" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    children.push(child);
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await expect.poll(() => /WebSocket\s+(ws:\/\/\S+)/.exec(out)?.[1], { timeout: 30_000 }).toBeDefined();
    const wsUrl = /WebSocket\s+(ws:\/\/\S+)/.exec(out)?.[1] as string;
    const siloId = /PraaS silo (\S+) is up/.exec(out)?.[1];

    const client = await connect(wsUrl, { reconnect: false });
    expect(await client.call("Counter", "otel", "add", [4])).toBe(4);
    await client.close();
    child.kill("SIGTERM");
    expect(await exited).toBe(0);

    // Shutdown flushes the batch: the spans are at the collector before the process exits.
    const traces = received.filter((r) => r.path === "/v1/traces").map((r) => r.body);
    const all = traces.join("\n");
    for (const name of ["praas.gateway Counter.add", "praas.dispatch Counter.add", "praas.turn Counter.add"]) {
      expect(all).toContain(name);
    }
    expect(all).toContain("praas-test");

    // Log lines (stderr, JSON: not a terminal) are one object each, with the silo id once it is known.
    const lines = err
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => String(l.msg).startsWith("otel: exporting traces over OTLP/HTTP to"))).toBe(true);
    const stopped = lines.find((l) => String(l.msg).startsWith("stopped, state saved"));
    expect(stopped).toMatchObject({ level: "info", silo: siloId });
  });
});

describe("when OTLP export is on", () => {
  test("--otel, OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint; OTEL_SDK_DISABLED and 'none' win", () => {
    expect(otelWanted(false, {})).toBe(false);
    expect(otelWanted(true, {})).toBe(true);
    expect(otelWanted(false, { OTEL_TRACES_EXPORTER: "console, otlp" })).toBe(true);
    expect(otelWanted(false, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBe(true);
    expect(otelWanted(false, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(true);
    expect(otelWanted(true, { OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(otelWanted(true, { OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });
});
