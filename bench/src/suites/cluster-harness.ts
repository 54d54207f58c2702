/**
 * Child processes for the multi-process suites (`remote-call`, `failover`, `ipc`): fork
 * one with a role, exchange IPC messages with it, stop it.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";

const CHILD = new URL("./cluster-child.js", import.meta.url);
/** The silos of one bench run prove this to each other (a cluster silo needs a secret). */
const CLUSTER_SECRET = randomBytes(16).toString("hex");

export interface Child {
  readonly proc: ChildProcess;
  /** The child's first message (its "ready" line: silo id, port…). */
  readonly ready: Record<string, unknown>;
  /** Send a command and wait for the child's answer to it (matched by id, so asks may overlap). */
  ask<T = Record<string, unknown>>(message: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  readonly exited: Promise<void>;
}

/** Fork `script` (default: cluster-child.js) in `role`; resolves with its first message. */
export async function startChild(role: string, env: Record<string, string> = {}, script: URL = CHILD): Promise<Child> {
  const proc = fork(script, [role], {
    env: { PRAAS_CLUSTER_SECRET: CLUSTER_SECRET, ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 1;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    waiting.set(0, { resolve: resolve as (v: unknown) => void, reject });
  });
  proc.on("message", (m: Record<string, unknown>) => {
    const id = typeof m.id === "number" ? m.id : 0;
    const w = waiting.get(id);
    waiting.delete(id);
    w?.resolve(m);
  });
  void exited.then(() => {
    for (const w of waiting.values()) w.reject(new Error(`${role} child exited`));
    waiting.clear();
  });
  const ask = <T>(message: Record<string, unknown>, timeoutMs = 120_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`${role} child: no answer to ${String(message.cmd)} in ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      proc.send({ ...message, id });
    });
  return { proc, ready: await ready, ask, exited };
}

/** SIGKILL and wait for the exit. */
export async function killChild(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
  await c.exited;
}

/** Ask a silo child to stop gracefully (bounded), then make sure it is gone. */
export async function stopSilo(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.send({ cmd: "stop" });
  const timer = setTimeout(() => c.proc.kill("SIGKILL"), 15_000);
  await c.exited;
  clearTimeout(timer);
}

/** Wait (bounded) until `check` holds. */
export async function until(check: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
