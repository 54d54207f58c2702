import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";

/** A redis-server child process that this test run owns. */
export interface RedisTestServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stop the server (SIGTERM, then SIGKILL if it lingers) and remove its folder. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** The binary to run (default: `$REDIS_SERVER_BIN` or `redis-server` on the PATH). */
  readonly binary?: string;
  /** Give up waiting for "Ready to accept connections" after this long (default 15 s). */
  readonly startTimeoutMs?: number;
}

/** The redis-server binary is not installed. The message says how to install it. */
export class RedisServerNotFoundError extends Error {
  readonly code = "REDIS_SERVER_NOT_FOUND";
  constructor(binary: string) {
    super(
      `redis-server not found (tried "${binary}"): install it with \`apt-get install redis-server\` ` +
        "(or `brew install redis`), or point REDIS_SERVER_BIN at the binary",
    );
    this.name = "RedisServerNotFoundError";
  }
}

const READY = "Ready to accept connections";

/**
 * Start a private redis-server on a free loopback port: no persistence (`--save ""
 * --appendonly no`), its own temp folder, never the shared 6379. Resolves once the
 * server logs that it accepts connections.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisTestServer> {
  const binary = options.binary ?? process.env.REDIS_SERVER_BIN ?? "redis-server";
  const dir = await mkdtemp(join(tmpdir(), "praas-redis-"));
  let lastError: unknown;
  // The free port can be taken between our probe and redis' bind: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnRedis(binary, port, dir, options.startTimeoutMs ?? 15_000);
      return {
        url: `redis://127.0.0.1:${port}`,
        host: "127.0.0.1",
        port,
        stop: async () => {
          await terminate(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      if (err instanceof RedisServerNotFoundError) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function spawnRedis(binary: string, port: number, dir: string, timeoutMs: number): Promise<ChildProcess> {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--protected-mode",
    "no",
    "--loglevel",
    "notice",
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let settled = false;
    const finish = (err: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.removeListener("data", onData);
      if (err === undefined) {
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      } else {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(READY)) finish(undefined);
    };
    const timer = setTimeout(
      () => finish(new Error(`redis-server did not start within ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", (err: NodeJS.ErrnoException) => {
      finish(err.code === "ENOENT" ? new RedisServerNotFoundError(binary) : err);
    });
    child.once("exit", (code, signal) => {
      finish(new Error(`redis-server exited (${signal ?? `code ${code}`}) before it was ready:\n${output}`));
    });
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
