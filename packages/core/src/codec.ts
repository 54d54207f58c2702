import { Encoder } from "cbor-x";
import { CodecError } from "./errors.js";

/**
 * The one codec of the framework: standard CBOR (cbor-x with `useRecords: false`,
 * so any CBOR decoder can read it). It carries null, undefined, booleans, numbers,
 * bigint, strings, Uint8Array, Date, Map, Set, arrays and plain objects, nested.
 *
 * cbor-x silently turns class instances into plain objects and functions into
 * nothing; {@link assertEncodable} rejects those up front so the caller gets a
 * clear error instead of a quietly different value on the other side.
 */
// Maps, Sets, Dates, bigints and Uint8Arrays travel as standard CBOR tags, so
// a Map with string keys still comes back as a Map and not as an object.
// `copyBuffers`: a decoded byte string must not be a view into the bytes it was
// decoded from — an actor mutating its state in place would otherwise change a
// network buffer, or the stored bytes the runtime compares against to skip
// unchanged writes.
const encoder = new Encoder({ useRecords: false, copyBuffers: true });

/** Deepest nesting we accept; deeper data is almost certainly hostile or a bug. */
export const MAX_DEPTH = 256;

export function encode(value: unknown): Uint8Array {
  assertEncodable(value, "value");
  return encoder.encode(value);
}

/** Encode without the shape check: for values the framework built itself. */
export function encodeTrusted(value: unknown): Uint8Array {
  return encoder.encode(value);
}

export function decode(bytes: Uint8Array): unknown {
  return encoder.decode(bytes);
}

// Zero-copy twin of `decode`, for silo-to-silo frames only.
const viewDecoder = new Encoder({ useRecords: false, copyBuffers: false });

/**
 * Decode without copying byte strings: each decoded Uint8Array is a view of
 * `bytes`. Only for buffers nobody reuses (a received WebSocket message): it
 * saves a copy of every byte payload per hop (milliseconds for a 5 MiB
 * message), at the price that a byte string kept in an actor's state keeps
 * its whole frame in memory until the actor is swapped out.
 */
export function decodeView(bytes: Uint8Array): unknown {
  return viewDecoder.decode(bytes);
}

/**
 * Throw a {@link CodecError} naming the path of the first value the codec
 * cannot carry. Cheap for primitives, linear in the size of containers.
 */
export function assertEncodable(value: unknown, path: string): void {
  const problem = findUnencodable(value, path, 0, undefined);
  if (problem !== undefined) throw new CodecError(problem);
}

/** Like {@link assertEncodable} for an argument list, without allocating for primitive args. */
export function assertEncodableArgs(args: readonly unknown[], what: string): void {
  for (let i = 0; i < args.length; i++) {
    const v = args[i];
    if (v === null || (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol")) continue;
    const problem = findUnencodable(v, `${what}[${i}]`, 0, undefined);
    if (problem !== undefined) throw new CodecError(problem);
  }
}

function findUnencodable(v: unknown, path: string, depth: number, seen: Set<object> | undefined): string | undefined {
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return undefined;
    case "function":
      return `${path} is a function, which cannot be sent or stored`;
    case "symbol":
      return `${path} is a symbol, which cannot be sent or stored`;
  }
  if (v === null) return undefined;
  if (depth >= MAX_DEPTH) return `${path} is nested deeper than ${MAX_DEPTH} levels`;
  const obj = v as object;
  if (ArrayBuffer.isView(obj)) {
    return obj instanceof Uint8Array ? undefined : `${path} is a ${obj.constructor.name}; use a Uint8Array`;
  }
  if (obj instanceof Date) return undefined;
  const s = seen ?? new Set<object>();
  if (s.has(obj)) return `${path} is a circular reference`;
  s.add(obj);
  let problem: string | undefined;
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length && problem === undefined; i++) {
      problem = findUnencodable(obj[i], `${path}[${i}]`, depth + 1, s);
    }
  } else if (obj instanceof Map) {
    for (const [k, val] of obj) {
      problem =
        findUnencodable(k, `${path}<key>`, depth + 1, s) ??
        findUnencodable(val, `${path}.get(${String(k)})`, depth + 1, s);
      if (problem !== undefined) break;
    }
  } else if (obj instanceof Set) {
    for (const item of obj) {
      problem = findUnencodable(item, `${path}<item>`, depth + 1, s);
      if (problem !== undefined) break;
    }
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? "unknown";
      return `${path} is an instance of class ${name}; only plain objects, arrays, Map, Set, Date, Uint8Array and primitives can be sent or stored`;
    }
    for (const k of Object.keys(obj)) {
      problem = findUnencodable((obj as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, s);
      if (problem !== undefined) break;
    }
  }
  s.delete(obj);
  return problem;
}
