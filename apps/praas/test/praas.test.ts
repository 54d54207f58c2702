import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@praas/client";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

// These tests run the built command in real processes (npm test builds first).
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const fixtures = join(here, "fixtures");

let dir: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
  dir = mkdtempSync(join(tmpdir(), "praas-cli-"));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly wsUrl: string;
  readonly banner: string;
  /** Everything the process printed so far. */
  output(): string;
  exited: Promise<number | null>;
}

/** Run `praas start …` and wait for its banner. */
function startPraas(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [main, "start", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const http = /HTTP\s+(http:\/\/\S+)/.exec(out);
      const ws = /WebSocket\s+(ws:\/\/\S+)/.exec(out);
      if (http?.[1] && ws?.[1] && out.includes("SIGTERM")) {
        resolve({ child, url: http[1], wsUrl: ws[1], banner: out, output: () => out, exited });
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    void exited.then((code) => reject(new Error(`praas start exited with ${code}: ${out}`)));
  });
}

/** Run a short praas command to completion. */
function runPraas(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), out: stdout, err: stderr });
    });
  });
}

describe("praas command", () => {
  test("start prints URLs; call and status talk to it; SIGTERM drains a running call and saves state", async () => {
    const stateDir = join(dir, "state-1");
    const s = await startPraas(["--actors", join(fixtures, "actors.mjs"), "--state-dir", stateDir]);
    expect(s.banner).toMatch(/hosting Counter, Holder/);
    // The methods clients can reach, per type, and where that list comes from.
    expect(s.banner).toMatch(
      /callable {3}Counter: add, get {3}\(all public methods, TypeScript private\/protected too/,
    );
    expect(s.banner).toContain(`curl -X POST ${s.url}/v1/actors/Counter/alice/add -d '[1]'`);
    expect(s.banner).toContain(`dashboard  ${s.url}/dashboard`);

    const first = await runPraas(["call", "Counter/alice", "add", "5", "--url", s.url]);
    expect(first).toMatchObject({ code: 0, out: "5\n" });
    expect((await runPraas(["call", "Counter/alice", "add", "-2", "--url", s.url])).out).toBe("3\n");
    const bad = await runPraas(["call", "Counter/alice", "nope", "--url", s.url]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/no callable method "nope".*\[METHOD_NOT_FOUND\]/);
    const status = await runPraas(["status", "--url", s.url]);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/activations 1 {2}\(Counter 1\)/);
    expect((await runPraas(["status", "Counter/alice", "--url", s.url])).out).toMatch(
      /Counter\/alice: active on silo-/,
    );

    // A call that is running when SIGTERM arrives completes; then clients are told to go away.
    const client = await connect(s.wsUrl, { reconnect: false });
    const holder = client.ref<{ hold(): Promise<string> }>("Holder", "h");
    let holding!: () => void;
    const started = new Promise<void>((resolve) => {
      holding = resolve;
    });
    await holder.on("holding", () => holding()).ready;
    const held = holder.hold();
    await started;
    const disconnected = new Promise((resolve) => client.on("disconnect", resolve));
    s.child.kill("SIGTERM");
    expect(await held).toBe("released");
    expect(await disconnected).toMatchObject({ code: 1001 });
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/SIGTERM: draining/);
    expect(s.output()).toMatch(/stopped, state saved/);
    await client.close();

    // The counter's state was saved at the drain: a new process finds it.
    const again = await startPraas(["--actors", join(fixtures, "actors.mjs"), "--state-dir", stateDir]);
    expect((await runPraas(["call", "Counter/alice", "get", "--url", again.url])).out).toBe("3\n");
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  test("SIGTERM with a method that never returns: the drain is bounded and says what it abandoned", async () => {
    const stateDir = join(dir, "state-stuck");
    const args = ["--actors", join(fixtures, "stuck.mjs"), "--state-dir", stateDir, "--drain-timeout-ms", "600"];
    const s = await startPraas(args);
    const client = await connect(s.wsUrl, { reconnect: false });
    const stuck = client.ref<{ add(n: number): Promise<number>; hang(): Promise<void> }>("Stuck", "s");
    expect(await stuck.add(5)).toBe(5);
    let hanging!: () => void;
    const started = new Promise<void>((resolve) => {
      hanging = resolve;
    });
    await stuck.on("hanging", () => hanging()).ready;
    const hung = stuck.hang().catch((e: unknown) => e);
    await started;
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(
      /abandoned Stuck\/s \(hang still running at the drain deadline; state saved as it was\)/,
    );
    expect(s.output()).toMatch(/stopped, state saved \(1 activations\)/);
    expect(await hung).toBeInstanceOf(Error);
    await client.close();
    // The acknowledged change made before the stuck call survived the drain.
    const again = await startPraas(args);
    expect((await runPraas(["call", "Stuck/s", "add", "0", "--url", again.url])).out).toBe("5\n");
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  test("settings from a config file and the environment; a token protects the gateway", async () => {
    const config = join(dir, "praas.json");
    writeFileSync(config, JSON.stringify({ actors: ["./fixtures-link.mjs"], idleTimeoutMs: 60000 }));
    writeFileSync(join(dir, "fixtures-link.mjs"), `export * from ${JSON.stringify(join(fixtures, "web.mjs"))};\n`);
    const s = await startPraas(["--config", config], {
      PRAAS_TOKEN: "a-long-token",
      PRAAS_STATE_DIR: join(dir, "st2"),
    });
    expect(s.banner).toMatch(/hosting Echo/);
    expect(s.banner).toMatch(/open http:\/\/127\.0\.0\.1:\d+\/ in a browser/);
    // The module's web route is served on the same port, without the token.
    expect(await (await fetch(`${s.url}/`)).text()).toBe("<h1>hello</h1>");
    const refused = await runPraas(["call", "Echo/x", "say", "hi", "--url", s.url]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/UNAUTHENTICATED/);
    const ok = await runPraas(["call", "Echo/x", "say", "hi", "--url", s.url], { PRAAS_TOKEN: "a-long-token" });
    expect(ok.out).toBe('"hi"\n');
    s.child.kill("SIGINT");
    expect(await s.exited).toBe(0);
  });

  test("bad invocations exit 2 with a message naming the problem", async () => {
    expect(await runPraas(["start", "--actors", join(fixtures, "actors.mjs"), "--prot", "1"])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/Unknown option --prot/),
    });
    expect(await runPraas(["start", "--actors", join(fixtures, "empty.mjs"), "--port", "0"])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/exports no Actor classes/),
    });
    expect(await runPraas(["start", "--actors", join(fixtures, "missing.mjs"), "--port", "0"])).toMatchObject({
      code: 2,
      err: expect.stringMatching(/Cannot load actors module/),
    });
    expect(
      await runPraas(["start", "--actors", join(fixtures, "actors.mjs"), "--port", "0", "--host", "0.0.0.0"]),
    ).toMatchObject({ code: 1, err: expect.stringMatching(/INSECURE_BIND/) });
    expect(await runPraas(["frobnicate"])).toMatchObject({ code: 2, err: expect.stringMatching(/Unknown command/) });
    expect(await runPraas(["call", "Counter"])).toMatchObject({ code: 2 });
    expect(await runPraas(["call", "Counter/a", "get", "--url", "http://127.0.0.1:1"])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/Cannot reach/),
    });
    expect((await runPraas(["help"])).out).toMatch(/praas start \[options\]/);
  });
});
