/**
 * Silo-to-silo wire format. A frame is one binary WebSocket message holding a
 * standard-CBOR array of envelopes; each envelope is a short array whose first
 * element says what it is. Arrays rather than maps: they are smaller and
 * cheaper to encode and check, and a frame of a thousand calls repeats no keys.
 *
 *   call   [0, id, type, key, method, args, timeoutMs, chain, hops, traceparent?, tracestate?, sent?]
 *   ok     [1, id, value]
 *   error  [2, id, SerializedError, notRun]
 *   bye    [3]   the sender is draining: route nothing new to it
 *   byeAck [4]   answer to bye: everything sent before it is all there will be
 *   caps   [5, features]   sent once each way when a connection opens: optional
 *                          features the sender understands (older silos drop it unread)
 *
 * `id` numbers requests per connection; a reply goes back on the connection
 * its call came in on. `notRun` is set only by the router when it refused the
 * call before any actor saw it (hop limit, no owner), so the caller may send
 * it again without breaking at-most-once. A call carries W3C trace context
 * only when the sending silo traces (docs/observability.md), so a cluster that
 * does not trace sends exactly the nine elements older silos expect.
 *
 * `sent` (feature "sent") is the sending silo's monotonic clock when it sent
 * the call; with it the trace elements are present, null when there is no
 * trace. It goes only to a peer whose caps list "sent", and lets that peer
 * refuse, unrun, a call that reached it after its deadline (held up in a
 * partition between the two silos: arrival-delay.ts).
 */
import {
  type ChainLink,
  decodeView,
  encodeTrusted,
  isSerializedError,
  isTraceparent,
  isTracestate,
  MAX_CHAIN_LENGTH,
  MAX_NAME_LENGTH,
  type SerializedError,
  type TraceCarrier,
} from "@praas/core/internal";

export const CALL = 0;
export const OK = 1;
export const ERR = 2;
export const BYE = 3;
export const BYE_ACK = 4;
export const CAPS = 5;

/** The optional features this silo understands (its caps envelope). */
export const FEATURE_SENT = "sent";
export const FEATURES: readonly string[] = [FEATURE_SENT];

export type CallEnvelope = [
  kind: typeof CALL,
  id: number,
  type: string,
  key: string,
  method: string,
  args: unknown[],
  timeoutMs: number,
  chain: ChainLink[],
  hops: number,
  traceparent?: string | null,
  tracestate?: string | null,
  sent?: number,
];
export type OkEnvelope = [kind: typeof OK, id: number, value: unknown];
export type ErrEnvelope = [kind: typeof ERR, id: number, error: SerializedError, notRun: boolean];
export type ByeEnvelope = [kind: typeof BYE];
export type ByeAckEnvelope = [kind: typeof BYE_ACK];
export type CapsEnvelope = [kind: typeof CAPS, features: string[]];
export type Envelope = CallEnvelope | OkEnvelope | ErrEnvelope | ByeEnvelope | ByeAckEnvelope | CapsEnvelope;

/** Longest deadline a peer may ask for (a day); longer is a bug or an attack on memory. */
export const MAX_TIMEOUT_MS = 86_400_000;
/** Hop counts above this are rejected outright, whatever `maxHops` says. */
export const MAX_WIRE_HOPS = 64;

export function encodeFrame(envelopes: readonly Envelope[]): Uint8Array {
  // Values were checked when the call was made (arguments) or settled (results).
  return encodeTrusted(envelopes);
}

/** Append a traced call's W3C trace context to its envelope. */
export function addTrace(envelope: CallEnvelope, carrier: TraceCarrier): void {
  envelope.push(carrier.traceparent);
  if (carrier.tracestate !== undefined) envelope.push(carrier.tracestate);
}

/** Stamp a call envelope with `sent` (for a peer that has the feature): the trace elements are filled in first. */
export function addSent(envelope: CallEnvelope, sent: number): void {
  while (envelope.length < 11) envelope.push(null);
  envelope.push(sent);
}

/** The trace context a call envelope carries, if any (checked by parseEnvelope). */
export function traceOf(envelope: CallEnvelope): TraceCarrier | undefined {
  const [, , , , , , , , , traceparent, tracestate] = envelope;
  return traceparent === undefined || traceparent === null
    ? undefined
    : { traceparent, tracestate: tracestate ?? undefined };
}

/** The envelopes of a frame, or undefined when the bytes are not a CBOR array. */
export function decodeFrame(bytes: Uint8Array): unknown[] | undefined {
  let value: unknown;
  try {
    value = decodeView(bytes);
  } catch {
    return undefined;
  }
  return Array.isArray(value) ? value : undefined;
}

/** Result of checking one incoming envelope. */
export type Parsed =
  | { readonly ok: true; readonly envelope: Envelope }
  | { readonly ok: false; readonly id: number | undefined; readonly problem: string };

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function isName(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_NAME_LENGTH;
}

function isChain(v: unknown): v is ChainLink[] {
  if (!Array.isArray(v) || v.length > MAX_CHAIN_LENGTH) return false;
  for (const link of v) {
    if (!Array.isArray(link) || link.length !== 2 || !isName(link[0]) || !isId(link[1])) return false;
  }
  return true;
}

/**
 * Check an envelope from the network. A bad one is reported with its id when
 * it has a readable one, so the sender can get an error reply instead of
 * waiting for its deadline.
 */
export function parseEnvelope(raw: unknown): Parsed {
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, id: undefined, problem: "not an envelope" };
  const kind = raw[0];
  const id = isId(raw[1]) ? raw[1] : undefined;
  switch (kind) {
    case CALL: {
      if (raw.length < 9 || raw.length > 12 || id === undefined) return bad(id, "call envelope has the wrong shape");
      if (!isName(raw[2]) || !isName(raw[3]) || !isName(raw[4])) return bad(id, "call names no actor or method");
      if (!Array.isArray(raw[5])) return bad(id, "call arguments are not an array");
      const timeoutMs = raw[6];
      if (typeof timeoutMs !== "number" || !(timeoutMs > 0) || timeoutMs > MAX_TIMEOUT_MS) {
        return bad(id, "call has no valid timeout");
      }
      if (!isChain(raw[7])) return bad(id, "call chain is malformed");
      const hops = raw[8];
      if (!Number.isInteger(hops) || (hops as number) < 0 || (hops as number) > MAX_WIRE_HOPS) {
        return bad(id, "call hop count is malformed");
      }
      // With `sent`, an absent trace is present as null.
      const stamped = raw.length === 12;
      if (raw.length > 9 && !(stamped && raw[9] === null) && !isTraceparent(raw[9])) {
        return bad(id, "call traceparent is malformed");
      }
      if (raw.length > 10 && !(stamped && raw[10] === null) && !isTracestate(raw[10])) {
        return bad(id, "call tracestate is malformed");
      }
      if (stamped) {
        const sent = raw[11];
        if (typeof sent !== "number" || !(sent >= 0) || sent > Number.MAX_SAFE_INTEGER) {
          return bad(id, "call sent stamp is malformed");
        }
      }
      return { ok: true, envelope: raw as CallEnvelope };
    }
    case OK:
      if (raw.length !== 3 || id === undefined) return bad(undefined, "ok envelope has the wrong shape");
      return { ok: true, envelope: raw as OkEnvelope };
    case ERR:
      if (raw.length !== 4 || id === undefined || !isSerializedError(raw[2]) || typeof raw[3] !== "boolean") {
        return bad(undefined, "error envelope has the wrong shape");
      }
      return { ok: true, envelope: raw as ErrEnvelope };
    case BYE:
    case BYE_ACK:
      if (raw.length !== 1) return bad(undefined, "control envelope has the wrong shape");
      return { ok: true, envelope: raw as ByeEnvelope | ByeAckEnvelope };
    case CAPS: {
      const features = raw[1];
      if (
        raw.length !== 2 ||
        !Array.isArray(features) ||
        features.length > 32 ||
        !features.every((f) => typeof f === "string" && f.length > 0 && f.length <= 64)
      ) {
        return bad(undefined, "caps envelope has the wrong shape");
      }
      return { ok: true, envelope: raw as CapsEnvelope };
    }
    default:
      // Replies never get replies: only a call's id is worth answering.
      return bad(undefined, `unknown envelope kind ${JSON.stringify(kind)}`);
  }
}

function bad(id: number | undefined, problem: string): Parsed {
  return { ok: false, id, problem };
}
