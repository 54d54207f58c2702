/**
 * The README's first two commands on a fresh checkout, as a new user types
 * them: `npm ci`, then the `npx praas …` commands that `npm start` prints.
 * Slow (a real `npm ci` and builds), so one test walks the whole path.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { copyCheckout, run, runOk, userEnv, waitForOutput } from "./shell.js";

describe("a fresh checkout", () => {
  let dir: string;
  let checkout: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "praas-fresh-"));
    checkout = join(dir, "praas");
    copyCheckout(checkout);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("npm ci, then npx praas works at once; npm start prints commands that work; SIGTERM stops it cleanly", {
    timeout: 420_000,
  }, async () => {
    const env = userEnv({ PRAAS_STATE_DIR: join(dir, "state") });
    const ci = await runOk("npm", ["ci", "--prefer-offline"], { cwd: checkout, env, timeoutMs: 240_000 });
    // Nothing for a new user to review after installing: no list of skipped install scripts.
    expect(ci.err).not.toMatch(/install-scripts/);

    // Before anything was built: the binary is linked and builds what it needs.
    const help = await run("npx", ["praas", "--help"], { cwd: checkout, env, timeoutMs: 120_000 });
    expect(help).toMatchObject({ code: 0, out: expect.stringMatching(/^praas — run and use PraaS silos/) });
    expect(help.err).toMatch(/building/);

    // `npm start` on a free port (the README's default is 7070; PRAAS_PORT changes it).
    // In a process group of its own, so that whatever it started can be killed if the test fails.
    const start = spawn("npm", ["start"], {
      cwd: checkout,
      env: { ...env, PRAAS_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const exited = new Promise<number | null>((resolve) => start.on("exit", (code) => resolve(code)));
    let output = "";
    start.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    start.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    try {
      await waitForOutput(start, /SIGTERM or Ctrl-C/, 180_000);
      const url = /HTTP\s+(http:\/\/\S+)/.exec(output)?.[1] as string;
      // Every command the banner suggests, as printed.
      const suggested = output
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.startsWith("npx praas "));
      expect(suggested).toEqual([`npx praas call Counter/alice add 1 --url ${url}`, `npx praas status --url ${url}`]);
      const call = await run("npx", (suggested[0] as string).split(" ").slice(1), {
        cwd: checkout,
        env,
        timeoutMs: 60_000,
      });
      expect(call).toMatchObject({ code: 0, out: "1\n" });
      const status = await run("npx", (suggested[1] as string).split(" ").slice(1), {
        cwd: checkout,
        env,
        timeoutMs: 60_000,
      });
      expect(status).toMatchObject({ code: 0, out: expect.stringMatching(/activations 1 {2}\(Counter 1\)/) });

      // SIGTERM to npm reaches the silo, which drains and saves, rather than being orphaned.
      start.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(output).toMatch(/stopped, state saved/);
    } finally {
      try {
        process.kill(-(start.pid as number), "SIGKILL");
      } catch {
        // The group is gone already: everything exited.
      }
    }
  });
});
