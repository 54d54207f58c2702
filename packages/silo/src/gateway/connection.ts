import {
  ActorTypeNotFoundError,
  type CallFrame,
  CloseCode,
  CodecError,
  type DecodeLimits,
  decode,
  endWhenSettled,
  InvalidArgumentError,
  type InvokeFrame,
  inSpanContext,
  OverloadedError,
  PayloadTooLargeError,
  PraasError,
  ProtocolError,
  type SendFrame,
  SiloStoppedError,
  type Span,
  type SubFrame,
  TimeoutError,
  validateKey,
} from "@praas/core/internal";
import { WebSocket } from "ws";
import { ArrivalDelay } from "../arrival-delay.js";
import type { Silo } from "../silo.js";
import { traceGateway } from "../tracing.js";
import type { Authenticator } from "./auth.js";
import type { EventStream, EventStreams, RecordedEvent, StreamSubscriber } from "./event-streams.js";
import { BadFrameCounter, decodeLimitsOf, type GatewayLimits } from "./limits.js";
import type { GatewayMetrics } from "./metrics.js";
import type { ArgsValidator } from "./schemas.js";
import { sendPermission, type TargetCache } from "./targets.js";
import { errFrame, eventFrame, gapFrame, okFrame, parseClientFrame } from "./ws-protocol.js";

/** What a connection needs from its gateway. */
export interface ConnectionHost<P> {
  readonly silo: Silo;
  readonly limits: GatewayLimits;
  readonly auth: Authenticator<P>;
  readonly validator: ArgsValidator;
  readonly targets: TargetCache;
  readonly streams: EventStreams;
  readonly metrics: GatewayMetrics | undefined;
  draining(): boolean;
  /** Drain accounting: every call started is ended exactly once. */
  callStarted(): void;
  callEnded(): void;
  closed(conn: GatewayConnection<P>): void;
}

/** Frames that run work in the silo: each counts against the in-flight limit until answered. */
type WorkFrame = CallFrame | SendFrame | InvokeFrame;

interface Subscription {
  readonly stream: EventStream;
  readonly subscriber: StreamSubscriber;
}

/**
 * One WebSocket client. Validates every frame, runs calls with a bound on how
 * many are in flight (stopping reading from the socket at the bound: TCP
 * backpressure, not a queue), and forwards subscribed events.
 */
export class GatewayConnection<P> {
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionHost<P>;
  readonly #principal: P;
  readonly #bad: BadFrameCounter;
  readonly #decodeLimits: DecodeLimits;
  readonly #inFlight = new Set<number>();
  /**
   * Call frames that arrived after reading was paused (ws still delivers what
   * it had already read). At most maxInFlight; beyond that calls get OVERLOADED.
   */
  readonly #backlog: WorkFrame[] = [];
  #paused = false;
  readonly #subs = new Map<number, Subscription>();
  #nextSub = 1;
  #closed = false;
  readonly #closeWaiters: (() => void)[] = [];
  /** How late stamped frames arrive, against this connection's fastest (arrival-delay.ts). */
  readonly #arrival = new ArrivalDelay();
  /** For the idle timeout and the heartbeat. */
  lastFrameAt = Date.now();
  alive = true;

  constructor(ws: WebSocket, principal: P, ctx: ConnectionHost<P>) {
    this.#ws = ws;
    this.#principal = principal;
    this.#ctx = ctx;
    this.#bad = new BadFrameCounter(ctx.limits.maxBadFrames);
    this.#decodeLimits = decodeLimitsOf(ctx.limits);
    ws.on("message", (data, isBinary) => {
      try {
        this.#onMessage(data as Buffer, isBinary);
      } catch (err) {
        // A bug in frame handling must cost this frame, not the process (ws would rethrow it).
        this.#reject(null, new PraasError("INTERNAL", `The gateway failed to handle a frame: ${String(err)}`));
      }
    });
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("close", () => this.#onClose());
    // Socket errors (resets, bad frames) end in "close"; without a listener they would be thrown.
    ws.on("error", () => {});
  }

  get inFlight(): number {
    return this.#inFlight.size + this.#backlog.length;
  }

  get subscriptions(): number {
    return this.#subs.size;
  }

  send(bytes: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(bytes);
    // A client that does not read its events would make this buffer grow without bound.
    if (this.#ws.bufferedAmount > this.#ctx.limits.maxBufferedBytes) {
      this.close(CloseCode.SLOW_CONSUMER, "client reads too slowly");
    }
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(code, reason);
    }
  }

  /** Run `fn` once the connection is closed (at once if it already is). */
  onClosed(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closeWaiters.push(fn);
  }

  /** Drop a peer that stopped answering (no close handshake: it would not answer that either). */
  terminate(): void {
    this.#ws.terminate();
  }

  ping(): void {
    this.alive = false;
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping();
  }

  /** True when nothing keeps this connection useful: no subscription, nothing in flight. */
  get idle(): boolean {
    return this.#subs.size === 0 && this.inFlight === 0;
  }

  // ---- incoming frames ----

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.lastFrameAt = Date.now();
    this.alive = true;
    if (!isBinary) {
      this.#reject(null, new ProtocolError("Text frames are not accepted: send binary CBOR frames (docs/protocol.md)"));
      return;
    }
    const max = this.#ctx.limits.maxFrameBytes;
    if (data.length > max) {
      this.#reject(null, new PayloadTooLargeError(data.length, max));
      return;
    }
    let value: unknown;
    try {
      // Checked in one pass before cbor-x sees it: no frame costs more to refuse than a plain one to read.
      value = decode(data, this.#decodeLimits);
    } catch (err) {
      const message =
        err instanceof CodecError ? err.message : `Malformed CBOR: ${String((err as Error)?.message ?? err)}`;
      this.#reject(null, new ProtocolError(message));
      return;
    }
    const parsed = parseClientFrame(value, this.#ctx.limits.maxCallTimeoutMs);
    if (!parsed.ok) {
      this.#reject(parsed.id, parsed.error);
      return;
    }
    const frame = parsed.frame;
    if (this.#ctx.draining()) {
      this.send(errFrame(frame.id, new SiloStoppedError()));
      return;
    }
    switch (frame.t) {
      case "call":
      case "send":
      case "invoke":
        if (frame.sent !== undefined && this.#arrivedTooLate(frame, frame.sent)) return;
        if (this.#inFlight.size < this.#ctx.limits.maxInFlightPerConnection) this.#startCall(frame);
        else if (this.#backlog.length < this.#ctx.limits.maxInFlightPerConnection) this.#backlog.push(frame);
        else this.#reject(frame.id, new OverloadedError("Too many calls in flight on this connection"));
        return;
      case "sub":
        this.#subscribe(frame);
        return;
      case "unsub":
        this.#unsubscribe(frame.id, frame.sub);
        return;
    }
  }

  /**
   * A work frame that arrived after its deadline, counted from when its caller sent it (a TCP
   * retransmission after a partition can deliver one many seconds late): its caller gave up on
   * it, so it is answered TIMEOUT and never run. Not a malformed frame: it costs the client nothing.
   */
  #arrivedTooLate(frame: WorkFrame, sent: number): boolean {
    const deadline = frame.timeoutMs ?? Math.min(this.#ctx.silo.callTimeoutMs, this.#ctx.limits.maxCallTimeoutMs);
    const target = frame.t === "invoke" ? `${frame.type}.${frame.method}` : `${frame.type}/${frame.key}`;
    const why = this.#arrival.refusal(sent, performance.now(), deadline, `${target}: the ${frame.t}`);
    if (why === undefined) return false;
    this.#ctx.metrics?.rejectedFrame("TIMEOUT");
    this.send(errFrame(frame.id, new TimeoutError(why)));
    return true;
  }

  /** Answer a frame refused before reaching an actor; a flood of them closes the connection. */
  #reject(id: number | null, error: PraasError): void {
    this.#ctx.metrics?.rejectedFrame(error.code);
    this.send(errFrame(id, error));
    if (this.#bad.hit(Date.now())) this.close(CloseCode.POLICY_VIOLATION, "too many malformed frames");
  }

  // ---- calls ----

  #startCall(frame: WorkFrame): void {
    const id = frame.id;
    if (this.#inFlight.has(id)) {
      this.#reject(id, new ProtocolError(`Request id ${id} is already used by a call in flight`));
      return;
    }
    this.#inFlight.add(id);
    this.#ctx.callStarted();
    if (this.#inFlight.size >= this.#ctx.limits.maxInFlightPerConnection && !this.#paused) {
      this.#paused = true;
      this.#ws.pause();
    }
    // Messages are authorized as "@send:<channel>" on the target; stateless calls with key "".
    const pending =
      frame.t === "call"
        ? this.#ctx.auth.authorize(this.#principal, frame.type, frame.key, frame.method)
        : frame.t === "send"
          ? this.#ctx.auth.authorize(this.#principal, frame.type, frame.key, sendPermission(frame.channel))
          : this.#ctx.auth.authorize(this.#principal, frame.type, "", frame.method);
    if (pending === undefined) this.#invoke(frame);
    else
      pending.then(
        () => this.#invoke(frame),
        (err) => this.#finish(id, errFrame(id, err)),
      );
  }

  #invoke(frame: WorkFrame): void {
    const span = traceGateway(frame, this.#ctx.silo.siloId);
    if (span === undefined) this.#invokeNow(frame);
    else this.#invokeTraced(frame, span);
  }

  /** A traced frame: run under the gateway span (a method of its own, so untraced frames make no closure). */
  #invokeTraced(frame: WorkFrame, span: Span): void {
    endWhenSettled(
      span,
      inSpanContext(span, () => this.#invokeNow(frame)),
    );
  }

  /** Hand a work frame to the silo; settles when its reply is sent. */
  #invokeNow(frame: WorkFrame): Promise<unknown> {
    const id = frame.id;
    let result: Promise<unknown>;
    try {
      const silo = this.#ctx.silo;
      if (frame.t === "send") {
        // The silo checks the type (not stateless), the key, the channel and the data's encodability.
        // The client's deadline bounds the whole send, a durable one's retries included.
        const options = { durable: frame.durable === true, timeoutMs: frame.timeoutMs };
        result = silo.send({ type: frame.type, key: frame.key }, frame.channel, frame.data, options).then(() => null);
      } else if (frame.t === "invoke") {
        // Unknown type: ACTOR_TYPE_NOT_FOUND; a keyed type: INVALID_ARGUMENT.
        const target = this.#ctx.targets.worker(silo, frame.type, frame.timeoutMs);
        const args = this.#ctx.validator.check(frame.type, frame.method, frame.args);
        result = silo.invokeRef(target, frame.method, args as unknown[]);
      } else {
        const args = this.#ctx.validator.check(frame.type, frame.method, frame.args);
        const target = this.#ctx.targets.get(frame.type, frame.key, frame.timeoutMs);
        // The silo checks the type, the method and the arguments' encodability.
        result = silo.invokeRef(target, frame.method, args as unknown[]);
      }
    } catch (err) {
      this.#finish(id, errFrame(id, err));
      // Answered already; the rejection is for the gateway span only (handled here, so never "unhandled").
      const failed = Promise.reject(err);
      failed.catch(() => {});
      return failed;
    }
    result.then(
      (value) => this.#finish(id, okFrame(id, value)),
      (err) => this.#finish(id, errFrame(id, err)),
    );
    return result;
  }

  #finish(id: number, reply: Uint8Array): void {
    this.#inFlight.delete(id);
    this.#ctx.callEnded();
    this.send(reply);
    if (!this.#paused) return;
    const max = this.#ctx.limits.maxInFlightPerConnection;
    while (this.#backlog.length > 0 && this.#inFlight.size < max) this.#startCall(this.#backlog.shift() as WorkFrame);
    if (this.#inFlight.size < max && this.#paused) {
      this.#paused = false;
      if (!this.#closed) this.#ws.resume();
    }
  }

  // ---- subscriptions ----

  #subscribe(frame: SubFrame): void {
    const id = frame.id;
    try {
      if (this.#subs.size >= this.#ctx.limits.maxSubscriptionsPerConnection) {
        throw new OverloadedError(
          `At most ${this.#ctx.limits.maxSubscriptionsPerConnection} subscriptions per connection`,
        );
      }
      if (this.#ctx.silo.classOf(frame.type) === undefined) throw new ActorTypeNotFoundError(frame.type);
      validateKey(frame.key);
    } catch (err) {
      this.send(errFrame(id, err));
      return;
    }
    const pending = this.#ctx.auth.authorize(this.#principal, frame.type, frame.key, "@subscribe");
    if (pending === undefined) this.#attach(frame);
    else
      pending.then(
        () => this.#attach(frame),
        (err) => this.send(errFrame(id, err)),
      );
  }

  #attach(frame: SubFrame): void {
    if (this.#closed) return;
    const sub = this.#nextSub++;
    const subscriber: StreamSubscriber = {
      deliver: (ev: RecordedEvent) => {
        this.send(eventFrame(sub, ev));
        this.#ctx.metrics?.eventsSent(1);
      },
    };
    const resume = frame.after === undefined ? undefined : { stream: frame.stream, after: frame.after };
    const r = this.#ctx.streams.attach({ type: frame.type, key: frame.key }, frame.event, subscriber, resume);
    this.#subs.set(sub, { stream: r.stream, subscriber });
    // Order matters: the client learns the subscription number before any of its events.
    this.send(okFrame(frame.id, { sub, stream: r.stream.id, seq: r.stream.seq }));
    if (r.gap !== undefined) this.send(gapFrame(sub, r.gap.from, r.gap.to));
    for (const ev of r.replay) this.send(eventFrame(sub, ev));
    if (r.replay.length > 0) this.#ctx.metrics?.eventsSent(r.replay.length);
  }

  #unsubscribe(id: number, sub: number): void {
    const s = this.#subs.get(sub);
    if (s === undefined) {
      this.send(errFrame(id, new InvalidArgumentError(`No subscription ${sub} on this connection`)));
      return;
    }
    this.#subs.delete(sub);
    this.#ctx.streams.detach(s.stream, s.subscriber, false);
    this.send(okFrame(id, null));
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The client may come back and resume: keep its streams recording for a while.
    for (const s of this.#subs.values()) this.#ctx.streams.detach(s.stream, s.subscriber, true);
    this.#subs.clear();
    // Backlogged calls never started; running ones finish and their replies are dropped.
    this.#backlog.length = 0;
    this.#ctx.closed(this);
    for (const fn of this.#closeWaiters.splice(0)) fn();
  }
}
