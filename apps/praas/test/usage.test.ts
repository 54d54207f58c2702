import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Io, runCommand, USAGE } from "../src/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const actors = join(here, "fixtures/actors.mjs");

/** Run a praas command in this process, capturing what it prints. */
async function run(argv: string[]): Promise<{ exitCode: number | undefined; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
    env: {},
    cwd: process.cwd(),
  };
  const outcome = await runCommand(argv, io);
  if ("running" in outcome) {
    await outcome.running.stop();
    return { exitCode: undefined, out, err };
  }
  return { exitCode: outcome.exitCode, out, err };
}

describe("help", () => {
  test("praas --help and praas <command> --help print the usage and exit 0", async () => {
    for (const argv of [
      ["--help"],
      ["-h"],
      ["help"],
      ["start", "--help"],
      ["start", "--port", "0", "-h"],
      ["call", "--help"],
      ["call", "Counter/a", "add", "1", "--help"],
      ["status", "--help"],
    ]) {
      expect(await run(argv), argv.join(" ")).toEqual({ exitCode: 0, out: `${USAGE}\n`, err: "" });
    }
  });

  test("after --, --help is an argument like any other", async () => {
    // It reaches the call, which fails to connect: proof that it was not taken as a request for help.
    const r = await run(["call", "Counter/a", "add", "--url", "http://127.0.0.1:1", "--", "--help"]);
    expect(r).toMatchObject({ exitCode: 1, out: "", err: expect.stringMatching(/Cannot reach/) });
  });

  test("a bare praas prints the usage but exits 2: no command was given", async () => {
    expect(await run([])).toMatchObject({ exitCode: 2, out: `${USAGE}\n` });
  });
});

describe("praas start cannot listen", () => {
  let dir: string;
  let taken: Server;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "praas-usage-"));
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => taken.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test("a port in use: one line naming the port and the settings that change it, exit 2, no stack", async () => {
    const result = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [main, "start", "--actors", actors, "--port", String(port), "--state-dir", join(dir, "state")],
        (error, out, err) => resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), out, err }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.out).toBe("");
    expect(result.err).toBe(
      `praas: Cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE): another process, ` +
        `perhaps another praas start, holds it; choose another with --port, $PRAAS_PORT or "port" in the config ` +
        "file (0 picks a free one); the interface with --host [CONFIG]\n",
    );
  });

  test("the same through runCommand, in-process", async () => {
    const r = await run(["start", "--actors", actors, "--port", String(port), "--state-dir", join(dir, "state2")]);
    expect(r.exitCode).toBe(2);
    expect(r.err).toMatch(/^praas: Cannot listen on 127\.0\.0\.1:\d+: the port is already in use \(EADDRINUSE\)/);
  });

  test("a silo-to-silo port in use names the cluster settings", async () => {
    const r = await run([
      "start",
      "--actors",
      actors,
      "--port",
      "0",
      "--storage",
      "memory",
      "--cluster",
      uniqueName("usage"),
      "--redis-url",
      redisUrl(),
      "--cluster-port",
      String(port),
      "--cluster-secret",
      "a-test-cluster-secret",
    ]);
    expect(r.exitCode).toBe(2);
    expect(r.err).toBe(
      `praas: Cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE): another process, ` +
        "perhaps another praas start, holds it; choose another silo-to-silo port with --cluster-port, " +
        '$PRAAS_CLUSTER_PORT or "clusterPort" in the config file (0, the default, picks a free one); the ' +
        "interface with --cluster-host [CONFIG]\n",
    );
  });
});
