/**
 * The load: concurrent callers on many counter keys through the real
 * WebSocket client (@praas/client), one client per silo gateway. Every call
 * goes into the History with its outcome. Callers pick a gateway the way a
 * load balancer would: only slots the runner has not taken down and whose
 * /readyz said 200.
 *
 * "retry where the caller opts in": the WebSocket protocol has no per-call
 * retry flag (`retry: true` exists on silo-side references only), so callers
 * marked as retrying resend a call that failed with a retryable error
 * themselves — as a new call in the history, so the checker sees every attempt.
 */
import { type NetConnectOpts, connect as netConnect, type Socket } from "node:net";
import { type Client, connect, type WebSocketConstructor } from "@praas/client";
import WebSocket from "ws";
import type { History } from "./history.js";
import { getJson, sleep } from "./processes.js";

/** One counter: actor type and key; `id` ("Type/key") is its key in the history. */
export interface CounterKey {
  readonly type: string;
  readonly key: string;
  readonly id: string;
}

export function counterKeys(type: string, count: number, prefix = "k"): CounterKey[] {
  return Array.from({ length: count }, (_, i) => {
    const key = `${prefix}${String(i).padStart(2, "0")}`;
    return { type, key, id: `${type}/${key}` };
  });
}

/** A deterministic PRNG (mulberry32), so a seed replays the same choices. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, list: readonly T[]): T | undefined {
  return list.length === 0 ? undefined : list[Math.floor(random() * list.length)];
}

/**
 * What callers and the readiness probe need of a silo's gateway: a `SiloSlot`,
 * or a plain object in a process that does not run the silo (the multi-host
 * suite's load generator).
 */
export interface GatewayTarget {
  readonly name: string;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /** Taken out of service by the runner: no call goes there. */
  readonly down: boolean;
  /** Is its process running? */
  readonly alive: boolean;
  /** The last /readyz answer (a load balancer's view). */
  ready: boolean;
}

/** A slot's gateway as the callers see it: the slot and its WebSocket client. */
export class Gateway {
  #client: Client | undefined;
  #connecting: Promise<void> | undefined;
  /** The TCP connections its client made (see `renew`). */
  readonly #sockets = new Set<Socket>();

  /** `token`: the gateway's bearer token, if it needs one. */
  constructor(
    readonly slot: GatewayTarget,
    readonly token?: string,
  ) {}

  get name(): string {
    return this.slot.name;
  }

  get client(): Client | undefined {
    return this.#client;
  }

  /** Connect once; the client reconnects by itself to later incarnations on the same port. */
  connect(): Promise<void> {
    this.#connecting ??= connect(this.slot.wsUrl, {
      timeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      maxQueuedCalls: 10_000,
      WebSocket: trackedWebSocket(this.#sockets),
      ...(this.token === undefined ? {} : { token: this.token }),
    }).then(
      (c) => {
        this.#client = c;
      },
      (err: unknown) => {
        this.#connecting = undefined;
        throw err;
      },
    );
    return this.#connecting;
  }

  /**
   * Reset this gateway's connections and connect afresh. A reset (TCP RST)
   * drops what a connection still holds to send; a plain close would not:
   * after a network cut, a call that timed out at its caller can sit in the
   * kernel's send queue and be delivered, and run, seconds after the cut
   * heals. Done when the load stops, so that nothing it sent can still arrive
   * while the final values are read.
   */
  async renew(): Promise<void> {
    const old = this.#client;
    this.#client = undefined;
    this.#connecting = undefined;
    const closing = old?.close().catch(() => {});
    for (const socket of this.#sockets) socket.resetAndDestroy();
    this.#sockets.clear();
    await closing;
    await this.connect();
  }

  /**
   * Would a load balancer send a call here now? (A client that went idle after
   * a disconnect reconnects on its next call.)
   */
  get usable(): boolean {
    return this.#client !== undefined && !this.slot.down && this.slot.ready && this.#client.state !== "closed";
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }
}

/** A `ws` WebSocket whose TCP connections are kept in `sockets` (while open), for `Gateway.renew`. */
function trackedWebSocket(sockets: Set<Socket>): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      const options: WebSocket.ClientOptions = {
        perMessageDeflate: false,
        // ws's own choice, netConnect, through our hands (its type also admits a TLS connect).
        createConnection: ((opts: NetConnectOpts) => {
          const socket = netConnect(opts);
          sockets.add(socket);
          socket.once("close", () => sockets.delete(socket));
          return socket;
        }) as WebSocket.ClientOptions["createConnection"],
      };
      super(url, options);
    }
  } as unknown as WebSocketConstructor;
}

/** Probe every slot's /readyz every `everyMs` (a load balancer's health check). */
export function probeReadiness(slots: readonly GatewayTarget[], everyMs = 250): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(
        slots.map(async (s) => {
          if (s.down || !s.alive) {
            s.ready = false;
            return;
          }
          const r = await getJson<unknown>(`${s.httpUrl}/readyz`, 1_000);
          s.ready = r?.status === 200 && !s.down;
        }),
      );
      await sleep(everyMs);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

export interface LoadOptions {
  /** Concurrent callers. */
  readonly workers: number;
  /** Calls per second over all callers (paced, so the shared machine is not saturated). */
  readonly ratePerSec: number;
  /** Share of calls that are reads (`get`). */
  readonly readFraction: number;
  /** Every k-th caller opts in to retries (0: none). */
  readonly retryEvery: number;
  /** Deadline of each call, ms. */
  readonly callTimeoutMs: number;
}

const RETRY_PAUSES_MS = [50, 200, 800] as const;

/** Codes a caller may resend on (the call may or may not have run: the history counts it as unknown). */
export function isRetryable(err: unknown): boolean {
  return (err as { retryable?: unknown } | null)?.retryable === true;
}

export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return `UNCODED:${(err as Error | null)?.name ?? typeof err}`;
}

/** Calls as the application sees them: one per caller request, however many attempts (retries) it took. */
export interface LogicalCalls {
  /** Requests finished. */
  calls: number;
  /** Requests whose last attempt failed (after any retries). */
  failed: number;
  /** Requests that needed more than one attempt. */
  retried: number;
}

export class LoadGenerator {
  #stopped = false;
  /** Per request rather than per attempt (the history records every attempt). */
  readonly logical: LogicalCalls = { calls: 0, failed: 0, retried: 0 };
  #workers: Promise<void>[] = [];
  #nextSlot = 0;
  /** Keys callers may pick now (the soak narrows it). */
  active: readonly CounterKey[];

  constructor(
    readonly history: History,
    readonly gateways: readonly Gateway[],
    readonly keys: readonly CounterKey[],
    readonly options: LoadOptions,
    readonly random: () => number,
  ) {
    this.active = keys;
  }

  start(): void {
    for (let w = 0; w < this.options.workers; w++) {
      const retrying = this.options.retryEvery > 0 && w % this.options.retryEvery === 0;
      this.#workers.push(this.#worker(retrying));
    }
  }

  /** Stop issuing calls and wait for the calls in flight (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#workers);
    this.#workers = [];
  }

  /** Paced: each call takes the next slot of a shared schedule. */
  async #pace(): Promise<void> {
    const gap = 1000 / this.options.ratePerSec;
    const now = performance.now();
    const at = Math.max(now, this.#nextSlot);
    this.#nextSlot = at + gap;
    if (at > now) await sleep(at - now);
  }

  async #worker(retrying: boolean): Promise<void> {
    while (!this.#stopped) {
      await this.#pace();
      if (this.#stopped) break;
      const gateway = this.pickGateway();
      const target = pick(this.random, this.active);
      if (gateway === undefined || target === undefined) {
        await sleep(50);
        continue;
      }
      const kind = this.random() < this.options.readFraction ? "read" : "add";
      let g: Gateway | undefined = gateway;
      let succeeded = false;
      for (let attempt = 0; g !== undefined; attempt++) {
        if (attempt === 1) this.logical.retried++;
        const ok = await this.call(g, target, kind);
        succeeded = ok === true;
        if (ok === true || !retrying || !ok.retryable || attempt >= RETRY_PAUSES_MS.length || this.#stopped) break;
        await sleep(RETRY_PAUSES_MS[attempt] as number);
        // Resend through a gateway in service (never back into one taken down); give up if none comes.
        g = await this.#usableGateway(this.options.callTimeoutMs);
      }
      this.logical.calls++;
      if (!succeeded) this.logical.failed++;
    }
  }

  /** A usable gateway, waiting (bounded) for one; undefined if none came or the load stopped. */
  async #usableGateway(ms: number): Promise<Gateway | undefined> {
    const until = performance.now() + ms;
    for (;;) {
      const g = this.pickGateway();
      if (g !== undefined || this.#stopped || performance.now() >= until) return g;
      await sleep(50);
    }
  }

  /** A gateway a load balancer would use now, at random. */
  pickGateway(): Gateway | undefined {
    return pick(
      this.random,
      this.gateways.filter((g) => g.usable),
    );
  }

  /**
   * After a fault: read every active key at once and again until each read
   * succeeds (bounded), so that every key has a call in flight from the fault
   * on and recovery is measured without waiting for the random load to come
   * by. The probes are reads in the history like any other.
   */
  async probe(boundMs: number): Promise<void> {
    const until = performance.now() + boundMs;
    await Promise.all(
      this.active.map(async (key) => {
        while (performance.now() < until && !this.#stopped) {
          const g = this.pickGateway();
          if (g !== undefined && (await this.call(g, key, "read", "probe")) === true) return;
          await sleep(50);
        }
      }),
    );
  }

  /** One call through `gateway`, recorded in the history. */
  async call(
    gateway: Gateway,
    target: CounterKey,
    kind: "add" | "read",
    purpose = "",
  ): Promise<true | { retryable: boolean }> {
    const client = gateway.client;
    const p = this.history.begin(target.id, kind, {
      via: purpose === "" ? gateway.name : `${gateway.name}/${purpose}`,
    });
    if (client === undefined) {
      p.fail("NO_CLIENT");
      return { retryable: true };
    }
    try {
      const value = await client.call(
        target.type,
        target.key,
        kind === "add" ? "add" : "get",
        kind === "add" ? [1] : [],
        {
          timeoutMs: this.options.callTimeoutMs,
        },
      );
      if (typeof value !== "number") {
        p.fail("NON_NUMERIC_RESULT");
        return { retryable: false };
      }
      p.ok(value);
      return true;
    } catch (err) {
      const code = codeOf(err);
      p.fail(code);
      return { retryable: isRetryable(err) };
    }
  }
}
