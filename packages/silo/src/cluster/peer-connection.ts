/**
 * One WebSocket between two silos, and the place where its parts meet: the
 * handshake authenticates it (peer-handshake.ts), then envelopes travel both
 * ways — out through the send queue, one frame per event-loop turn with
 * backpressure (send-queue.ts); calls matched to their replies by request id
 * (pending-calls.ts); a silent peer cut off (keepalive.ts); a draining peer
 * waited for (connection-drain.ts). This module reads frames, dispatches
 * their envelopes, and settles what was in flight when the connection ends.
 *
 * Once the send queue holds `maxQueued` envelopes new calls fail fast with a
 * retryable error instead of growing memory without bound. Request ids are
 * per connection, so a reply can only travel back on the connection its call
 * arrived on; when a connection dies, every call sent on it and not answered
 * is "lost" (it may have run) and every call still queued is handed back as
 * never sent.
 */
import {
  type ChainLink,
  type Clock,
  InvalidArgumentError,
  type PraasError,
  type SerializedError,
  SiloUnavailableError,
  serializeError,
  TimeoutError,
  type TraceCarrier,
} from "@praas/core/internal";
import type { RawData, WebSocket } from "ws";
import { ArrivalDelay } from "../arrival-delay.js";
import { ConnectionDrain } from "./connection-drain.js";
import {
  addSent,
  addTrace,
  BYE,
  BYE_ACK,
  CALL,
  CAPS,
  type CallEnvelope,
  decodeFrame,
  ERR,
  FEATURE_SENT,
  FEATURES,
  OK,
  parseEnvelope,
} from "./frames.js";
import { SiloCloseCode } from "./handshake.js";
import { Keepalive } from "./keepalive.js";
import { type Admission, PeerHandshake } from "./peer-handshake.js";
import { PendingCalls } from "./pending-calls.js";
import { SendQueue } from "./send-queue.js";

/** A call on its way to another silo, as the connection sees it. */
export interface OutboundCall {
  readonly done: boolean;
  /** Absolute deadline on the sender's clock; the receiver gets what is left of it. */
  readonly deadline: number;
  readonly type: string;
  readonly key: string;
  readonly method: string;
  readonly args: readonly unknown[];
  readonly chain: readonly ChainLink[];
  /** Times this call was forwarded by a silo that was not its origin. */
  readonly hops: number;
  /** W3C trace context to send along (tracing on only). */
  readonly trace?: TraceCarrier | undefined;
  /** The answer came back. `value` is a SerializedError when `ok` is false. */
  replied(ok: boolean, value: unknown, notRun: boolean): void;
  /** It never left this silo and cannot be sent (queue full, too big): fail it with `error`. */
  refused(error: PraasError): void;
  /** It was sent and the connection died before the answer: it may have run. */
  lost(error: PraasError): void;
}

export interface ConnectionLimits {
  /** Largest frame accepted (the receiving socket's maxPayload) and sent. */
  readonly maxFrameBytes: number;
  /** Stop writing while the socket buffers more than this many bytes. */
  readonly highWaterBytes: number;
  /** Envelopes queued for sending beyond which new calls fail with SiloUnavailableError. */
  readonly maxQueued: number;
  /** Envelopes per frame at most (bounds the size of one encode). */
  readonly maxEnvelopesPerFrame: number;
  /** Ping this often; a peer silent for two intervals is cut off. */
  readonly pingIntervalMs: number;
  /** Close a connection whose handshake has not finished after this long. */
  readonly handshakeTimeoutMs: number;
}

/** What a connection needs from the transport that owns it. */
export interface PeerConnectionHost {
  readonly selfId: string;
  readonly cluster: string;
  readonly secret: Uint8Array;
  readonly limits: ConnectionLimits;
  readonly clock: Clock;
  /** Server side, after the peer proved the secret: may it have this connection? */
  admit(conn: PeerConnection, peerId: string): Admission | Promise<Admission>;
  /** The connection is authenticated and carries envelopes. */
  opened(conn: PeerConnection): void;
  /** A valid call arrived; answer it with `conn.reply` / `conn.replyError`. */
  onCall(conn: PeerConnection, call: CallEnvelope): void;
  /** The peer is draining: send it nothing new. */
  onBye(conn: PeerConnection): void;
  /** The connection ended; `unsent` are calls that were queued on it and never left. */
  closed(conn: PeerConnection, code: number, reason: string, unsent: OutboundCall[]): void;
  /** Something malformed from the peer was dropped (for logs and metrics). */
  dropped(conn: PeerConnection, problem: string): void;
}

type State = "handshake" | "open" | "closed";

export class PeerConnection {
  /** The other silo: known from the start when we dialled, after "auth" when it dialled us. */
  peerId: string | undefined;
  /** True when this silo opened the connection (the tie-break in transport.ts needs it). */
  readonly dialedBySelf: boolean;
  /** Frames read on this connection (handshake excluded). */
  framesReceived = 0;
  #state: State = "handshake";
  readonly #ws: WebSocket;
  readonly #host: PeerConnectionHost;
  readonly #handshake: PeerHandshake;
  readonly #keepalive: Keepalive;
  readonly #sender: SendQueue;
  readonly #pending = new PendingCalls();
  readonly #drain = new ConnectionDrain(this);
  /** The peer said it reads `sent` stamps (its caps): our calls to it carry one. */
  #peerReadsSent = false;
  /** How late the peer's stamped calls arrive, against this connection's fastest (arrival-delay.ts). */
  readonly #arrival = new ArrivalDelay();

  private constructor(ws: WebSocket, host: PeerConnectionHost, dialedBySelf: boolean, peerId: string | undefined) {
    this.#ws = ws;
    this.#host = host;
    this.dialedBySelf = dialedBySelf;
    this.peerId = peerId;
    ws.binaryType = "nodebuffer";
    ws.on("message", this.#onMessage);
    ws.on("close", (code: number, reason: Buffer) => this.#teardown(code, reason.toString()));
    // Errors are followed by "close"; listening keeps them from crashing the process.
    ws.on("error", () => {});
    this.#sender = new SendQueue(ws, host.limits, {
      unsendable: (id, error) => {
        this.#pending.take(id)?.refused(error);
        this.#drain.check();
      },
      emptied: () => this.#drain.check(),
    });
    this.#keepalive = new Keepalive(ws, host.limits.pingIntervalMs, () => {
      this.#teardown(SiloCloseCode.UNRESPONSIVE, "peer stopped answering pings");
      this.#ws.terminate();
    });
    this.#handshake = new PeerHandshake(this, ws, host, () => this.#open());
  }

  /** Server side: a socket someone opened to our listener. We speak first. */
  static accept(ws: WebSocket, host: PeerConnectionHost): PeerConnection {
    const conn = new PeerConnection(ws, host, false, undefined);
    conn.#handshake.sendHello();
    return conn;
  }

  /** Client side: a socket we are opening to `peerId`; it must answer as that silo. */
  static dial(ws: WebSocket, host: PeerConnectionHost, peerId: string): PeerConnection {
    return new PeerConnection(ws, host, true, peerId);
  }

  get isOpen(): boolean {
    return this.#state === "open";
  }

  get isClosed(): boolean {
    return this.#state === "closed";
  }

  /** Calls sent on this connection and not answered yet. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /** The peer announced it is draining. */
  get byeReceived(): boolean {
    return this.#drain.byeReceived;
  }

  /** Envelopes waiting to be written. */
  get queued(): number {
    return this.#sender.length;
  }

  // ---- sending ----

  /** Send a call; its answer (or its loss) is reported to `call`. Only on an open connection. */
  sendCall(call: OutboundCall): void {
    if (call.done) return;
    if (this.#sender.length >= this.#host.limits.maxQueued) {
      call.refused(new SiloUnavailableError(`Send queue to silo ${this.peerId} is full (backpressure); retry later`));
      return;
    }
    // Whole milliseconds keep the envelope small; never round a live call down to zero.
    const remaining = Math.ceil(call.deadline - this.#host.clock.now());
    if (remaining <= 0) return; // its deadline fires locally
    const id = this.#pending.add(call);
    const envelope: CallEnvelope = [
      CALL,
      id,
      call.type,
      call.key,
      call.method,
      call.args as unknown[],
      remaining,
      call.chain as ChainLink[],
      call.hops,
    ];
    if (call.trace !== undefined) addTrace(envelope, call.trace);
    // Whole ms, on the clock deadlines use: the peer compares stamps of this connection only.
    if (this.#peerReadsSent) addSent(envelope, Math.floor(this.#host.clock.now()));
    this.#sender.push(envelope);
  }

  /** Answer call `id` with a value. */
  reply(id: number, value: unknown): void {
    this.#drain.answered();
    if (this.#state === "open") this.#sender.push([OK, id, value]);
  }

  /** Answer call `id` with an error; `notRun` promises that no actor ran it. */
  replyError(id: number, error: SerializedError, notRun: boolean): void {
    this.#drain.answered();
    if (this.#state === "open") this.#sender.push([ERR, id, error, notRun]);
  }

  /** Tell the peer we are draining; it answers with byeAck once it has sent us its last call. */
  sendBye(): void {
    if (this.#state === "open") this.#sender.push([BYE]);
  }

  /** Resolves once the peer acknowledged our bye (it routes nothing new here), or the connection closed. */
  whenByeAcked(): Promise<void> {
    return this.#drain.whenByeAcked();
  }

  /**
   * Resolves once the peer acknowledged our bye and nothing is in flight either
   * way, or when the connection closes.
   */
  whenQuiet(): Promise<void> {
    return this.#drain.whenQuiet();
  }

  /** Close with a code the peer sees; in-flight calls are lost, queued ones handed back. */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#sender.flushAnswers();
    this.#teardown(code, reason);
    try {
      this.#ws.close(code, reason);
    } catch {
      this.#ws.terminate();
      return;
    }
    // A peer that never answers the close handshake must not hold the socket.
    setTimeout(() => this.#ws.terminate(), 2_000).unref();
  }

  // ---- receiving ----

  readonly #onMessage = (data: RawData, isBinary: boolean): void => {
    this.#keepalive.heard();
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : (data as Buffer);
    switch (this.#state) {
      case "open":
        if (!isBinary) this.#host.dropped(this, "text message");
        else this.#onFrame(bytes);
        return;
      case "handshake":
        this.#handshake.receive(bytes, isBinary);
        return;
      case "closed":
        return;
    }
  };

  /** The handshake is done: envelopes both ways from now on. */
  #open(): void {
    this.#state = "open";
    // Nothing can be queued before this (replies need an open connection): the order is free.
    this.#sender.start();
    // What we understand; a silo too old to know this envelope drops it unread.
    this.#sender.push([CAPS, [...FEATURES]]);
    this.#keepalive.start();
    this.#host.opened(this);
  }

  #onFrame(bytes: Uint8Array): void {
    this.framesReceived++;
    const list = decodeFrame(bytes);
    if (list === undefined) {
      this.#host.dropped(this, "undecodable frame");
      return;
    }
    for (const raw of list) {
      if (this.#state !== "open") return;
      const parsed = parseEnvelope(raw);
      if (!parsed.ok) {
        this.#host.dropped(this, parsed.problem);
        if (parsed.id !== undefined) {
          this.#sender.push([
            ERR,
            parsed.id,
            serializeError(new InvalidArgumentError(`Bad call: ${parsed.problem}`)),
            true,
          ]);
        }
        continue;
      }
      const env = parsed.envelope;
      switch (env[0]) {
        case CALL:
          this.#drain.callArrived();
          if (env.length === 12 && this.#arrivedTooLate(env, env[11] as number)) break;
          try {
            this.#host.onCall(this, env);
          } catch (err) {
            this.replyError(env[1], serializeError(err), true);
          }
          break;
        case CAPS:
          this.#peerReadsSent = env[1].includes(FEATURE_SENT);
          break;
        case OK:
        case ERR:
          if (!this.#pending.settle(env)) this.#host.dropped(this, "reply to no pending call");
          else if (this.#pending.size === 0) this.#drain.check();
          break;
        case BYE:
          this.#drain.byeReceived = true;
          this.#host.onBye(this);
          // Envelopes travel in order: everything we sent before this ack reaches the peer first.
          this.#sender.push([BYE_ACK]);
          break;
        case BYE_ACK:
          this.#drain.acked();
          break;
      }
    }
  }

  /**
   * A call that reached us later than its deadline, counted from when the peer sent it (held
   * in a partition between the two silos): its caller has given up, so it is refused unrun.
   */
  #arrivedTooLate(env: CallEnvelope, sent: number): boolean {
    const what = `${env[2]}/${env[3]}.${env[4]}: the call from silo ${this.peerId}`;
    const why = this.#arrival.refusal(sent, this.#host.clock.now(), env[6], what);
    if (why === undefined) return false;
    this.replyError(env[1], serializeError(new TimeoutError(why)), true);
    return true;
  }

  #teardown(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#handshake.stop();
    this.#keepalive.stop();
    const { unsent, lost } = this.#pending.clear(this.#sender.close());
    this.#drain.closed();
    const error = new SiloUnavailableError(
      `Connection to silo ${this.peerId ?? "(unauthenticated)"} closed (${code}${reason ? ` ${reason}` : ""}) before the reply; the call may or may not have run`,
    );
    for (const call of lost) call.lost(error);
    this.#drain.check();
    this.#host.closed(this, code, reason, unsent);
  }
}
