/**
 * Silos as separate OS processes (test/cluster/fixtures/silo-process.mjs),
 * driven over their small HTTP control endpoint.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const FIXTURE = fileURLToPath(new URL("./fixtures/silo-process.mjs", import.meta.url));
const BUILT = fileURLToPath(new URL("../../packages/silo/dist/cluster/node.js", import.meta.url));

export interface ProcessEnv {
  readonly REDIS_URL: string;
  readonly CLUSTER: string;
  readonly STATE_DIR: string;
  readonly PRAAS_CLUSTER_SECRET: string;
  readonly HEARTBEAT_MS?: string;
  readonly DEAD_AFTER_MS?: string;
}

export type CallResult = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

export interface SiloProcess {
  readonly siloId: string;
  readonly address: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  call(type: string, key: string, method: string, args: unknown[], retry?: boolean): Promise<CallResult>;
  active(type: string, keys: readonly string[]): Promise<boolean[]>;
  send(type: string, key: string, channel: string, data: unknown, durable: boolean): Promise<CallResult>;
  /** silo.clusterView(): `self` is the current incarnation's id; `serving` false without a membership lease. */
  view(): Promise<{
    version: number;
    self: string;
    serving: boolean;
    reason?: string;
    silos: { id: string; status: string; activations?: number }[];
  }>;
  /** stderr so far (for failure messages). */
  log(): string;
}

export function assertBuilt(): void {
  if (!existsSync(BUILT)) throw new Error("Multi-process tests run the built packages: run `npx tsc -b` first");
}

export async function spawnSilo(env: ProcessEnv, readyTimeoutMs = 20_000): Promise<SiloProcess> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const ready = await new Promise<{ siloId: string; address: string; http: number }>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`silo process not ready in ${readyTimeoutMs} ms:\n${stderr}`)),
      readyTimeoutMs,
    );
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      // The silo's own log lines ("[praas] …", info goes to stdout) may come before the ready line.
      for (let nl = out.indexOf("\n"); nl >= 0; nl = out.indexOf("\n")) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith("[praas] ")) continue;
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line));
        } catch (err) {
          reject(err);
        }
        return;
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`silo process exited (${code}) before it was ready:\n${stderr}`));
    });
  });
  const base = `http://127.0.0.1:${ready.http}`;
  const post = async (path: string, body: unknown): Promise<unknown> => {
    const res = await fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body) });
    return res.json();
  };
  return {
    siloId: ready.siloId,
    address: ready.address,
    child,
    exited,
    call: (type, key, method, args, retry) => post("/call", { type, key, method, args, retry }) as Promise<CallResult>,
    active: (type, keys) => post("/active", { type, keys }) as Promise<boolean[]>,
    send: (type, key, channel, data, durable) =>
      post("/send", { type, key, channel, data, durable }) as Promise<CallResult>,
    view: async () => (await (await fetch(`${base}/view`)).json()) as Awaited<ReturnType<SiloProcess["view"]>>,
    log: () => stderr,
  };
}

/** Stop a process for good (SIGKILL) and wait until it is gone. */
export async function kill(p: SiloProcess): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  await p.exited;
}

/** The value of a successful call; a failed one fails the test with its code. */
export function value(r: CallResult): unknown {
  if (!r.ok) throw new Error(`call failed: ${r.error.code} ${r.error.message}`);
  return r.value;
}

/**
 * The silo processes of one test file: `start` a cluster (Redis membership,
 * one shared state folder, short membership timings), `spawn` more into it,
 * and `cleanup` (kill -9 and remove the folders) after each test.
 */
export class ProcessClusters {
  #procs: SiloProcess[] = [];
  readonly #dirs: string[] = [];

  constructor(
    readonly redisUrl: () => string,
    readonly timings = { HEARTBEAT_MS: "200", DEAD_AFTER_MS: "1000" },
  ) {}

  async start(size: number, name: string): Promise<{ env: ProcessEnv; silos: SiloProcess[] }> {
    const dir = await mkdtemp(join(tmpdir(), "praas-cluster-"));
    this.#dirs.push(dir);
    const env: ProcessEnv = {
      REDIS_URL: this.redisUrl(),
      CLUSTER: `${name}-${randomBytes(4).toString("hex")}`,
      STATE_DIR: dir,
      PRAAS_CLUSTER_SECRET: "multi-process-test-secret",
      ...this.timings,
    };
    const silos: SiloProcess[] = [];
    for (let i = 0; i < size; i++) silos.push(await this.spawn(env));
    // Every silo sees all the others before the test starts (polled: across processes there is no event to await).
    await expect
      .poll(
        async () =>
          (await Promise.all(silos.map((s) => s.view()))).every(
            (v) => v.silos.filter((s) => s.status === "active").length === size,
          ),
        { message: "views", timeout: 20_000, interval: 20 },
      )
      .toBe(true);
    return { env, silos };
  }

  async spawn(env: ProcessEnv): Promise<SiloProcess> {
    const p = await spawnSilo(env);
    this.#procs.push(p);
    return p;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.#procs.map((p) => kill(p)));
    this.#procs = [];
    for (const d of this.#dirs.splice(0)) await rm(d, { recursive: true, force: true });
  }
}
