import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Client, connect } from "@praas/client";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

// Real `praas start` processes on the default store (the embedded one), run from the built command.
const MAIN = fileURLToPath(new URL("../../apps/praas/dist/main.js", import.meta.url));
const ACTORS = fileURLToPath(new URL("./fixtures/durable-actors.mjs", import.meta.url));

interface Praas {
  readonly child: ChildProcess;
  readonly wsUrl: string;
  readonly exited: Promise<number | string>;
  output(): string;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npx tsc -b first`);
});

/** `praas start` on `stateDir`; resolves once its banner is out, rejects with its output if it exits first. */
function startPraas(stateDir: string): Promise<Praas> {
  const child = spawn(process.execPath, [MAIN, "start", "--port", "0", "--actors", ACTORS, "--state-dir", stateDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "?")),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const ws = /WebSocket\s+(ws:\/\/\S+)/.exec(out);
      if (ws?.[1] && out.includes("SIGTERM")) resolve({ child, wsUrl: ws[1], exited, output: () => out });
    });
    void exited.then((code) => reject(new Error(`praas start exited with ${code}:\n${out}`)));
  });
}

interface Counter {
  add(n: number): Promise<number>;
  get(): Promise<number>;
}

describe('kill -9 under load with persistence "turn" on the embedded store', () => {
  it("loses no acknowledged write; the restarted process takes the dead one's folder; a second process is refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "praas-crash-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const first = await startPraas(dir);
    const callers = 16;
    const clients: Client[] = [];
    cleanups.push(async () => {
      for (const c of clients) await c.close().catch(() => {});
    });
    for (let i = 0; i < callers; i++) clients.push(await connect(first.wsUrl, { reconnect: false }));
    /** Highest value acknowledged per key. */
    const acked = new Array<number>(callers).fill(0);
    let total = 0;
    let reachedTarget!: () => void;
    const loaded = new Promise<void>((resolve) => {
      reachedTarget = resolve;
    });
    const loops = clients.map(async (client, i) => {
      const counter = client.ref<Counter>("DurableCounter", `k${i}`);
      for (;;) {
        let value: number;
        try {
          value = await counter.add(1);
        } catch {
          return; // the process died under this call: it may or may not have been stored
        }
        acked[i] = value;
        if (++total === 400) reachedTarget();
      }
    });
    await loaded;
    // Killed in the middle of the load: calls are in flight, commits are being flushed.
    first.child.kill("SIGKILL");
    expect(await first.exited).toBe("SIGKILL");
    await Promise.all(loops);

    const second = await startPraas(dir);
    const reader = await connect(second.wsUrl, { reconnect: false });
    cleanups.push(() => reader.close());
    const values: number[] = [];
    for (let i = 0; i < callers; i++) {
      const stored = await reader.ref<Counter>("DurableCounter", `k${i}`).get();
      values.push(stored);
      // Every acknowledged add is there; at most the one call in flight at the kill went through unacknowledged.
      expect(stored, `key k${i}`).toBeGreaterThanOrEqual(acked[i] as number);
      expect(stored, `key k${i}`).toBeLessThanOrEqual((acked[i] as number) + 1);
    }
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(400);

    // Two processes on one folder would lose each other's acknowledged writes: the second is refused.
    const refused = await startPraas(dir).then(
      () => undefined,
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/exited with 1/);
    expect(refused).toMatch(new RegExp(`in use by process ${second.child.pid} on host .*\\[STATE_DIR_LOCKED\\]`));
    // And the first one keeps serving.
    expect(await reader.ref<Counter>("DurableCounter", "k0").add(1)).toBe((values[0] as number) + 1);
  });
});
