/**
 * The runner's end of an agent (agent.ts): start it inside a host, send it
 * requests, receive its events. Every request has a deadline.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Launcher, type ProcessRegistry, signal } from "#chaos/processes.js";
import { type AgentEvent, type CommandName, type Commands, LINE_PREFIX, type Reply } from "./protocol.js";

const AGENT = fileURLToPath(new URL("./agent.js", import.meta.url));

export class AgentProcess {
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #nextId = 1;
  #exited = false;
  #stderr = "";

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {}

  /** Start an agent with `launch` (e.g. inside a host's namespace); its stderr and stray output go to `logFile`. */
  static start(
    name: string,
    launch: Launcher,
    registry: ProcessRegistry,
    logFile: string,
    onEvent: (e: AgentEvent) => void,
  ): AgentProcess {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PRAAS_")) env[k] = v;
    const [command, args] = launch(process.execPath, [AGENT]);
    const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    registry.track(child);
    const agent = new AgentProcess(name, child);
    const log = createWriteStream(logFile);
    log.on("error", () => {});
    let partial = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith(LINE_PREFIX)) {
          log.write(`${line}\n`);
          continue;
        }
        const msg = JSON.parse(line.slice(LINE_PREFIX.length)) as Reply | AgentEvent;
        if ("kind" in msg) onEvent(msg);
        else agent.#settle(msg);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      const s = chunk.toString();
      log.write(s);
      if (agent.#stderr.length < 20_000) agent.#stderr += s;
    });
    child.once("exit", (code, sig) => {
      agent.#exited = true;
      log.end();
      const err = new Error(`agent ${name} exited (${sig ?? code}): ${agent.#stderr.slice(-1_000)}`);
      for (const p of agent.#pending.values()) p.reject(err);
      agent.#pending.clear();
    });
    child.stdin?.on("error", () => {});
    return agent;
  }

  #settle(reply: Reply): void {
    const p = this.#pending.get(reply.id);
    if (p === undefined) return;
    this.#pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new Error(`agent ${this.name}: ${reply.error}`));
  }

  /** Send a request; rejects after `timeoutMs` or when the agent exits. */
  request<C extends CommandName>(
    cmd: C,
    args: Commands[C]["args"],
    timeoutMs = 30_000,
  ): Promise<Commands[C]["result"]> {
    if (this.#exited) return Promise.reject(new Error(`agent ${this.name} has exited`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`agent ${this.name}: ${cmd} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as Commands[C]["result"]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin?.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  /** Close its stdin (it exits by itself); SIGKILL by its PID if it has not after 3 s. */
  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => signal(this.child, "SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }
}
