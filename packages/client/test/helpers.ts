/**
 * Client test fixtures: actors, a silo + gateway on a free port, and a TCP
 * proxy between client and gateway that the test can cut and restore (a real
 * network outage, as the client sees one) or point at another gateway.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { Actor, MemoryStateStore } from "@praas/core";
import { type Gateway, type GatewayOptions, Silo, startGateway } from "@praas/silo";

const gates = new Map<string, () => void>();
const gatePromises = new Map<string, Promise<void>>();
export function gate(name: string): Promise<void> {
  let p = gatePromises.get(name);
  if (p === undefined) {
    p = new Promise<void>((resolve) => gates.set(name, resolve));
    gatePromises.set(name, p);
  }
  return p;
}
export function openGate(name: string): void {
  void gate(name);
  gates.get(name)?.();
}

export class Counter extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  async add(n: number): Promise<number> {
    this.state.value += n;
    this.emit("changed", this.state.value);
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
  async fail(code: string): Promise<never> {
    throw Object.assign(new Error(`failed (${code})`), { code });
  }
  async wait(name: string): Promise<string> {
    await gate(name);
    return name;
  }
  async subscribers(event?: string): Promise<number> {
    return this.subscriberCount(event);
  }
  async echo<T>(value: T): Promise<T> {
    return value;
  }
}

export interface Served {
  readonly silo: Silo;
  readonly gw: Gateway;
  stop(): Promise<void>;
}

export async function serve(options: GatewayOptions = {}, store = new MemoryStateStore()): Promise<Served> {
  const silo = await Silo.start({ actors: [Counter], storage: store });
  const gw = await startGateway(silo, { port: 0, ...options });
  return {
    silo,
    gw,
    async stop() {
      for (const open of gates.values()) open();
      await gw.close({ drainTimeoutMs: 1000 });
      await silo.stop();
    },
  };
}

/** A TCP forwarder the test controls: `down()` cuts every connection and refuses new ones until `up()`. */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #down = false;
  targetPort: number;
  port = 0;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
    this.#server = createServer((client) => {
      if (this.#down) {
        client.destroy();
        return;
      }
      const upstream = tcpConnect(this.targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => p.#server.listen(0, "127.0.0.1", resolve));
    p.port = (p.#server.address() as { port: number }).port;
    return p;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  down(): void {
    this.#down = true;
    for (const s of this.#sockets) s.destroy();
  }

  up(): void {
    this.#down = false;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Collects events and lets a test await the n-th one. */
export class Collector<T> {
  readonly items: T[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    for (const w of [...this.#waiters]) {
      if (this.items.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  /** Resolves once at least `n` items arrived. */
  count(n: number): Promise<T[]> {
    if (this.items.length >= n) return Promise.resolve(this.items);
    return new Promise((resolve) => this.#waiters.push({ n, resolve: () => resolve(this.items) }));
  }
}

/** The next time `on(event)` fires. */
export function once<T>(on: (listener: (value: T) => void) => () => void): Promise<T> {
  return new Promise((resolve) => {
    const off = on((v) => {
      off();
      resolve(v);
    });
  });
}
