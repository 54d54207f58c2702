/**
 * The silo-to-silo transport: a WebSocket listener, and at most one
 * authenticated connection per peer silo, dialled on first use.
 *
 * One connection per pair. When both silos dial each other at once, the
 * connection dialled by the silo with the smaller id wins, and each side
 * applies the rule when the other's dial arrives (before answering
 * "welcome"), so both keep the same socket and the loser is refused with
 * DUPLICATE before it ever carries a call. A dial that arrives while an older
 * connection is open means the peer gave that one up; the newer one replaces
 * it — except that our own dial, if we are the smaller id, is never displaced.
 *
 * Calls for a peer without an open connection wait in a bounded queue while
 * we dial; failed dials are retried with exponential backoff while calls
 * wait. Waiting calls never left this silo, so when membership says the peer
 * is gone they are routed again (to the key's new owner) instead of failed.
 */
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import {
  type Clock,
  type LogFunction,
  type PraasError,
  type RetryPolicy,
  retryDelay,
  SiloUnavailableError,
  systemClock,
  type TimerHandle,
} from "@praas/core/internal";
import { WebSocket, WebSocketServer } from "ws";
import type { SiloConnector } from "./config.js";
import type { CallEnvelope } from "./frames.js";
import { MAX_HANDSHAKE_BYTES, SiloCloseCode } from "./handshake.js";
import {
  type ConnectionLimits,
  type OutboundCall,
  PeerConnection,
  type PeerConnectionHost,
} from "./peer-connection.js";
import type { Admission } from "./peer-handshake.js";
import { StrangerPool } from "./strangers.js";

/**
 * Connections not authenticated yet, at most; beyond, a newcomer displaces the
 * oldest stranger of the busiest remote address (strangers.ts). Each holds a
 * socket and at most a 4 KiB frame buffer until its deadline.
 */
const MAX_STRANGERS = 256;

/** URL path of the silo listener (anything else is refused at the upgrade). */
export const SILO_PATH = "/praas/silo";

export interface TransportOptions {
  readonly selfId: string;
  readonly cluster: string;
  readonly secret: Uint8Array;
  readonly host: string;
  readonly port: number;
  readonly limits: ConnectionLimits;
  readonly clock: Clock;
  /** First redial delay after a failed dial; doubles per failure up to `maxBackoffMs`. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Connection events (dials, opens, closes with their codes) go here at debug level. */
  readonly log?: LogFunction;
  /** In-process test clusters: connections over an in-memory network instead of a listener and TCP. */
  readonly connector?: SiloConnector | undefined;
}

/** What the transport needs from the cluster node around it. */
export interface TransportHost {
  /** Is this silo in the membership view (active or leaving)? */
  isMember(siloId: string): boolean;
  /** Wait (at most `timeoutMs`) for a view that has `siloId`; true once it does. */
  waitForMember(siloId: string, timeoutMs: number): Promise<boolean>;
  /** The "host:port" to dial for a member, from the membership view. */
  addressOf(siloId: string): string | undefined;
  onCall(conn: PeerConnection, call: CallEnvelope): void;
  /** A peer announced it is draining. */
  onPeerLeaving(siloId: string): void;
  /** A call that never left and whose peer is gone: route it again. */
  reroute(call: OutboundCall): void;
}

export interface TransportStats {
  /** Frames or envelopes dropped because they were malformed. */
  dropped: number;
  /** Connections refused or cut during the handshake (bad secret, unknown silo, garbage). */
  rejected: number;
  dials: number;
}

class PeerSlot {
  conn: PeerConnection | undefined;
  dialing: PeerConnection | undefined;
  waiting: OutboundCall[] = [];
  failures = 0;
  redial: TimerHandle | undefined;
}

export class Transport implements PeerConnectionHost {
  readonly selfId: string;
  readonly cluster: string;
  readonly secret: Uint8Array;
  readonly limits: ConnectionLimits;
  readonly clock: Clock;
  readonly stats: TransportStats = { dropped: 0, rejected: 0, dials: 0 };
  readonly #options: TransportOptions;
  readonly #host: TransportHost;
  readonly #slots = new Map<string, PeerSlot>();
  /** Every connection, in any state, so close() can end them all. */
  readonly #all = new Set<PeerConnection>();
  /** The TCP socket under each accepted connection (to take it out of the stranger pool). */
  readonly #sockets = new Map<PeerConnection, Socket>();
  readonly #strangers: StrangerPool<Socket>;
  /**
   * Redial pauses: doubling from backoffMs up to maxBackoffMs, "equal" jitter
   * (never under half the cap) so silos that lost the same peer do not redial
   * in lockstep.
   */
  readonly #redialPolicy: RetryPolicy;
  /** The connector's random numbers when it has them: a seeded test cluster replays its redials. */
  readonly #random: () => number;
  #http: Server | undefined;
  #server: WebSocketServer | undefined;
  #listener: { close(): Promise<void> } | undefined;
  #closed = false;
  #draining = false;

  constructor(options: TransportOptions, host: TransportHost) {
    this.#options = options;
    this.#host = host;
    this.selfId = options.selfId;
    this.cluster = options.cluster;
    this.secret = options.secret;
    this.limits = options.limits;
    this.clock = options.clock;
    this.#strangers = new StrangerPool(MAX_STRANGERS, options.limits.handshakeTimeoutMs);
    this.#redialPolicy = { initialDelayMs: options.backoffMs, maxDelayMs: options.maxBackoffMs, jitter: "equal" };
    const connector = options.connector;
    this.#random = connector?.random === undefined ? Math.random : () => connector.random?.() ?? Math.random();
  }

  /** A connection event, for `--log-level debug` (rare: dials, opens, closes). */
  #trace(message: string): void {
    this.#options.log?.("debug", `transport: ${message}`);
  }

  /** Connections accepted that have not proved the secret yet. */
  get strangers(): number {
    return this.#strangers.size;
  }

  /** Start listening; resolves with the bound host and port. */
  listen(): Promise<{ host: string; port: number }> {
    const connector = this.#options.connector;
    if (connector !== undefined) {
      return connector
        .listen(this.selfId, (ws) => {
          if (this.#closed) ws.terminate();
          else this.#all.add(PeerConnection.accept(ws, this));
        })
        .then((listener) => {
          this.#listener = listener;
          return { host: listener.host, port: listener.port };
        });
    }
    const deadline = this.limits.handshakeTimeoutMs;
    // Until a peer proves the secret it may send only handshake-sized frames:
    // ws refuses a bigger one from its header (1009), before buffering its body.
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_HANDSHAKE_BYTES });
    const http = createServer(
      {
        // The upgrade request too must arrive within the handshake deadline.
        headersTimeout: deadline,
        requestTimeout: deadline,
        connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(deadline / 4))),
      },
      (_req, res) => {
        res.writeHead(426, { connection: "close" });
        res.end();
      },
    );
    this.#server = wss;
    this.#http = http;
    http.on("connection", (socket: Socket) => {
      if (this.#closed) socket.destroy();
      else this.#strangers.add(socket);
    });
    http.on("clientError", (_err, socket) => socket.destroy());
    http.on("upgrade", (req, socket: Socket, head: Buffer) => {
      const q = (req.url ?? "").indexOf("?");
      const path = q < 0 ? req.url : req.url?.slice(0, q);
      if (path !== SILO_PATH || this.#closed) {
        socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n", () => socket.destroy());
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (this.#closed) {
          ws.terminate();
          return;
        }
        const conn = PeerConnection.accept(ws, this);
        this.#all.add(conn);
        this.#sockets.set(conn, socket);
      });
    });
    return new Promise((resolve, reject) => {
      http.once("error", reject);
      http.listen(this.#options.port, this.#options.host, () => {
        http.removeListener("error", reject);
        // Errors after listening (a reset during an upgrade) must not crash the silo.
        http.on("error", () => {});
        wss.on("error", () => {});
        const addr = http.address();
        if (typeof addr !== "object" || addr === null) {
          reject(new Error("silo transport: could not determine the listening address"));
          return;
        }
        resolve({ host: this.#options.host, port: addr.port });
      });
    });
  }

  /** Send `call` to silo `peerId`, dialling it if needed. */
  send(peerId: string, call: OutboundCall): void {
    if (this.#closed) {
      call.refused(new SiloUnavailableError("This silo's transport is closed"));
      return;
    }
    const slot = this.#slot(peerId);
    const conn = slot.conn;
    if (conn?.isOpen === true) {
      conn.sendCall(call);
      return;
    }
    if (slot.waiting.length >= this.limits.maxQueued) {
      slot.waiting = slot.waiting.filter((c) => !c.done);
      if (slot.waiting.length >= this.limits.maxQueued) {
        call.refused(new SiloUnavailableError(`Too many calls waiting for a connection to silo ${peerId}`));
        return;
      }
    }
    slot.waiting.push(call);
    this.#ensureDial(peerId, slot);
  }

  /**
   * Membership no longer lists `peerId` (dead or gone). Its connection is cut
   * unless the peer is draining gracefully (it closes once its last reply is
   * out); calls waiting for it are routed again.
   */
  peerGone(peerId: string, graceful: boolean): void {
    const slot = this.#slots.get(peerId);
    if (slot === undefined) return;
    this.#slots.delete(peerId);
    slot.redial?.cancel();
    slot.dialing?.close(SiloCloseCode.PEER_GONE, "peer left the membership");
    if (slot.conn !== undefined && !graceful && !slot.conn.byeReceived) {
      slot.conn.close(SiloCloseCode.PEER_GONE, "peer declared dead");
    }
    const waiting = slot.waiting;
    slot.waiting = [];
    for (const call of waiting) if (!call.done) this.#host.reroute(call);
  }

  /** Silos we have a slot for (connected, dialling, or with calls waiting). */
  peers(): string[] {
    return [...this.#slots.keys()];
  }

  /** Open connection to `peerId`, if any (for tests and diagnostics). */
  connection(peerId: string): PeerConnection | undefined {
    const c = this.#slots.get(peerId)?.conn;
    return c?.isOpen === true ? c : undefined;
  }

  /** Number of open connections. */
  get openConnections(): number {
    let n = 0;
    for (const c of this.#all) if (c.isOpen) n++;
    return n;
  }

  /**
   * Tell every peer (and every peer that connects from now on) that this silo
   * is draining; resolves once the connected ones acknowledged (they route
   * nothing new here), or after `timeoutMs`.
   */
  async announceLeaving(timeoutMs: number): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      for (const c of this.#all) if (c.isOpen) c.sendBye();
    }
    const open = [...this.#all].filter((c) => c.isOpen);
    await withTimeout(Promise.all(open.map((c) => c.whenByeAcked())), timeoutMs);
  }

  /**
   * Graceful end: tell every peer we are draining (they route nothing new to
   * us), then wait until each has acknowledged and nothing is in flight either
   * way — or until `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      for (const c of this.#all) if (c.isOpen) c.sendBye();
    }
    const quiet = async (): Promise<void> => {
      // Connections opened meanwhile (a peer with an old view dialled us) get their bye on open.
      for (let round = 0; round < 100; round++) {
        const open = [...this.#all].filter((c) => c.isOpen);
        await Promise.all(open.map((c) => c.whenQuiet()));
        if ([...this.#all].every((c) => !c.isOpen || open.includes(c))) return;
      }
    };
    await withTimeout(quiet(), timeoutMs);
  }

  /** Close the listener and every connection; waiting calls fail with SiloUnavailableError. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots.values()) {
      slot.redial?.cancel();
      const waiting = slot.waiting;
      slot.waiting = [];
      for (const call of waiting) call.refused(new SiloUnavailableError("This silo is shutting down"));
    }
    for (const c of [...this.#all]) c.close(SiloCloseCode.GOING_AWAY, "silo stopping");
    this.#slots.clear();
    this.#strangers.clear();
    await this.#listener?.close();
    const server = this.#server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    const http = this.#http;
    if (http !== undefined) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        // Sockets still closing (the close handshakes above) are not waited for.
        http.closeAllConnections();
      });
    }
  }

  // ---- dialling ----

  #slot(peerId: string): PeerSlot {
    let slot = this.#slots.get(peerId);
    if (slot === undefined) {
      slot = new PeerSlot();
      this.#slots.set(peerId, slot);
    }
    return slot;
  }

  #ensureDial(peerId: string, slot: PeerSlot): void {
    if (slot.conn?.isOpen === true || slot.dialing !== undefined || slot.redial !== undefined || this.#closed) return;
    if (slot.failures === 0) {
      this.#dial(peerId, slot);
      return;
    }
    const delay = retryDelay(this.#redialPolicy, slot.failures, this.#random);
    // In an in-process test cluster redials run on the silo's (simulated) clock, so a seed replays them.
    const timers = this.#options.connector === undefined ? systemClock : this.clock;
    slot.redial = timers.setTimeout(
      () => {
        slot.redial = undefined;
        slot.waiting = slot.waiting.filter((c) => !c.done);
        if (slot.waiting.length > 0 && this.#slots.get(peerId) === slot) this.#dial(peerId, slot);
      },
      delay,
      true,
    );
  }

  #dial(peerId: string, slot: PeerSlot): void {
    const address = this.#host.addressOf(peerId);
    if (address === undefined) {
      this.#failWaiting(slot, new SiloUnavailableError(`Silo ${peerId} is not in the membership view`));
      return;
    }
    this.stats.dials++;
    this.#trace(`${this.selfId} dials ${peerId} at ${address} (failures so far ${slot.failures})`);
    const ws =
      this.#options.connector?.dial(this.selfId, address) ??
      new WebSocket(`ws://${address}${SILO_PATH}`, {
        perMessageDeflate: false,
        // Raised to maxFrameBytes once the server has proved the secret (peer-connection.ts).
        maxPayload: MAX_HANDSHAKE_BYTES,
        handshakeTimeout: this.limits.handshakeTimeoutMs,
      });
    const conn = PeerConnection.dial(ws, this, peerId);
    slot.dialing = conn;
    this.#all.add(conn);
  }

  #failWaiting(slot: PeerSlot, error: PraasError): void {
    const waiting = slot.waiting;
    slot.waiting = [];
    for (const call of waiting) call.refused(error);
  }

  // ---- PeerConnectionHost ----

  admit(conn: PeerConnection, peerId: string): Admission | Promise<Admission> {
    // It proved the secret: no longer a stranger (the handshake timer of the connection still runs).
    const socket = this.#sockets.get(conn);
    if (socket !== undefined) this.#strangers.trust(socket);
    if (this.#closed) return { code: SiloCloseCode.GOING_AWAY, reason: "silo stopping" };
    if (this.#host.isMember(peerId)) return this.#decide(conn, peerId);
    // A silo that just joined may dial us before our view has it: wait a little for the view.
    return this.#host.waitForMember(peerId, this.limits.handshakeTimeoutMs / 2).then((known) => {
      if (!known) return { code: SiloCloseCode.UNKNOWN_PEER, reason: "not a member of this cluster" };
      if (this.#closed) return { code: SiloCloseCode.GOING_AWAY, reason: "silo stopping" };
      return this.#decide(conn, peerId);
    });
  }

  /** The tie-break: may the peer's dial become the connection of the pair? */
  #decide(_conn: PeerConnection, peerId: string): Admission {
    const slot = this.#slot(peerId);
    const ours = slot.conn?.isOpen === true && slot.conn.dialedBySelf ? slot.conn : slot.dialing;
    if (ours !== undefined && this.selfId < peerId) {
      return { code: SiloCloseCode.DUPLICATE, reason: "the connection dialled by the smaller silo id wins" };
    }
    // Theirs wins: our dial in progress is abandoned (the peer refuses it too).
    if (slot.dialing !== undefined) slot.dialing = undefined;
    return "accept";
  }

  opened(conn: PeerConnection): void {
    const peerId = conn.peerId as string;
    this.#trace(`${this.selfId} open with ${peerId} (${conn.dialedBySelf ? "dialled" : "accepted"})`);
    if (this.#closed) {
      conn.close(SiloCloseCode.GOING_AWAY, "silo stopping");
      return;
    }
    const slot = this.#slot(peerId);
    if (slot.dialing === conn) slot.dialing = undefined;
    const old = slot.conn;
    if (old !== undefined && old !== conn && old.isOpen) {
      // A dial of ours that was abandoned in #decide but still got through: the same
      // rule decides (the connection dialled by the smaller id stays); from one dialer, newer wins.
      const newDialer = conn.dialedBySelf ? this.selfId : peerId;
      const oldDialer = old.dialedBySelf ? this.selfId : peerId;
      if (newDialer !== oldDialer && oldDialer < newDialer) {
        conn.close(SiloCloseCode.DUPLICATE, "another connection to this peer is open");
        return;
      }
    }
    slot.conn = conn;
    slot.failures = 0;
    slot.redial?.cancel();
    slot.redial = undefined;
    if (old !== undefined && old !== conn) old.close(SiloCloseCode.REPLACED, "replaced by a newer connection");
    if (this.#draining) conn.sendBye();
    const waiting = slot.waiting;
    slot.waiting = [];
    for (const call of waiting) conn.sendCall(call);
  }

  onCall(conn: PeerConnection, call: CallEnvelope): void {
    this.#host.onCall(conn, call);
  }

  onBye(conn: PeerConnection): void {
    if (conn.peerId !== undefined) this.#host.onPeerLeaving(conn.peerId);
  }

  closed(conn: PeerConnection, code: number, reason: string, unsent: OutboundCall[]): void {
    this.#trace(
      `${this.selfId} closed with ${conn.peerId ?? "(unauthenticated)"} (${conn.dialedBySelf ? "dialled" : "accepted"}): ${code} ${reason}; ${unsent.length} unsent`,
    );
    this.#all.delete(conn);
    this.#sockets.delete(conn);
    const peerId = conn.peerId;
    if (!conn.dialedBySelf && peerId === undefined) this.stats.rejected++;
    else if (
      code === SiloCloseCode.AUTH_FAILED ||
      code === SiloCloseCode.PROTOCOL ||
      code === SiloCloseCode.HANDSHAKE_TIMEOUT ||
      code === SiloCloseCode.UNKNOWN_PEER
    ) {
      this.stats.rejected++;
    }
    if (peerId === undefined) return;
    const slot = this.#slots.get(peerId);
    if (slot === undefined) {
      // The peer is gone from membership: calls that never left go to the new owner.
      for (const call of unsent) if (!call.done) this.#host.reroute(call);
      return;
    }
    if (slot.conn === conn) slot.conn = undefined;
    const wasDial = slot.dialing === conn;
    if (wasDial) slot.dialing = undefined;
    if (unsent.length > 0) slot.waiting = unsent.concat(slot.waiting);
    if (this.#closed || slot.waiting.length === 0) return;
    if (conn.dialedBySelf && (code === SiloCloseCode.AUTH_FAILED || code === SiloCloseCode.UNKNOWN_PEER)) {
      // The peer refuses us (other secret, or it does not know us): waiting will not help.
      slot.failures++;
      this.#failWaiting(slot, new SiloUnavailableError(`Silo ${peerId} refused the connection (${code})`));
      return;
    }
    if (wasDial && code !== SiloCloseCode.DUPLICATE) slot.failures++;
    else if (code === SiloCloseCode.DUPLICATE) slot.failures = Math.max(slot.failures, 1);
    this.#ensureDial(peerId, slot);
  }

  dropped(_conn: PeerConnection, _problem: string): void {
    this.stats.dropped++;
  }
}

/** Wait for `work`, but no longer than `ms`. */
async function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  await Promise.race([work, timeout]);
  clearTimeout(timer);
}
