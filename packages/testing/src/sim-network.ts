/**
 * The in-memory network of a test cluster: silo-to-silo connections without
 * sockets, every frame delivered by one seeded scheduler.
 *
 * Each silo of a TestCluster is a node. Its connector (`connectorFor`) hands
 * the silo's transport sockets that behave like `ws` WebSockets — binary
 * messages, close codes, ping/pong — but whose frames go into this network's
 * queue. `step()` delivers one frame: among the frames that may go now (their
 * delay has passed, neither end is paused), one channel's oldest frame is
 * picked with the seeded generator. Frames of one connection and direction
 * keep their order, as on TCP, unless the link between the two nodes has
 * `reorder` set. The same seed and the same test therefore give the same
 * interleaving of frames between silos.
 *
 * Faults between two nodes (`setLink`): extra delay, drop, duplicate, reorder.
 * A partition (`cut`) resets the connections between the two nodes (both ends
 * see close code 1006, as after a TCP reset) and refuses new ones until healed.
 * `crash` resets every connection of a node and stops its listener;
 * `pause` holds every frame to or from it until `resume`.
 */
import { EventEmitter } from "node:events";
import type { SiloConnector } from "@praas/silo";
import type { WebSocket } from "ws";
import type { Prng } from "./prng.js";

/** Close code of a connection that ended without a close handshake (reset, crash, partition). */
export const ABNORMAL_CLOSURE = 1006;

/** Faults on the link between two nodes (both directions). */
export interface LinkFaults {
  /** Extra delay of every frame, in ms of cluster time (default 0). */
  readonly delayMs?: number;
  /** Up to this much more, drawn per frame (default 0). */
  readonly jitterMs?: number;
  /**
   * Probability that a frame is lost silently (default 0). TCP never does this:
   * calls whose frame or reply is lost end by their deadline, and a graceful
   * drain waits for them until its own deadline. Handshakes are spared.
   */
  readonly dropRate?: number;
  /**
   * Probability that a frame breaks its connection (default 0): the frame and
   * everything after it is lost and both ends see close code 1006, as when a
   * TCP connection resets. The faithful way to lose frames.
   */
  readonly resetRate?: number;
  /** Probability that a frame arrives twice (default 0). TCP never does this: it makes a call run twice. */
  readonly duplicateRate?: number;
  /** Frames of one connection may overtake each other (default false). */
  readonly reorder?: boolean;
}

export interface NetworkStats {
  delivered: number;
  dropped: number;
  duplicated: number;
  /** Connections reset by a crash, a partition or `resetRate`. */
  resets: number;
  /** Dials that found nobody (crashed, partitioned, not listening): unanswered until a heal, or given up. */
  refused: number;
}

type Payload =
  | { readonly kind: "data"; readonly bytes: Buffer }
  | { readonly kind: "close"; readonly code: number; readonly reason: string }
  | { readonly kind: "connect"; readonly address: string };

interface Frame {
  readonly payload: Payload;
  readonly readyAt: number;
  readonly seq: number;
}

/** One direction of one connection (or a pending dial): frames in order. */
interface Channel {
  readonly id: number;
  readonly from: number;
  readonly to: number;
  /** Where frames are delivered (undefined for a dial not answered yet). */
  target: SimSocket | undefined;
  /** The dialling socket, for "connect" frames. */
  readonly dialer: SimSocket | undefined;
  readonly frames: Frame[];
}

interface Listener {
  readonly node: number;
  readonly accept: (socket: WebSocket) => void;
}

const pairKey = (a: number, b: number): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** A WebSocket stand-in for the silo transport (the subset peer-connection.ts uses). */
export class SimSocket extends EventEmitter {
  binaryType = "nodebuffer";
  readonly bufferedAmount = 0;
  /** peer-connection.ts raises the frame limit through ws' receiver once authenticated. */
  readonly _receiver = { _maxPayload: 0 };
  #open = true;
  #closeEmitted = false;
  /** The channel carrying frames from this socket to its peer (set when connected). */
  out: Channel | undefined;
  peer: SimSocket | undefined;
  readonly #net: SimNetwork;
  readonly node: number;

  constructor(net: SimNetwork, node: number) {
    super();
    this.#net = net;
    this.node = node;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  send(data: Uint8Array, cb?: (err?: Error) => void): void {
    if (!this.#open || this.out === undefined) {
      if (cb !== undefined) queueMicrotask(() => cb(new Error("socket is not open")));
      return;
    }
    this.#net.enqueue(this.out, { kind: "data", bytes: Buffer.from(data) });
    if (cb !== undefined) queueMicrotask(() => cb());
  }

  close(code = 1000, reason = ""): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.out === undefined) {
      // A dial not answered yet: give it up.
      this.#net.abandon(this);
      this.emitClose(ABNORMAL_CLOSURE, "");
      return;
    }
    this.#net.enqueue(this.out, { kind: "close", code, reason });
  }

  terminate(): void {
    if (this.#closeEmitted) return;
    this.#open = false;
    this.#net.reset(this);
  }

  ping(): void {
    if (this.#open) queueMicrotask(() => this.#open && this.emit("pong"));
  }

  /** Deliver a frame from the peer. */
  receive(bytes: Buffer): void {
    if (!this.#closeEmitted) this.emit("message", bytes, true);
  }

  emitClose(code: number, reason: string): void {
    this.#open = false;
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.emit("close", code, Buffer.from(reason));
  }
}

export class SimNetwork {
  readonly stats: NetworkStats = { delivered: 0, dropped: 0, duplicated: 0, resets: 0, refused: 0 };
  readonly #prng: Prng;
  readonly #now: () => number;
  readonly #channels = new Map<number, Channel>();
  readonly #listeners = new Map<string, Listener>();
  readonly #links = new Map<string, LinkFaults>();
  readonly #cuts = new Set<string>();
  readonly #paused = new Set<number>();
  readonly #crashed = new Set<number>();
  readonly #sockets = new Set<SimSocket>();
  /** Dials that found nobody, waiting for a heal (in order). */
  #parked: { readonly client: SimSocket; readonly address: string }[] = [];
  #nextChannel = 1;
  #seq = 0;
  #ports = 0;
  /** FNV-1a over what was delivered, between whom: equal for equal interleavings. */
  #trace = 0x811c9dc5;
  /** With PRAAS_SIM_TRACE=1: every delivery, in order (for finding where two runs part). */
  readonly deliveries: string[] = [];
  /** Called whenever a frame is queued (the cluster's driver sleeps until then). */
  onEnqueue: (() => void) | undefined;

  constructor(prng: Prng, now: () => number) {
    this.#prng = prng;
    this.#now = now;
  }

  /** A digest of every delivery so far (node pairs, kinds, sizes, order). */
  get trace(): string {
    return (this.#trace >>> 0).toString(16).padStart(8, "0");
  }

  /** The connector a silo of node `node` uses instead of TCP. */
  connectorFor(node: number): SiloConnector {
    return {
      listen: async (_siloId, accept) => {
        const host = `sim-node-${node}`;
        const port = ++this.#ports;
        const address = `${host}:${port}`;
        this.#listeners.set(address, { node, accept });
        return {
          host,
          port,
          close: async () => {
            this.#listeners.delete(address);
          },
        };
      },
      random: () => this.#prng.next(),
      dial: (_fromId, address) => {
        const socket = new SimSocket(this, node);
        this.#sockets.add(socket);
        const to = this.#listeners.get(address)?.node ?? -1;
        const channel = this.#channel(node, to, undefined, socket);
        this.enqueue(channel, { kind: "connect", address });
        return socket as unknown as WebSocket;
      },
    };
  }

  /** Set (replace) the faults on the link between nodes `a` and `b`; `{}` clears them. */
  setLink(a: number, b: number, faults: LinkFaults): void {
    if (Object.keys(faults).length === 0) this.#links.delete(pairKey(a, b));
    else this.#links.set(pairKey(a, b), { ...faults });
  }

  linkOf(a: number, b: number): LinkFaults {
    return this.#links.get(pairKey(a, b)) ?? {};
  }

  /** Cut the link between `a` and `b`: connections reset, dials refused, until `heal`. */
  cut(a: number, b: number): void {
    this.#cuts.add(pairKey(a, b));
    for (const s of [...this.#sockets]) {
      if (s.peer !== undefined && pairKey(s.node, s.peer.node) === pairKey(a, b)) this.reset(s);
    }
  }

  heal(a: number, b: number): void {
    this.#cuts.delete(pairKey(a, b));
    this.#retryParked();
  }

  /** Heal every cut and clear every link fault. */
  healAll(): void {
    this.#cuts.clear();
    this.#links.clear();
    this.#retryParked();
  }

  isCut(a: number, b: number): boolean {
    return this.#cuts.has(pairKey(a, b));
  }

  /** Node `node` died: its connections reset, its listeners gone, its frames lost. */
  crash(node: number): void {
    this.#crashed.add(node);
    this.#paused.delete(node);
    for (const [address, l] of this.#listeners) if (l.node === node) this.#listeners.delete(address);
    for (const s of [...this.#sockets]) if (s.node === node) this.reset(s);
  }

  /** A restarted node (new silo, new listener) may use the network again. */
  revive(node: number): void {
    this.#crashed.delete(node);
    this.#retryParked();
  }

  pause(node: number): void {
    this.#paused.add(node);
  }

  resume(node: number): void {
    this.#paused.delete(node);
  }

  /** Frames waiting (deliverable now or later). */
  get queued(): number {
    let n = 0;
    for (const c of this.#channels.values()) n += c.frames.length;
    return n;
  }

  /** When the next held-back (delayed) frame becomes deliverable; undefined if none waits on time. */
  nextReadyAt(): number | undefined {
    let next: number | undefined;
    for (const c of this.#channels.values()) {
      if (this.#held(c) || c.frames.length === 0) continue;
      // In order: only the head can go next (a frame queued while the link reordered may be ready before it).
      const frames = this.linkOf(c.from, c.to).reorder === true ? c.frames : c.frames.slice(0, 1);
      for (const f of frames) if (next === undefined || f.readyAt < next) next = f.readyAt;
    }
    return next;
  }

  /** Deliver one frame that may go now, chosen by the seeded generator. False if none may. */
  step(): boolean {
    const now = this.#now();
    const candidates: { channel: Channel; index: number }[] = [];
    for (const c of this.#channels.values()) {
      if (c.frames.length === 0 || this.#held(c)) continue;
      if (this.linkOf(c.from, c.to).reorder === true) {
        c.frames.forEach((f, index) => {
          if (f.readyAt <= now) candidates.push({ channel: c, index });
        });
      } else if ((c.frames[0] as Frame).readyAt <= now) candidates.push({ channel: c, index: 0 });
    }
    if (candidates.length === 0) return false;
    const { channel, index } =
      candidates.length === 1 ? (candidates[0] as (typeof candidates)[0]) : this.#prng.pick(candidates);
    const [frame] = channel.frames.splice(index, 1) as [Frame];
    this.#deliver(channel, frame);
    return true;
  }

  // ---- used by SimSocket ----

  enqueue(channel: Channel, payload: Payload): void {
    const link = this.linkOf(channel.from, channel.to);
    let readyAt = this.#now();
    if (payload.kind === "data" && (link.delayMs !== undefined || link.jitterMs !== undefined)) {
      readyAt += (link.delayMs ?? 0) + (link.jitterMs ? this.#prng.int(link.jitterMs + 1) : 0);
      // In order on one connection (unless reordering): never ready before the frame ahead of it.
      if (link.reorder !== true) {
        const last = channel.frames[channel.frames.length - 1];
        if (last !== undefined && last.readyAt > readyAt) readyAt = last.readyAt;
      }
    }
    channel.frames.push({ payload, readyAt, seq: this.#seq++ });
    this.onEnqueue?.();
  }

  /** A dial given up before it was answered. */
  abandon(socket: SimSocket): void {
    for (const [id, c] of this.#channels) if (c.dialer === socket && c.target === undefined) this.#channels.delete(id);
    this.#parked = this.#parked.filter((p) => p.client !== socket);
    this.#sockets.delete(socket);
  }

  /** End a connection at once, both ends seeing 1006 (a TCP reset). */
  reset(socket: SimSocket): void {
    const peer = socket.peer;
    this.stats.resets++;
    this.#forget(socket);
    socket.emitClose(ABNORMAL_CLOSURE, "");
    if (peer !== undefined) {
      this.#forget(peer);
      peer.emitClose(ABNORMAL_CLOSURE, "");
    }
  }

  // ---- internals ----

  /** Dials still wanted go out again (as new connect frames, in their order). */
  #retryParked(): void {
    const parked = this.#parked;
    this.#parked = [];
    for (const { client, address } of parked) {
      if (!client.isOpen) continue;
      const to = this.#listeners.get(address)?.node ?? -1;
      this.enqueue(this.#channel(client.node, to, undefined, client), { kind: "connect", address });
    }
  }

  #channel(from: number, to: number, target: SimSocket | undefined, dialer: SimSocket | undefined): Channel {
    const c: Channel = { id: this.#nextChannel++, from, to, target, dialer, frames: [] };
    this.#channels.set(c.id, c);
    return c;
  }

  #forget(socket: SimSocket): void {
    this.#sockets.delete(socket);
    for (const [id, c] of this.#channels) {
      if (c.target === socket || c.dialer === socket || socket.out === c) this.#channels.delete(id);
    }
  }

  #held(c: Channel): boolean {
    return this.#paused.has(c.from) || this.#paused.has(c.to);
  }

  #deliver(channel: Channel, frame: Frame): void {
    const p = frame.payload;
    const link = this.linkOf(channel.from, channel.to);
    this.#mix(`${channel.from}>${channel.to}:${p.kind}:${p.kind === "data" ? p.bytes.length : 0}`);
    switch (p.kind) {
      case "connect":
        this.#connect(channel, p.address);
        return;
      case "close": {
        const target = channel.target;
        const sender = target?.peer;
        if (target !== undefined) {
          this.#forget(target);
          target.emitClose(p.code, p.reason);
        }
        if (sender !== undefined) {
          this.#forget(sender);
          sender.emitClose(p.code, p.reason);
        }
        return;
      }
      case "data": {
        const target = channel.target;
        if (target === undefined) return;
        // Faults hit authenticated connections only (peer-connection.ts raises the frame limit then):
        // a lost handshake frame would only stall the dial until its real-time deadline.
        const authenticated = target._receiver._maxPayload > 0;
        if (authenticated && link.resetRate !== undefined && this.#prng.chance(link.resetRate)) {
          this.reset(target);
          return;
        }
        if (authenticated && link.dropRate !== undefined && this.#prng.chance(link.dropRate)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        target.receive(p.bytes);
        if (authenticated && link.duplicateRate !== undefined && this.#prng.chance(link.duplicateRate)) {
          this.stats.duplicated++;
          target.receive(p.bytes);
        }
        return;
      }
    }
  }

  #connect(channel: Channel, address: string): void {
    this.#channels.delete(channel.id);
    const client = channel.dialer as SimSocket;
    const listener = this.#listeners.get(address);
    if (!client.isOpen) return;
    if (
      listener === undefined ||
      this.#crashed.has(client.node) ||
      this.#crashed.has(listener.node) ||
      this.isCut(client.node, listener.node)
    ) {
      // As a TCP connect to an unreachable host: no answer (the dialler gives up when membership
      // says the peer is gone), and it goes through if the link heals first. Not refused at once,
      // which would start the transport's real-time redial backoff and make runs differ.
      this.stats.refused++;
      this.#parked.push({ client, address });
      return;
    }
    const server = new SimSocket(this, listener.node);
    this.#sockets.add(server);
    client.peer = server;
    server.peer = client;
    client.out = this.#channel(client.node, server.node, server, undefined);
    server.out = this.#channel(server.node, client.node, client, undefined);
    listener.accept(server as unknown as WebSocket);
  }

  #mix(text: string): void {
    if (process.env.PRAAS_SIM_TRACE === "1") this.deliveries.push(`${this.#now()} ${text}`);
    let h = this.#trace;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    this.#trace = h;
  }
}
