/**
 * Whether Redis is reachable, as one silo's operator should hear it: one line
 * when it goes, one when it is back — not one per connection per retry. Every
 * ioredis client the runtime creates reports here (which also gives it the
 * error listener without which ioredis prints "Unhandled error event"), and
 * so does the membership heartbeat, which notices a partition that no socket
 * error reveals.
 */
import { type LogFunction, PraasError, type RetryPolicy, retryDelay } from "@praas/core/internal";
import { Redis } from "ioredis";

/** Redis could not be reached in time (at start: `praas start` exits 2). */
export class RedisUnavailableError extends PraasError {
  constructor(where: string, waitedMs: number, attempts: number, cause: unknown) {
    const last = cause === undefined ? "" : `; last error: ${describeError(cause)}`;
    super(
      "REDIS_UNAVAILABLE",
      `Redis at ${where} did not answer within ${(waitedMs / 1000).toFixed(1)} s (${attempts} connection attempt${attempts === 1 ? "" : "s"}${last})`,
      { retryable: true, cause },
    );
  }
}

/** One source of evidence: a connection, or the membership heartbeat. */
export interface HealthSource {
  ok(): void;
  failed(error: unknown): void;
  /** The source is gone (its connection was closed on purpose). */
  release(): void;
}

class RedisHealth {
  readonly #where: string;
  readonly #log: LogFunction;
  /** Sources failing now, with their last error. */
  readonly #failing = new Map<object, unknown>();
  /** When the outage was announced (undefined: Redis is considered reachable). */
  #downSince: number | undefined;

  constructor(where: string, log: LogFunction) {
    this.#where = where;
    this.#log = log;
  }

  failed(source: object, error: unknown): void {
    this.#failing.set(source, error);
    if (this.#downSince !== undefined) return;
    this.#downSince = performance.now();
    this.#log("warn", `Redis at ${this.#where} is unreachable (${describeError(error)}); retrying`);
  }

  ok(source: object): void {
    this.#failing.delete(source);
    if (this.#downSince === undefined || this.#failing.size > 0) return;
    const seconds = ((performance.now() - this.#downSince) / 1000).toFixed(1);
    this.#downSince = undefined;
    this.#log("info", `Redis at ${this.#where} is reachable again (after ${seconds} s)`);
  }

  release(source: object): void {
    this.#failing.delete(source);
    // Nobody is left to tell that it came back: forget the outage quietly.
    if (this.#failing.size === 0) this.#downSince = undefined;
  }
}

/** One tracker per Redis server and log function, shared by every client of this process. */
const trackers = new WeakMap<LogFunction, Map<string, RedisHealth>>();

function trackerOf(where: string, log: LogFunction): RedisHealth {
  let byWhere = trackers.get(log);
  if (byWhere === undefined) {
    byWhere = new Map();
    trackers.set(log, byWhere);
  }
  let t = byWhere.get(where);
  if (t === undefined) {
    t = new RedisHealth(where, log);
    byWhere.set(where, t);
  }
  return t;
}

/** "host:port" (or the socket path) of a client, without credentials. */
export function redisAddress(client: Redis): string {
  const o = client.options;
  return o.path !== undefined && o.path !== "" ? o.path : `${o.host ?? "127.0.0.1"}:${o.port ?? 6379}`;
}

/**
 * Which server and database a client talks to, as "host:port/db" (or
 * "path/db" on a Unix socket): two clients with the same one see the same keys.
 */
export function redisServer(client: Redis): string {
  return `${redisAddress(client)}/${client.options.db ?? 0}`;
}

/** A source for evidence other than a connection's own events (the heartbeat). */
export function healthSource(client: Redis, log: LogFunction): HealthSource {
  const tracker = trackerOf(redisAddress(client), log);
  const source = {};
  return {
    ok: () => tracker.ok(source),
    failed: (error) => tracker.failed(source, error),
    release: () => tracker.release(source),
  };
}

/**
 * Listen to a client the runtime created: its connection errors count as
 * "Redis unreachable", its reconnection as "back". Never throws, never logs per retry.
 */
export function watchRedis(client: Redis, log: LogFunction): void {
  const source = healthSource(client, log);
  client.on("error", (error: unknown) => source.failed(error));
  client.on("ready", () => source.ok());
  client.on("end", () => source.release());
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0] ?? error.name;
  return String(error);
}

/**
 * Wait until `client` is connected and ready, connecting it if it was created
 * with `lazyConnect`; ioredis retries the connection meanwhile. Rejects with
 * {@link RedisUnavailableError} after `timeoutMs` (the client keeps retrying
 * in the background until it is closed).
 */
export function whenReachable(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let attempts = 0;
    let last: unknown;
    const onError = (error: unknown): void => {
      attempts++;
      last = error;
    };
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const timer = setTimeout(
      () => {
        cleanup();
        reject(new RedisUnavailableError(redisAddress(client), performance.now() - started, attempts, last));
      },
      Math.max(0, timeoutMs),
    );
    const onEnd = (): void => {
      cleanup();
      reject(
        new RedisUnavailableError(redisAddress(client), performance.now() - started, attempts, new Error("closed")),
      );
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      client.removeListener("error", onError);
      client.removeListener("ready", onReady);
      client.removeListener("end", onEnd);
    };
    if (client.status === "wait" || client.status === "end") client.connect().catch(() => {});
    client.on("error", onError);
    client.once("ready", onReady);
    // Closed while waiting (the provider was closed): no point waiting any longer.
    client.once("end", onEnd);
  });
}

/**
 * Reject with `onTimeout()` if `promise` has not settled after `ms`. The
 * original promise is still observed, so its late rejection is never unhandled.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  promise.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Reconnection pauses of the start-up probe: 100 ms, doubling, at most 1 s. */
const PROBE_RECONNECT: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 1_000, jitter: "none" };

/**
 * Check that Redis answers at `url` within `timeoutMs`, retrying the
 * connection meanwhile (for start-up checks). Rejects with {@link RedisUnavailableError}.
 */
export async function waitForRedis(url: string, options: { readonly timeoutMs: number }): Promise<void> {
  const client = new Redis(url, {
    connectionName: "praas-probe",
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => retryDelay(PROBE_RECONNECT, attempt),
  });
  client.on("error", () => {
    // Counted by whenReachable; the outcome is its verdict.
  });
  try {
    await whenReachable(client, options.timeoutMs);
    await client.ping();
  } finally {
    client.disconnect();
  }
}
