/**
 * The client wire protocol (docs/protocol.md), shared by the silo's gateway and
 * @praas/client: frame shapes, close codes and the errors both sides rebuild.
 * Frames are binary WebSocket messages holding one standard-CBOR map each.
 */
import { PraasError, registerErrorClass, type SerializedError } from "./errors.js";

/** Raised when a frame shape changes incompatibly; sent in the server's hello. */
export const CLIENT_PROTOCOL_VERSION = 1;

// ---- client → server ----

/** Invoke `method` on `type/key`; answered by an ok or err frame with the same id. */
export interface CallFrame {
  readonly t: "call";
  readonly id: number;
  readonly type: string;
  readonly key: string;
  readonly method: string;
  readonly args: readonly unknown[];
  /** Deadline in ms (the gateway clamps it to its maximum). */
  readonly timeoutMs?: number;
  /**
   * The caller's monotonic clock (ms) when it made the call. The gateway
   * compares it with the connection's other frames and refuses, unrun, a frame
   * that arrived later than its deadline (the caller gave up on it already).
   */
  readonly sent?: number;
  /** W3C trace context of the caller (docs/observability.md); `tracestate` only with `traceparent`. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/**
 * Receive the events `type/key` emits under `event` ("*": all). With `after`
 * and `stream` from an earlier subscription, the gateway first replays the
 * events numbered after `after` that it still holds, or sends a gap frame.
 */
export interface SubFrame {
  readonly t: "sub";
  readonly id: number;
  readonly type: string;
  readonly key: string;
  readonly event: string;
  readonly after?: number;
  readonly stream?: string;
}

/** End subscription `sub` (the number the sub's ok frame returned). */
export interface UnsubFrame {
  readonly t: "unsub";
  readonly id: number;
  readonly sub: number;
}

/**
 * Put `data` in the inbox of `type/key` under `channel` (PraaS send); answered
 * by an ok frame with value null once the message is in the inbox (with
 * `durable`: once it is stored), or an err frame.
 */
export interface SendFrame {
  readonly t: "send";
  readonly id: number;
  readonly type: string;
  readonly key: string;
  readonly channel: string;
  readonly data: unknown;
  readonly durable?: boolean;
  /** Deadline in ms of the whole send, a durable one's retries included (the gateway clamps it to its maximum). */
  readonly timeoutMs?: number;
  /**
   * The caller's monotonic clock (ms) when it made the call. The gateway
   * compares it with the connection's other frames and refuses, unrun, a frame
   * that arrived later than its deadline (the caller gave up on it already).
   */
  readonly sent?: number;
  /** W3C trace context of the caller (docs/observability.md); `tracestate` only with `traceparent`. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Call `method` on the stateless worker type `type` (no key); answered like a call frame. */
export interface InvokeFrame {
  readonly t: "invoke";
  readonly id: number;
  readonly type: string;
  readonly method: string;
  readonly args: readonly unknown[];
  /** Deadline in ms (the gateway clamps it to its maximum). */
  readonly timeoutMs?: number;
  /**
   * The caller's monotonic clock (ms) when it made the call. The gateway
   * compares it with the connection's other frames and refuses, unrun, a frame
   * that arrived later than its deadline (the caller gave up on it already).
   */
  readonly sent?: number;
  /** W3C trace context of the caller (docs/observability.md); `tracestate` only with `traceparent`. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export type ClientFrame = CallFrame | SendFrame | InvokeFrame | SubFrame | UnsubFrame;

// ---- server → client ----

/** First frame on every connection: who answers and which limits apply. */
export interface HelloFrame {
  readonly t: "hello";
  readonly v: number;
  readonly silo: string;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  /** The deadline a call without one gets (the silo's call timeout, within the gateway's maximum). */
  readonly callTimeoutMs?: number;
}

export interface OkFrame {
  readonly t: "ok";
  readonly id: number;
  readonly value: unknown;
}

/** `id` is null when the frame it answers was unreadable. */
export interface ErrFrame {
  readonly t: "err";
  readonly id: number | null;
  readonly error: SerializedError;
}

/** One event; `seq` counts the events of the stream (actor + event name) from 1. */
export interface EventFrame {
  readonly t: "ev";
  readonly sub: number;
  readonly seq: number;
  readonly event: string;
  readonly payload: unknown;
}

/**
 * Events `from`..`to` (inclusive) of subscription `sub` are gone and will never
 * arrive. `to` is null when the count is unknown: the stream the client resumed
 * no longer exists (it expired, or the client reconnected to another silo) and
 * the numbering restarted.
 */
export interface GapFrame {
  readonly t: "gap";
  readonly sub: number;
  readonly from: number;
  readonly to: number | null;
}

export type ServerFrame = HelloFrame | OkFrame | ErrFrame | EventFrame | GapFrame;

/** The value of the ok frame that answers a sub frame. */
export interface SubscribeResult {
  /** Number to use in unsub frames; ev frames carry it. */
  readonly sub: number;
  /** Identity of the event stream; a different one after a reconnect means the numbering restarted. */
  readonly stream: string;
  /** Number of the latest event of the stream when the subscription started (0: none yet). */
  readonly seq: number;
}

/** WebSocket close codes the gateway uses (4000–4999 are application codes). */
export const CloseCode = {
  /** The gateway is shutting down; connect again (to this or another silo). */
  GOING_AWAY: 1001,
  /** Protocol abuse beyond limits (e.g. a flood of malformed frames). */
  POLICY_VIOLATION: 1008,
  /** A frame far beyond the size limit. */
  MESSAGE_TOO_BIG: 1009,
  /** No traffic, no subscription and nothing in flight for the idle timeout. */
  IDLE: 4000,
  /** The client read events too slowly and the send buffer hit its limit. */
  SLOW_CONSUMER: 4001,
  /** The peer stopped answering pings. */
  UNRESPONSIVE: 4002,
} as const;

// ---- errors of the client protocol (rebuilt as these classes on both sides) ----

/** No or wrong credentials. HTTP 401; on WebSocket the upgrade is refused with 401. */
export class UnauthenticatedError extends PraasError {
  constructor(message = "Authentication required") {
    super("UNAUTHENTICATED", message);
  }
}

/** The principal may not do this. HTTP 403. */
export class ForbiddenError extends PraasError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}

/** A frame or request body is malformed (bad CBOR/JSON, wrong shape, wrong field types). HTTP 400. */
export class ProtocolError extends PraasError {
  constructor(message: string) {
    super("PROTOCOL_ERROR", message);
  }
}

/** A frame or request body is bigger than the limit. HTTP 413. */
export class PayloadTooLargeError extends PraasError {
  constructor(size: number, limit: number) {
    super("PAYLOAD_TOO_LARGE", `Payload of ${size} bytes exceeds the limit of ${limit} bytes`, {
      data: { size, limit },
    });
  }
}

/** A limit on concurrent work (in-flight calls, connections) was hit; retry later. HTTP 429. */
export class OverloadedError extends PraasError {
  constructor(message: string) {
    super("OVERLOADED", message, { retryable: true });
  }
}

/** The connection dropped while the call was in flight: it may or may not have run. */
export class ConnectionLostError extends PraasError {
  constructor(message: string) {
    super("CONNECTION_LOST", message, { retryable: true });
  }
}

registerErrorClass("UNAUTHENTICATED", UnauthenticatedError);
registerErrorClass("FORBIDDEN", ForbiddenError);
registerErrorClass("PROTOCOL_ERROR", ProtocolError);
registerErrorClass("PAYLOAD_TOO_LARGE", PayloadTooLargeError);
registerErrorClass("OVERLOADED", OverloadedError);
registerErrorClass("CONNECTION_LOST", ConnectionLostError);
