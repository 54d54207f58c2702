/**
 * The real processes of a chaos run: `praas start` silos, a redis-server that
 * can be killed and restarted with or without its data, and the S3 test
 * server in a child process. Every process is signalled by its own PID (never
 * by name), every wait is bounded, everything listens on 127.0.0.1 unless a
 * `Placement` puts it elsewhere (the multi-host suite: a network namespace per
 * host), and `ProcessRegistry.killAll` (SIGKILL, by PID) runs whatever happens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, type WriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PRAAS_MAIN = fileURLToPath(new URL("../../../apps/praas/dist/main.js", import.meta.url));
const S3_CHILD = fileURLToPath(new URL("./s3-server.js", import.meta.url));
export const ACTORS_MODULE = fileURLToPath(new URL("./actors.js", import.meta.url));

export function assertBuilt(): void {
  for (const f of [PRAAS_MAIN, S3_CHILD, ACTORS_MODULE]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`npx tsc -b\` (npm run chaos does)`);
  }
}

/**
 * Runs a program somewhere else, e.g. inside a network namespace:
 * `("node", args)` → `("ip", ["netns", "exec", ns, "node", …args])`. The
 * wrapper must exec the program (not fork it), so that the child's PID is the
 * program's own and signals reach it.
 */
export type Launcher = (command: string, args: readonly string[]) => readonly [string, readonly string[]];

/** Where a process runs and the address others reach it at (default: this host, 127.0.0.1). */
export interface Placement {
  /** Address to listen on and to dial (default 127.0.0.1). */
  readonly host?: string;
  /** How to start the process there (default: directly). */
  readonly launch?: Launcher;
}

const launchHere: Launcher = (command, args) => [command, args];

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every `everyMs` until it holds or `ms` passed; returns whether it held. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms: number, everyMs = 50): Promise<boolean> {
  const end = performance.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (performance.now() >= end) return false;
    await sleep(everyMs);
  }
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Every child this run started, so that all of them die with the run. */
export class ProcessRegistry {
  readonly #children = new Set<ChildProcess>();

  track(child: ChildProcess): void {
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
  }

  /** SIGKILL every child still running, each by its own PID. */
  killAll(): void {
    for (const child of this.#children) signal(child, "SIGKILL");
    this.#children.clear();
  }
}

/** Send `sig` to this child's own PID (a no-op when it is gone). */
export function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

function exitOf(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, sig) => resolve({ code, signal: sig })));
}

// ---------------------------------------------------------------------------
// Silo logs

/** A line in a silo's output that the targets forbid. */
export interface LogProblem {
  readonly at: number;
  readonly slot: string;
  readonly siloId: string;
  readonly kind: string;
  readonly line: string;
}

/** A silo process that ended without the runner asking it to. */
export interface UnexpectedExit {
  readonly at: number;
  readonly slot: string;
  readonly siloId: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Lines a scenario may count: a state write that Redis refused because its silo was no longer a member. */
const NOTABLE: readonly { readonly kind: string; readonly pattern: RegExp }[] = [
  { kind: "fenced write", pattern: /Redis refused state writes of silo/ },
];

const FORBIDDEN: readonly { readonly kind: string; readonly pattern: RegExp }[] = [
  { kind: "unhandled error event", pattern: /Unhandled error event/ },
  { kind: "unhandled rejection", pattern: /UnhandledPromiseRejection|unhandled rejection|fromPromise/i },
  { kind: "uncaught exception", pattern: /triggerUncaughtException|Uncaught (exception|error)/i },
  { kind: "fatal error", pattern: /FATAL ERROR|Segmentation fault|out of memory/i },
];

/**
 * Reads every silo's stdout/stderr: keeps it in a log file and notes forbidden
 * lines and exits nobody asked for, stamped with `performance.now()` so a
 * scenario can take the part that falls in its time.
 */
export class LogWatcher {
  readonly problems: LogProblem[] = [];
  readonly exits: UnexpectedExit[] = [];
  /** Lines that are no problem but show a mechanism at work (see NOTABLE), for the report. */
  readonly notable: { readonly at: number; readonly slot: string; readonly kind: string }[] = [];
  /** Output lines of all silos so far, a measure of log noise. */
  lines = 0;

  constructor(readonly dir: string) {}

  now(): number {
    return performance.now();
  }

  /** Follow a child's output; returns a function that reads all of it so far. */
  follow(child: ChildProcess, slot: string, file: string, siloId: () => string): () => string {
    const out: WriteStream = createWriteStream(join(this.dir, file));
    out.on("error", () => {});
    let text = "";
    let partial = "";
    const onData = (chunk: Buffer): void => {
      const s = chunk.toString();
      out.write(s);
      if (text.length < 1_000_000) text += s;
      partial += s;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) this.#line(slot, siloId(), line);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", () => {
      if (partial !== "") this.#line(slot, siloId(), partial);
      out.end();
    });
    return () => text;
  }

  #line(slot: string, siloId: string, line: string): void {
    this.lines++;
    for (const n of NOTABLE) if (n.pattern.test(line)) this.notable.push({ at: this.now(), slot, kind: n.kind });
    for (const f of FORBIDDEN) {
      if (f.pattern.test(line)) {
        this.problems.push({ at: this.now(), slot, siloId, kind: f.kind, line: line.slice(0, 300) });
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Silos

/** One run of `praas start` in a slot. */
export interface SiloIncarnation {
  readonly slot: string;
  readonly siloId: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly httpUrl: string;
  readonly exited: Promise<ExitInfo>;
  output(): string;
}

/**
 * A place for one silo: a fixed HTTP/WebSocket port (so clients reconnect to
 * the next incarnation), the `praas start` flags, and the process currently
 * running there. The runner, acting as a supervisor, starts a new incarnation
 * after a kill.
 */
export class SiloSlot {
  current: SiloIncarnation | undefined;
  /** The runner took this slot out of service (killed, paused): no load goes to it. */
  down = true;
  /** The last /readyz answer (a load balancer's view). */
  ready = false;
  /** The runner sent this incarnation a signal meant to end it. */
  #ending = false;
  #paused = false;
  #starts = 0;
  /** How long each `praas start` here took to print its banner (ms). */
  readonly startupMs: number[] = [];

  constructor(
    readonly name: string,
    public port: number,
    /** The next start's flags (a harness may change them between starts: another store, say). */
    public flags: readonly string[],
    readonly env: NodeJS.ProcessEnv,
    readonly registry: ProcessRegistry,
    readonly watcher: LogWatcher,
    readonly placement: Placement = {},
  ) {}

  get httpUrl(): string {
    return `http://${this.placement.host ?? "127.0.0.1"}:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://${this.placement.host ?? "127.0.0.1"}:${this.port}/ws`;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Is a process running here (paused or not)? */
  get alive(): boolean {
    const c = this.current?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Start `praas start` here and wait (bounded) for its banner. Retries a port still held by the last one. */
  async start(readyTimeoutMs = 30_000): Promise<SiloIncarnation> {
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const inc = await this.#spawn(readyTimeoutMs);
        this.current = inc;
        this.#ending = false;
        this.#paused = false;
        this.down = false;
        return inc;
      } catch (err) {
        last = err;
        if (!/EADDRINUSE/.test(String(err))) break;
        await sleep(200);
      }
    }
    throw last;
  }

  async #spawn(readyTimeoutMs: number): Promise<SiloIncarnation> {
    const n = ++this.#starts;
    const [command, args] = (this.placement.launch ?? launchHere)(process.execPath, [
      PRAAS_MAIN,
      "start",
      "--port",
      String(this.port),
      ...this.flags,
    ]);
    const child = spawn(command, args, {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.registry.track(child);
    const spawnedAt = performance.now();
    let siloId = `${this.name}#${n}`;
    const output = this.watcher.follow(child, this.name, `${this.name}-${n}.log`, () => siloId);
    const exited = exitOf(child);
    const banner = await new Promise<{ siloId: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        signal(child, "SIGKILL");
        reject(new Error(`${this.name}: praas start not ready in ${readyTimeoutMs} ms:\n${output().slice(-2000)}`));
      }, readyTimeoutMs);
      const onData = (): void => {
        const text = output();
        const id = /PraaS silo (\S+) is up/.exec(text)?.[1];
        if (id !== undefined && text.includes("SIGTERM or Ctrl-C")) {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
          resolve({ siloId: id });
        }
      };
      child.stdout?.on("data", onData);
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`${this.name}: praas start exited (${e.signal ?? e.code}) before it was ready:\n${output()}`));
      });
    });
    siloId = banner.siloId;
    this.startupMs.push(performance.now() - spawnedAt);
    const inc: SiloIncarnation = {
      slot: this.name,
      siloId,
      child,
      pid: child.pid as number,
      httpUrl: this.httpUrl,
      exited,
      output,
    };
    void exited.then((e) => {
      if (!this.#ending) {
        this.watcher.exits.push({ at: this.watcher.now(), slot: this.name, siloId, code: e.code, signal: e.signal });
      }
      if (this.current === inc) this.ready = false;
    });
    return inc;
  }

  /** kill -9 the running incarnation and wait until it is gone. */
  async kill(): Promise<void> {
    this.down = true;
    this.ready = false;
    const inc = this.current;
    if (inc === undefined) return;
    this.#ending = true;
    signal(inc.child, "SIGKILL");
    await inc.exited;
    this.#paused = false;
  }

  /**
   * SIGSTOP: the process freezes (sockets stay open, nothing answers). The
   * slot stays in service until the load balancer's probe times out, so calls
   * keep arriving for a moment, as they would.
   */
  pause(): void {
    const inc = this.current;
    if (inc === undefined) return;
    this.#paused = true;
    signal(inc.child, "SIGSTOP");
  }

  /** SIGCONT after `pause`. */
  resume(): void {
    const inc = this.current;
    if (inc === undefined) return;
    signal(inc.child, "SIGCONT");
    this.#paused = false;
  }

  /** SIGTERM (graceful drain), bounded; SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.down = true;
    this.ready = false;
    const inc = this.current;
    if (inc === undefined) return;
    this.#ending = true;
    if (this.#paused) signal(inc.child, "SIGCONT");
    signal(inc.child, "SIGTERM");
    const timer = setTimeout(() => signal(inc.child, "SIGKILL"), timeoutMs);
    await inc.exited;
    clearTimeout(timer);
  }
}

/** The membership view a silo reports at GET /v1/cluster. */
export interface ClusterJson {
  readonly self: string;
  readonly version: number;
  readonly silos: readonly { readonly id: string; readonly status: string }[];
}

/** GET a silo's JSON endpoint with a deadline; undefined on any failure. */
export async function getJson<T>(url: string, timeoutMs = 1_000): Promise<{ status: number; body: T } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Redis

/**
 * A private redis-server with an append-only file in a folder the runner
 * owns (fsync on every write, so a kill -9 of Redis loses nothing it
 * acknowledged), on a fixed free port so that a restart comes back at the same
 * address. `kill()` + `start()` restarts it with its data; `wipe()` between
 * them restarts it empty.
 */
export class RedisProcess {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly registry: ProcessRegistry,
    readonly placement: Placement,
  ) {}

  /** On a free port of this host, or on `port` where `placement` says (e.g. a network namespace of its own). */
  static async create(
    dir: string,
    registry: ProcessRegistry,
    placement: Placement & { readonly port?: number } = {},
  ): Promise<RedisProcess> {
    await mkdir(dir, { recursive: true });
    // Loaded here, not at the top: @praas/testing brings the S3 server and the AWS SDK, which
    // processes that only use the load generator (load.ts imports this module) need not load.
    const { freePort } = await import("@praas/testing");
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = new RedisProcess(placement.port ?? (await freePort()), dir, registry, placement);
      try {
        await r.start();
        return r;
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  get host(): string {
    return this.placement.host ?? "127.0.0.1";
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  async start(timeoutMs = 15_000): Promise<void> {
    const binary = process.env.REDIS_SERVER_BIN ?? "redis-server";
    const args = [
      ...["--port", String(this.port), "--bind", this.host, "--protected-mode", "no"],
      ...["--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
      ...["--loglevel", "notice"],
    ];
    const [command, argv] = (this.placement.launch ?? launchHere)(binary, args);
    const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
    this.registry.track(child);
    const failed = new Promise<never>((_, reject) =>
      child.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          err.code === "ENOENT"
            ? new Error(
                `${binary} not found: install redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN`,
              )
            : err,
        );
      }),
    );
    const exited = exitOf(child);
    let output = "";
    child.stdout?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      output += c.toString();
    });
    const ok = await Promise.race([
      waitFor(() => output.includes("Ready to accept connections"), timeoutMs, 20),
      exited.then(() => false),
      failed,
    ]);
    if (!ok) {
      signal(child, "SIGKILL");
      await exited;
      throw new Error(`redis-server on port ${this.port} did not start:\n${output.slice(-2000)}`);
    }
    this.#child = child;
  }

  /** kill -9 and wait until it is gone. */
  async kill(): Promise<void> {
    const c = this.#child;
    if (c === undefined) return;
    signal(c, "SIGKILL");
    await exitOf(c);
    this.#child = undefined;
  }

  /** Delete its data (only while it is not running). */
  async wipe(): Promise<void> {
    if (this.#child !== undefined) throw new Error("wipe() needs redis-server stopped");
    for (const f of await readdir(this.dir)) await rm(join(this.dir, f), { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    const c = this.#child;
    if (c === undefined) return;
    signal(c, "SIGTERM");
    const timer = setTimeout(() => signal(c, "SIGKILL"), 5_000);
    await exitOf(c);
    clearTimeout(timer);
    this.#child = undefined;
  }
}

// ---------------------------------------------------------------------------
// S3

export interface S3Info {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/**
 * The S3 test server (s3rver from @praas/testing) in its own process, so its
 * work does not compete with the load generator's event loop. It exits when
 * its stdin closes, i.e. with the runner.
 */
export async function startS3Process(
  registry: ProcessRegistry,
  timeoutMs = 30_000,
  placement: Placement & { readonly port?: number } = {},
): Promise<{ info: S3Info; stop(): Promise<void>; pause(): void; resume(): void }> {
  const where = [...(placement.host === undefined ? [] : [placement.host, String(placement.port ?? 0)])];
  const [command, args] = (placement.launch ?? launchHere)(process.execPath, [S3_CHILD, ...where]);
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  registry.track(child);
  const exited = exitOf(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString();
  });
  const info = await new Promise<S3Info>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`S3 server not ready in ${timeoutMs} ms:\n${err}`)), timeoutMs);
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, nl)) as S3Info);
      } catch (e) {
        reject(e);
      }
    });
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`S3 server exited (${e.signal ?? e.code}):\n${err}`));
    });
  });
  return {
    info,
    // SIGSTOP: the server's kernel still accepts connections and bytes, nothing answers.
    pause: () => signal(child, "SIGSTOP"),
    resume: () => signal(child, "SIGCONT"),
    stop: async () => {
      signal(child, "SIGCONT");
      child.stdin?.end();
      const timer = setTimeout(() => signal(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
