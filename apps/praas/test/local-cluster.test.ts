import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { redisUrl, uniqueName } from "@praas/testing/vitest";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { resolveStartConfig } from "../src/config.js";
import { ConfigError } from "../src/errors.js";

// `praas start --silos N` in real processes: the parent coordinates membership, the silos share one state folder.
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const actors = join(here, "fixtures", "actors.mjs");

let dir: string;
const parents: ChildProcess[] = [];
beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
  dir = mkdtempSync(join(tmpdir(), "praas-local-cluster-"));
});
afterEach(() => {
  for (const p of parents.splice(0)) if (p.exitCode === null) p.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface SiloLine {
  readonly id: string;
  readonly pid: number;
  readonly url: string;
}

interface LocalCluster {
  readonly parent: ChildProcess;
  readonly silos: SiloLine[];
  output(): string;
  /** Resolves once the output matches `pattern` (the parent reports on its own schedule). */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  readonly exited: Promise<number | null>;
}

function startLocalCluster(args: string[], env: Record<string, string> = {}): Promise<LocalCluster> {
  const parent = spawn(process.execPath, [main, "start", "--port", "0", "--actors", actors, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  parents.push(parent);
  let out = "";
  const waiters = new Set<() => void>();
  const exited = new Promise<number | null>((resolve) => parent.on("exit", (code) => resolve(code)));
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  parent.stdout?.on("data", onData);
  parent.stderr?.on("data", onData);
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out);
        if (m !== null) {
          waiters.delete(check);
          resolve(m);
        }
      };
      waiters.add(check);
      check();
      void exited.then((code) => {
        if (waiters.delete(check)) reject(new Error(`praas exited with ${code} before ${pattern}: ${out}`));
      });
    });
  return waitFor(/SIGTERM or Ctrl-C/).then(() => {
    const silos = [...out.matchAll(/silo \d+ {2}(silo-\S+) {2}pid (\d+)\n\s+WebSocket\s+\S+\n\s+HTTP\s+(\S+)/g)].map(
      (m) => ({ id: m[1] as string, pid: Number(m[2]), url: m[3] as string }),
    );
    return { parent, silos, output: () => out, waitFor, exited };
  });
}

async function call(url: string, actor: string, method: string, args: unknown[] = []): Promise<unknown> {
  const res = await fetch(`${url}/v1/actors/${actor}/${method}`, { method: "POST", body: JSON.stringify(args) });
  const body = (await res.json()) as unknown;
  if (!res.ok) throw new Error(`${actor}.${method} → ${res.status} ${JSON.stringify(body)}`);
  return body;
}

interface ClusterJson {
  self: string;
  silos: { id: string; status: string }[];
}

async function view(url: string): Promise<ClusterJson> {
  return (await (await fetch(`${url}/v1/cluster`)).json()) as ClusterJson;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("praas start --silos", () => {
  test("N silos form one cluster without Redis, answer through any silo, survive kill -9 of one, and share the store", async () => {
    const state = join(dir, "state");
    const c = await startLocalCluster(["--silos", "2", "--state-dir", state]);
    expect(c.silos).toHaveLength(2);
    const [a, b] = c.silos as [SiloLine, SiloLine];
    expect(c.output()).toContain("membership kept by this process");

    // Both gateways see both silos, and one counter whichever silo the call enters.
    await expect.poll(async () => (await view(a.url)).silos.filter((s) => s.status === "active").length).toBe(2);
    expect((await view(b.url)).silos.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(await call(a.url, "Counter/x", "add", [1])).toBe(1);
    expect(await call(b.url, "Counter/x", "add", [1])).toBe(2);
    expect(await call(a.url, "Counter/x", "get")).toBe(2);

    // Keys spread over both silos: the ring gives each its part.
    const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
    for (const k of keys) await call(a.url, `Counter/${k}`, "add", [10]);
    const owners = new Set<string>();
    for (const k of keys) {
      const r = (await (await fetch(`${a.url}/v1/actors/Counter/${k}`)).json()) as { silo?: string };
      owners.add(r.silo as string);
    }
    expect(owners).toEqual(new Set([a.id, b.id]));

    // kill -9 one silo: the parent declares it dead at once and starts a new process.
    process.kill(b.pid, "SIGKILL");
    const back = await c.waitFor(/silo 1 is back as (silo-\S+) \(HTTP (\S+)\)/);
    const [, newId, newUrl] = back as unknown as [string, string, string];
    expect(newId).not.toBe(b.id);
    await expect
      .poll(async () =>
        (await view(a.url)).silos
          .filter((s) => s.status === "active")
          .map((s) => s.id)
          .sort(),
      )
      .toEqual([a.id, newId].sort());
    // Every actor answers again, through either silo (those of the dead silo from their stored state).
    for (const k of keys) expect(await call(newUrl, `Counter/${k}`, "get")).toBeGreaterThanOrEqual(0);
    expect(await call(a.url, "Counter/x", "add", [5])).toBeGreaterThanOrEqual(5);
    const x = (await call(newUrl, "Counter/x", "get")) as number;

    // SIGTERM: every silo drains and saves, then the parent exits 0 and no silo is left behind.
    c.parent.kill("SIGTERM");
    expect(await c.exited).toBe(0);
    const newPid = Number(/pid (\d+)/.exec(c.output().slice(c.output().indexOf("is back as")))?.[1] ?? 0);
    expect(alive(a.pid)).toBe(false);
    if (newPid > 0) expect(alive(newPid)).toBe(false);

    // The state they saved is in the shared folder: a fresh cluster (of one) reads it.
    const again = await startLocalCluster(["--silos", "1", "--state-dir", state]);
    expect(await call((again.silos[0] as SiloLine).url, "Counter/x", "get")).toBe(x);
    again.parent.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  test("a hung silo is declared dead within seconds, then killed and replaced", async () => {
    const c = await startLocalCluster(["--silos", "2", "--state-dir", join(dir, "hung")]);
    const [a, b] = c.silos as [SiloLine, SiloLine];
    await expect.poll(async () => (await view(a.url)).silos.filter((s) => s.status === "active").length).toBe(2);
    process.kill(b.pid, "SIGSTOP");
    try {
      // Its actors move at once: the other silo serves them all.
      await expect
        .poll(async () => (await view(a.url)).silos.find((s) => s.id === b.id)?.status, { timeout: 10_000 })
        .toBe("dead");
      expect(await call(a.url, "Counter/anything", "add", [1])).toBe(1);
      await c.waitFor(/silo 1 \(pid \d+\) is hung/);
      const [, newId] = (await c.waitFor(/silo 1 is back as (silo-\S+)/)) as unknown as [string, string];
      await expect
        .poll(async () => (await view(a.url)).silos.find((s) => s.id === newId)?.status, { timeout: 10_000 })
        .toBe("active");
    } finally {
      if (alive(b.pid)) process.kill(b.pid, "SIGKILL");
    }
    c.parent.kill("SIGTERM");
    expect(await c.exited).toBe(0);
  });

  test("with --cluster and Redis, the local silos join the wider cluster as ordinary members", async () => {
    const cluster = uniqueName("local");
    const env = { PRAAS_CLUSTER_SECRET: `local-test-${cluster}-secret` };
    const redis = [
      "--cluster",
      cluster,
      "--redis-url",
      redisUrl(),
      "--storage",
      "redis",
      "--redis-key-prefix",
      `${cluster}:`,
    ];
    // One silo started on its own (another host, as far as the cluster can tell), then two local ones.
    const single = await startLocalCluster(["--silos", "1", ...redis], env);
    const local = await startLocalCluster(["--silos", "2", ...redis], env);
    expect(local.output()).toContain(`cluster ${cluster} in Redis`);
    const ids = [...single.silos, ...local.silos].map((s) => s.id).sort();
    const url = (single.silos[0] as SiloLine).url;
    await expect
      .poll(async () =>
        (await view(url)).silos
          .filter((s) => s.status === "active")
          .map((s) => s.id)
          .sort(),
      )
      .toEqual(ids);
    expect(await call(url, "Counter/r", "add", [2])).toBe(2);
    expect(await call((local.silos[1] as SiloLine).url, "Counter/r", "add", [2])).toBe(4);
    local.parent.kill("SIGTERM");
    single.parent.kill("SIGTERM");
    expect(await Promise.all([local.exited, single.exited])).toEqual([0, 0]);
  });

  test("a silo that cannot start stops the whole command with exit code 2 instead of restarting for ever", async () => {
    const blocker = await startLocalCluster(["--silos", "1", "--state-dir", join(dir, "blocker")]);
    const port = Number(new URL((blocker.silos[0] as SiloLine).url).port);
    const parent = spawn(
      process.execPath,
      [
        main,
        "start",
        "--silos",
        "2",
        "--port",
        String(port - 1),
        "--actors",
        actors,
        "--state-dir",
        join(dir, "other"),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    parents.push(parent);
    let err = "";
    parent.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => parent.on("exit", (c) => resolve(c)));
    expect(code).toBe(2);
    // Silo 1's port is taken (silo 0's, port − 1, is free unless another program holds it: then it says so).
    expect(err).toMatch(/silo \d cannot start: .*EADDRINUSE/);
    blocker.parent.kill("SIGTERM");
    expect(await blocker.exited).toBe(0);
  });
});

describe("--silos settings", () => {
  const resolve = (flags: Record<string, string>) =>
    resolveStartConfig({ flags: { actors: [actors], ...flags }, env: {}, cwd: dir });

  test("a count or auto; 1 worker thread per silo unless given", () => {
    expect(resolve({ silos: "3" })).toMatchObject({ silos: 3, workerThreads: 1 });
    expect(resolve({ silos: "auto" }).silos).toBeGreaterThanOrEqual(1);
    expect(resolve({ silos: "2", "worker-threads": "3" })).toMatchObject({ silos: 2, workerThreads: 3 });
    const alone = resolve({});
    expect(alone.silos).toBeUndefined();
    expect(alone.workerThreads).toBeUndefined();
  });

  test("bad values and stores the processes cannot share are ConfigErrors", () => {
    expect(() => resolve({ silos: "0" })).toThrow(ConfigError);
    expect(() => resolve({ silos: "two" })).toThrow(/must be "auto" or an integer/);
    expect(() => resolve({ silos: "2", storage: "memory" })).toThrow(/cannot share --storage memory/);
    expect(() => resolve({ silos: "2", storage: "fs" })).toThrow(/cannot share --storage fs/);
    expect(() => resolve({ silos: "4", port: "65534" })).toThrow(/past 65535/);
  });
});
