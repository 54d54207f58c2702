import { assertEncodable, decode, encodeKept } from "./codec.js";
import { CorruptStateError } from "./errors.js";

/**
 * What the runtime stores for one actor: a versioned CBOR record. `f` is the
 * record format (so the layout can evolve), `v` the actor's own state version
 * (for `migrateState`), `s` the state, `m` unconsumed inbox messages, `x` ids
 * of durable messages already delivered (so a resend is not delivered twice).
 */
export interface StateRecord {
  readonly stateVersion: number;
  readonly state: unknown;
  readonly inbox?: readonly unknown[];
  /** Ids of durable messages already delivered (for deduplication of resends). */
  readonly delivered?: readonly string[];
}

export const STATE_RECORD_FORMAT = 1;
const MARKER = "praas";

/**
 * The stored bytes of `record`, safe to keep (the runtime keeps the last
 * record it wrote, to skip unchanged writes). `sizeHint`, the length of the
 * actor's previous record, lets a large state be encoded straight into a
 * buffer of its size.
 */
export function encodeStateRecord(record: StateRecord, sizeHint?: number): Uint8Array {
  const out: Record<string, unknown> = { [MARKER]: STATE_RECORD_FORMAT, v: record.stateVersion, s: record.state };
  if (record.inbox !== undefined && record.inbox.length > 0) out.m = record.inbox;
  if (record.delivered !== undefined && record.delivered.length > 0) out.x = record.delivered;
  assertEncodable(out, "value");
  return encodeKept(out, sizeHint);
}

/**
 * Decode and check a stored record; anything unexpected is a {@link CorruptStateError} naming
 * `where` (a function is only called then: building the name costs on every swap-in).
 */
export function decodeStateRecord(bytes: Uint8Array, where: string | (() => string)): StateRecord {
  const record = checkedRecord(bytes);
  if (typeof record === "string") {
    throw new CorruptStateError(typeof where === "string" ? where : where(), record);
  }
  return record;
}

/** The record, or what is wrong with it. */
function checkedRecord(bytes: Uint8Array): StateRecord | string {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    return `not valid CBOR (${(err as Error).message})`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || !(MARKER in value)) {
    return "not a PraaS state record";
  }
  const r = value as Record<string, unknown>;
  if (r[MARKER] !== STATE_RECORD_FORMAT) {
    return `record format ${String(r[MARKER])} is not supported (expected ${STATE_RECORD_FORMAT})`;
  }
  if (typeof r.v !== "number" || !Number.isInteger(r.v) || r.v < 1) {
    return "state version is missing or invalid";
  }
  if (r.m !== undefined && !Array.isArray(r.m)) return "inbox is not a list";
  if (r.x !== undefined && (!Array.isArray(r.x) || r.x.some((id) => typeof id !== "string"))) {
    return "delivered message ids are not a list of strings";
  }
  const record: { -readonly [K in keyof StateRecord]: StateRecord[K] } = { stateVersion: r.v, state: r.s };
  if (r.m !== undefined) record.inbox = r.m;
  if (r.x !== undefined) record.delivered = r.x as string[];
  return record;
}
