import {
  type ClientFrame,
  encodeTrusted,
  InvalidArgumentError,
  isChannel,
  MAX_CHANNEL_LENGTH,
  MAX_NAME_LENGTH,
  type PraasError,
  ProtocolError,
  readTraceFields,
  type SerializedError,
  serializeError,
  type TraceCarrier,
} from "@praas/core/internal";
import type { RecordedEvent } from "./event-streams.js";

/** Longest method or event name accepted on the wire. */
export const MAX_MEMBER_NAME = 256;

export type ParsedFrame =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly id: number | null; readonly error: PraasError };

function fail(id: number | null, message: string): ParsedFrame {
  return { ok: false, id, error: new ProtocolError(message) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A request id: a non-negative safe integer. */
function readId(v: unknown): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function isName(v: unknown, max: number): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= max;
}

/**
 * Check a decoded client frame field by field. A frame whose id is readable is
 * answered with that id, so the client can fail the one call it sent.
 */
export function parseClientFrame(v: unknown, maxCallTimeoutMs: number): ParsedFrame {
  if (!isRecord(v)) return fail(null, "A frame must be a CBOR map");
  const id = readId(v.id);
  if (id === null) return fail(null, "Frame field id must be a non-negative integer");
  switch (v.t) {
    case "call": {
      if (!isName(v.type, MAX_NAME_LENGTH)) return fail(id, "call frame: type must be a non-empty string");
      if (typeof v.key !== "string") return fail(id, "call frame: key must be a string");
      if (!isName(v.method, MAX_MEMBER_NAME)) {
        return fail(id, `call frame: method must be a non-empty string of at most ${MAX_MEMBER_NAME} chars`);
      }
      if (!Array.isArray(v.args)) return fail(id, "call frame: args must be an array");
      const timeoutMs = readTimeout("call", v.timeoutMs, maxCallTimeoutMs);
      if (timeoutMs instanceof InvalidArgumentError) return { ok: false, id, error: timeoutMs };
      const trace = readTrace("call", v);
      if (typeof trace === "string") return fail(id, trace);
      const sent = readSent(v.sent);
      if (sent === null) return fail(id, SENT_PROBLEM("call"));
      return {
        ok: true,
        frame: withTrace(
          { t: "call", id, type: v.type, key: v.key, method: v.method, args: v.args, timeoutMs, sent },
          trace,
        ),
      };
    }
    case "send": {
      if (!isName(v.type, MAX_NAME_LENGTH)) return fail(id, "send frame: type must be a non-empty string");
      if (typeof v.key !== "string") return fail(id, "send frame: key must be a string");
      if (!isChannel(v.channel)) {
        return fail(id, `send frame: channel must be a non-empty string of at most ${MAX_CHANNEL_LENGTH} chars`);
      }
      if (v.durable !== undefined && typeof v.durable !== "boolean") {
        return fail(id, "send frame: durable must be a boolean");
      }
      const timeoutMs = readTimeout("send", v.timeoutMs, maxCallTimeoutMs);
      if (timeoutMs instanceof InvalidArgumentError) return { ok: false, id, error: timeoutMs };
      const trace = readTrace("send", v);
      if (typeof trace === "string") return fail(id, trace);
      const sent = readSent(v.sent);
      if (sent === null) return fail(id, SENT_PROBLEM("send"));
      const send = { t: "send", id, type: v.type, key: v.key, channel: v.channel, data: v.data } as const;
      return {
        ok: true,
        frame: withTrace({ ...send, durable: v.durable, timeoutMs, sent }, trace),
      };
    }
    case "invoke": {
      if (!isName(v.type, MAX_NAME_LENGTH)) return fail(id, "invoke frame: type must be a non-empty string");
      if (!isName(v.method, MAX_MEMBER_NAME)) {
        return fail(id, `invoke frame: method must be a non-empty string of at most ${MAX_MEMBER_NAME} chars`);
      }
      if (!Array.isArray(v.args)) return fail(id, "invoke frame: args must be an array");
      const timeoutMs = readTimeout("invoke", v.timeoutMs, maxCallTimeoutMs);
      if (timeoutMs instanceof InvalidArgumentError) return { ok: false, id, error: timeoutMs };
      const trace = readTrace("invoke", v);
      if (typeof trace === "string") return fail(id, trace);
      const sent = readSent(v.sent);
      if (sent === null) return fail(id, SENT_PROBLEM("invoke"));
      return {
        ok: true,
        frame: withTrace({ t: "invoke", id, type: v.type, method: v.method, args: v.args, timeoutMs, sent }, trace),
      };
    }
    case "sub": {
      if (!isName(v.type, MAX_NAME_LENGTH)) return fail(id, "sub frame: type must be a non-empty string");
      if (typeof v.key !== "string") return fail(id, "sub frame: key must be a string");
      if (!isName(v.event, MAX_MEMBER_NAME)) {
        return fail(id, `sub frame: event must be a non-empty string of at most ${MAX_MEMBER_NAME} chars`);
      }
      const after = v.after;
      if (after !== undefined && (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0)) {
        return fail(id, "sub frame: after must be a non-negative integer");
      }
      if (v.stream !== undefined && !isName(v.stream, 64)) return fail(id, "sub frame: stream must be a short string");
      if ((after === undefined) !== (v.stream === undefined)) {
        return fail(id, "sub frame: give both after and stream to resume, or neither");
      }
      return {
        ok: true,
        frame: {
          t: "sub",
          id,
          type: v.type,
          key: v.key,
          event: v.event,
          after: after as number | undefined,
          stream: v.stream as string | undefined,
        },
      };
    }
    case "unsub": {
      const sub = readId(v.sub);
      if (sub === null) return fail(id, "unsub frame: sub must be a non-negative integer");
      return { ok: true, frame: { t: "unsub", id, sub } };
    }
    default:
      return fail(
        id,
        `Unknown frame type ${typeof v.t === "string" ? JSON.stringify(v.t.slice(0, 32)) : `of kind ${kindOf(v.t)}`}`,
      );
  }
}

/** An optional deadline, clamped to the gateway's maximum (an error when not a positive number). */
function readTimeout(frame: string, v: unknown, max: number): number | undefined | InvalidArgumentError {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    return new InvalidArgumentError(`${frame} frame: timeoutMs must be a positive number`);
  }
  return Math.min(v, max);
}

/** The optional `sent` stamp (ms on the caller's monotonic clock); null when it is not a non-negative finite number. */
function readSent(v: unknown): number | undefined | null {
  if (v === undefined) return undefined;
  return typeof v === "number" && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? v : null;
}
const SENT_PROBLEM = (frame: string) => `${frame} frame: sent must be a non-negative number (ms)`;

/** `frame` with the trace fields, when it has some (the common case allocates nothing more). */
function withTrace<F extends ClientFrame>(frame: F, trace: TraceCarrier | undefined): F {
  return trace === undefined ? frame : { ...frame, ...trace };
}

/** The optional W3C trace context of a work frame, or a problem to report. */
function readTrace(frame: string, v: Record<string, unknown>): TraceCarrier | undefined | string {
  if (v.traceparent === undefined && v.tracestate === undefined) return undefined;
  const trace = readTraceFields(v.traceparent, v.tracestate);
  return typeof trace === "string" ? `${frame} frame: ${trace}` : trace;
}

/** A short, safe description of an untrusted value (never its contents: it may be huge or hostile). */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

// ---- server → client ----

export function okFrame(id: number, value: unknown): Uint8Array {
  return encodeTrusted({ t: "ok", id, value });
}

export function errFrame(id: number | null, err: unknown): Uint8Array {
  const e: SerializedError = serializeError(err);
  return encodeTrusted({ t: "err", id, error: e });
}

export function helloFrame(
  silo: string,
  version: number,
  maxFrameBytes: number,
  maxInFlight: number,
  callTimeoutMs: number,
): Uint8Array {
  return encodeTrusted({ t: "hello", v: version, silo, maxFrameBytes, maxInFlight, callTimeoutMs });
}

export function gapFrame(sub: number, from: number, to: number | null): Uint8Array {
  return encodeTrusted({ t: "gap", sub, from, to });
}

// An ev frame is the CBOR map {t, sub, seq, event, payload} assembled from
// pieces: the event name and payload were encoded once when recorded, so
// fanning an event out to many clients encodes only two small integers each.
const EV_HEAD = Buffer.concat([Buffer.from([0xa5]), encodeTrusted("t"), encodeTrusted("ev"), encodeTrusted("sub")]);
const SEQ_KEY = encodeTrusted("seq");
const EVENT_KEY = encodeTrusted("event");
const PAYLOAD_KEY = encodeTrusted("payload");

export function eventFrame(sub: number, ev: RecordedEvent): Uint8Array {
  return Buffer.concat([
    EV_HEAD,
    encodeTrusted(sub),
    SEQ_KEY,
    encodeTrusted(ev.seq),
    EVENT_KEY,
    ev.eventBytes,
    PAYLOAD_KEY,
    ev.payloadBytes,
  ]);
}
