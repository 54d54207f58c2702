/**
 * Shared pieces of the gateway tests: actors, a silo + gateway on a free port,
 * and a raw WebSocket peer that speaks the wire protocol byte by byte (so the
 * tests see exactly what a client of any language would).
 */
import { Actor, decode, encodeTrusted, MemoryStateStore, PraasError } from "@praas/core/internal";
import { Schema } from "effect";
import { WebSocket } from "ws";
import { type Gateway, type GatewayOptions, Silo } from "../src/index.js";

/** Gates that test code opens to let a waiting actor method finish (no sleeps). */
const gates = new Map<string, { promise: Promise<void>; open: () => void }>();
export function gate(name: string): { promise: Promise<void>; open: () => void } {
  let g = gates.get(name);
  if (g === undefined) {
    let open!: () => void;
    const promise = new Promise<void>((r) => {
      open = r;
    });
    g = { promise, open };
    gates.set(name, g);
  }
  return g;
}
export function resetGates(): void {
  for (const g of gates.values()) g.open();
  gates.clear();
}

/** How many `wait` calls are running right now, and the most seen at once. */
export const running = { now: 0, max: 0 };

export class Counter extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  async add(n: number): Promise<number> {
    this.state.value += n;
    this.emit("changed", this.state.value);
    return this.state.value;
  }
  async get(): Promise<number> {
    return this.state.value;
  }
  async fail(code: string): Promise<never> {
    throw Object.assign(new Error(`failed on purpose (${code})`), { code });
  }
  /** Wait for gate `name` to open. */
  async wait(name: string): Promise<string> {
    running.now++;
    running.max = Math.max(running.max, running.now);
    try {
      await gate(name).promise;
      return name;
    } finally {
      running.now--;
    }
  }
  async shout(event: string, payload: unknown): Promise<void> {
    this.emit(event, payload);
  }
  async subscribers(event?: string): Promise<number> {
    return this.subscriberCount(event);
  }
  async values(): Promise<unknown> {
    return {
      map: new Map<unknown, unknown>([
        ["a", 1],
        ["b", 2],
      ]),
      odd: new Map<unknown, unknown>([[[1], "x"]]),
      set: new Set([1, 2]),
      big: 12345678901234567890n,
      bytes: new Uint8Array([1, 2, 3]),
      date: new Date(0),
      nothing: undefined,
    };
  }
}

const Message = Schema.Struct({ user: Schema.String, text: Schema.String.check(Schema.isMaxLength(20)) });

export class Room extends Actor<{ log: { user: string; text: string }[] }> {
  static initialState() {
    return { log: [] };
  }
  static schemas = {
    post: Schema.Tuple([Message]),
    // A plain validator function works too.
    rename: (args: readonly unknown[]) => {
      if (args.length !== 1 || typeof args[0] !== "string") throw new Error("expected one string");
    },
  };
  async post(m: { user: string; text: string }): Promise<number> {
    this.state.log.push(m);
    this.emit("message", m);
    return this.state.log.length;
  }
  async rename(name: string): Promise<string> {
    return name.toUpperCase();
  }
}

/** A → B → A: a deadlock the silo detects (409 over HTTP). */
export class Ping extends Actor {
  async ping(depth: number): Promise<string> {
    return this.ref(Pong, this.key).pong(depth);
  }
}
export class Pong extends Actor {
  async pong(depth: number): Promise<string> {
    return this.ref(Ping, this.key).ping(depth + 1);
  }
}

export interface Served {
  readonly silo: Silo;
  readonly gw: Gateway;
  stop(): Promise<void>;
}

export async function serve<P = unknown>(options: GatewayOptions<P> = {}): Promise<Served> {
  const silo = await Silo.start({ actors: [Counter, Room, Ping, Pong], storage: new MemoryStateStore() });
  const { startGateway } = await import("../src/index.js");
  const gw = await startGateway<P>(silo, { port: 0, ...options });
  return {
    silo,
    gw,
    async stop() {
      resetGates();
      await gw.close({ drainTimeoutMs: 1000 });
      await silo.stop();
    },
  };
}

export type Frame = Record<string, unknown>;

/** A raw protocol peer: frames in a queue you await, raw bytes out. */
export class Peer {
  readonly ws: WebSocket;
  readonly #frames: Frame[] = [];
  readonly #waiters: ((f: Frame) => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  #nextId = 1;

  constructor(url: string, headers?: Record<string, string>) {
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false });
    this.ws.on("message", (data: Buffer) => {
      const f = decode(data) as Frame;
      const w = this.#waiters.shift();
      if (w !== undefined) w(f);
      else this.#frames.push(f);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on("open", () => resolve());
      this.ws.on("error", reject);
    });
    this.ws.on("error", () => {});
  }

  /** Open and read the hello frame. */
  static async open(url: string, headers?: Record<string, string>): Promise<{ peer: Peer; hello: Frame }> {
    const peer = new Peer(url, headers);
    await peer.opened;
    const hello = await peer.next();
    return { peer, hello };
  }

  next(): Promise<Frame> {
    const f = this.#frames.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  send(frame: Frame): void {
    this.ws.send(encodeTrusted(frame));
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes, { binary: typeof bytes !== "string" });
  }

  id(): number {
    return this.#nextId++;
  }

  /** Send a call and await its answer (the next ok/err frame with this id; event frames in between are kept). */
  async call(type: string, key: string, method: string, args: unknown[], extra: Frame = {}): Promise<Frame> {
    const id = this.id();
    this.send({ t: "call", id, type, key, method, args, ...extra });
    return this.answer(id);
  }

  /** The answer to request `id`, keeping other frames in order for later `next()` calls. */
  async answer(id: number | null): Promise<Frame> {
    const skipped: Frame[] = [];
    for (;;) {
      const f = await this.next();
      if ((f.t === "ok" || f.t === "err") && f.id === id) {
        this.#frames.unshift(...skipped);
        return f;
      }
      skipped.push(f);
    }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** The error record of an err frame. */
export function errorOf(f: Frame): { code: string; message: string; name: string } {
  if (f.t !== "err") throw new PraasError("TEST", `expected an err frame, got ${JSON.stringify(f)}`);
  return f.error as { code: string; message: string; name: string };
}
