import { addExtension, Encoder } from "cbor-x";
import { checkCbor, type DecodeLimits, MAX_BIGNUM_BYTES, TRUSTED_DECODE_LIMITS } from "./cbor-check.js";
import { CodecError } from "./errors.js";

/**
 * The one codec of the framework: standard CBOR (cbor-x with `useRecords: false`,
 * so any CBOR decoder can read it). It carries null, undefined, booleans, numbers,
 * bigint, strings, Uint8Array, Date, Map, Set, arrays and plain objects, nested.
 *
 * cbor-x silently turns class instances into plain objects and functions into
 * nothing; {@link assertEncodable} rejects those up front so the caller gets a
 * clear error instead of a quietly different value on the other side.
 *
 * Every decode first checks the bytes in one linear pass (cbor-check.ts): only
 * the tags the codec writes, bounded nesting, lengths that fit; frames from
 * clients also get bounds on bignums and on numbers used as Map keys. So no
 * input costs more to decode than a plain one of its size.
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

/**
 * Values reached more than once (an object referenced from two places is
 * encoded twice) may add at most this many copies of values to an encoding:
 * a small graph that shares objects level after level would otherwise expand
 * exponentially when encoded.
 */
export const MAX_SHARED_COPIES = 1 << 20;

/** Largest bigint magnitude the codec carries (see MAX_BIGNUM_BYTES): below 2^8192. */
const BIGINT_BOUND = 1n << BigInt(8 * MAX_BIGNUM_BYTES);

// cbor-x builds a bignum by shifting in one byte at a time: quadratic in its
// length (256 KiB took 32 s). Parsing its hex digits is linear. The decoders
// are module-wide in cbor-x, so this applies to every cbor-x decoder in the
// process — with the same results.
const hexText = new TextDecoder("latin1");
function bignumOf(bytes: Uint8Array): bigint {
  const n = bytes.length;
  if (n === 0) return 0n;
  // Two ASCII hex digits per byte, turned into one string at once.
  const digits = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] as number;
    const hi = b >> 4;
    const lo = b & 15;
    digits[2 * i] = hi < 10 ? 48 + hi : 87 + hi;
    digits[2 * i + 1] = lo < 10 ? 48 + lo : 87 + lo;
  }
  return BigInt(`0x${hexText.decode(digits)}`);
}
/** Replace cbor-x's decoder of `tag` (its types want an encoder too; at run time a decoder alone is fine). */
function decodeTag(tag: number, decode: (bytes: Uint8Array) => unknown): void {
  addExtension({ tag, decode } as unknown as Parameters<typeof addExtension>[0]);
}
decodeTag(2, bignumOf);
decodeTag(3, (bytes) => -1n - bignumOf(bytes));
// A Uint8Array (tag 64 around a byte string): cbor-x copies the bytes it has
// just read into a new ArrayBuffer (materialising V8's on-heap array: ~1 µs
// per value). The byte string it decoded is already what the decoder
// promises — a copy with copyBuffers, a view without — and a Uint8Array,
// because decode() hands cbor-x a plain Uint8Array (see plain()).
decodeTag(64, (bytes) => bytes);

export function encode(value: unknown): Uint8Array {
  assertEncodable(value, "value");
  return encoder.encode(value);
}

/** Encode without the shape check: for values the framework built itself. */
export function encodeTrusted(value: unknown): Uint8Array {
  return encoder.encode(value);
}

// cbor-x writes every encoding into one buffer shared by all its encoders
// (8 KiB to start) and returns a view of it; a value that does not fit makes
// it allocate a buffer 4× the value's size, which it then keeps using.
/** Below this size a kept encoding is copied out of the shared buffer. */
const KEPT_COPY_MAX = 64 * 1024;
/** Room past a size hint, so a value that grew a little still fits (cbor-x wants 2 KiB free when it starts). */
const HINT_SLACK = 4096;
// In Node cbor-x's buffers must be Buffers (it writes strings with Buffer#utf8Write); in a browser, plain.
const NodeBuffer = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer;
// cbor-x has `useBuffer` (write the next encodings into this buffer); its typings omit it.
const bufferOwner = encoder as Encoder & { useBuffer(buffer: Uint8Array): void };
function useFreshBuffer(size: number): void {
  bufferOwner.useBuffer(NodeBuffer !== undefined ? NodeBuffer.allocUnsafeSlow(size) : new Uint8Array(size));
}

/**
 * Encode a value whose encoding the caller keeps for long (a state record,
 * held to skip unchanged writes); no shape check: check it first. Keeping the
 * result pins no buffer that later encodings write into:
 * - a small one is copied out of the shared buffer (under a µs at 1 KiB);
 *   kept as a view it would pin a buffer many times its size;
 * - a large one is written into a buffer of its own, sized by `sizeHint`
 *   (the length of the value's last encoding) when there is one. Left to
 *   cbor-x it would land in a fresh buffer 4× its size, and above 8 MiB that
 *   is a fresh mapping from the OS every time: faulting in its pages cost
 *   about 3 ms per MiB on our test machines, ten times the copy itself.
 */
export function encodeKept(value: unknown, sizeHint = 0): Uint8Array {
  if (sizeHint >= KEPT_COPY_MAX) useFreshBuffer(sizeHint + HINT_SLACK);
  const out = encoder.encode(value);
  if (out.byteLength >= KEPT_COPY_MAX) {
    // Later encodings go to a new small buffer, not into the rest of this one.
    useFreshBuffer(8192);
    return out;
  }
  if (sizeHint >= KEPT_COPY_MAX) useFreshBuffer(8192); // the hint was wrong: drop the large buffer
  return out.byteLength * 2 >= out.buffer.byteLength ? out : new Uint8Array(out);
}

/**
 * Decode one CBOR item. `limits` (default: structural checks only, for data
 * this process or an authenticated peer wrote) bound what it may cost; give
 * UNTRUSTED_DECODE_LIMITS or stricter ones for bytes from clients. Bytes
 * outside the limits or not well-formed throw a {@link CodecError}.
 */
export function decode(bytes: Uint8Array, limits: DecodeLimits = TRUSTED_DECODE_LIMITS): unknown {
  checkCbor(bytes, limits);
  return encoder.decode(plain(bytes));
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
export function decodeView(bytes: Uint8Array, limits: DecodeLimits = TRUSTED_DECODE_LIMITS): unknown {
  checkCbor(bytes, limits);
  return viewDecoder.decode(plain(bytes));
}

/**
 * `bytes` as a plain Uint8Array. cbor-x slices byte strings out of its source
 * with the source's own class, so a Buffer source would yield Buffers (whose
 * slice() shares memory and whose toString() is text) where the codec promises
 * Uint8Arrays.
 */
function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Throw a {@link CodecError} naming the path of the first value the codec
 * cannot carry. Cheap for primitives, linear in the size of containers (an
 * object reached twice is checked once).
 */
export function assertEncodable(value: unknown, path: string): void {
  const problem = problemOf(value);
  if (problem !== undefined) throw new CodecError(problem.describe(path));
}

/** Like {@link assertEncodable} for an argument list, without allocating for primitive args. */
export function assertEncodableArgs(args: readonly unknown[], what: string): void {
  for (let i = 0; i < args.length; i++) {
    const v = args[i];
    if (v === null || (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol")) {
      if (typeof v !== "bigint" || (v < BIGINT_BOUND && v >= -BIGINT_BOUND)) continue;
    }
    const problem = problemOf(v);
    if (problem !== undefined) throw new CodecError(problem.describe(`${what}[${i}]`));
  }
}

/**
 * Two walks. The quick one keeps no sets: cycles show up as nesting past
 * MAX_DEPTH, shared objects as visits past a budget. Only then does the
 * careful one run, which tracks the objects on the path (cycles) and the
 * objects already checked (so a graph that shares objects level after level
 * costs its number of objects, not its exponential number of paths).
 */
function problemOf(value: unknown): Problem | undefined {
  const quick = new QuickWalk();
  const problem = quick.value(value, 0);
  if (problem === undefined && !quick.gaveUp) return undefined;
  if (problem !== undefined && !quick.gaveUp) return problem;
  return new CarefulWalk().value(value, 0);
}

/** Values the quick walk visits before it hands over to the careful one. */
const QUICK_WALK_BUDGET = 1 << 22;

const BIGINT_PROBLEM = `is a bigint of more than ${8 * MAX_BIGNUM_BYTES} bits, which cannot be sent or stored`;

/** What is wrong and where: path segments are collected on the way out, so a value that is fine costs no strings. */
class Problem {
  readonly #segments: string[] = [];
  constructor(readonly what: string) {}
  /** Add the segment of the enclosing level (called from the innermost level outwards). */
  at(segment: string): Problem {
    this.#segments.push(segment);
    return this;
  }
  describe(root: string): string {
    return `${root}${[...this.#segments].reverse().join("")} ${this.what}`;
  }
}

/** The problem with a value that is not a container (undefined: fine, or a container). */
function leafProblem(v: unknown): Problem | undefined | "container" {
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
    case "undefined":
      return undefined;
    case "bigint":
      return v >= BIGINT_BOUND || v < -BIGINT_BOUND ? new Problem(BIGINT_PROBLEM) : undefined;
    case "function":
      return new Problem("is a function, which cannot be sent or stored");
    case "symbol":
      return new Problem("is a symbol, which cannot be sent or stored");
  }
  if (v === null) return undefined;
  const obj = v as object;
  if (ArrayBuffer.isView(obj)) {
    return obj instanceof Uint8Array ? undefined : new Problem(`is a ${obj.constructor.name}; use a Uint8Array`);
  }
  if (obj instanceof Date) return undefined;
  if (Array.isArray(obj) || obj instanceof Map || obj instanceof Set) return "container";
  const proto = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? "unknown";
    return new Problem(
      `is an instance of class ${name}; only plain objects, arrays, Map, Set, Date, Uint8Array and primitives can be sent or stored`,
    );
  }
  return "container";
}

/** Call `visit` for each child of a container with its path segment (lazily built); stop at the first problem. */
function eachChild(obj: object, visit: (child: unknown) => Problem | undefined): Problem | undefined {
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const p = visit(obj[i]);
      if (p !== undefined) return p.at(`[${i}]`);
    }
  } else if (obj instanceof Map) {
    for (const [k, val] of obj) {
      const pk = visit(k);
      if (pk !== undefined) return pk.at("<key>");
      const pv = visit(val);
      if (pv !== undefined) return pv.at(`.get(${describeKey(k)})`);
    }
  } else if (obj instanceof Set) {
    for (const item of obj) {
      const p = visit(item);
      if (p !== undefined) return p.at("<item>");
    }
  } else {
    for (const k of Object.keys(obj)) {
      const p = visit((obj as Record<string, unknown>)[k]);
      if (p !== undefined) return p.at(`.${k}`);
    }
  }
  return undefined;
}

class QuickWalk {
  gaveUp = false;
  #visits = 0;

  value(v: unknown, depth: number): Problem | undefined {
    if (++this.#visits > QUICK_WALK_BUDGET) {
      this.gaveUp = true;
      return new Problem("(too big for the quick check)");
    }
    const leaf = leafProblem(v);
    if (leaf !== "container") return leaf;
    if (depth >= MAX_DEPTH) {
      this.gaveUp = true; // deep, or a cycle: the careful walk tells which
      return new Problem("(too deep for the quick check)");
    }
    return eachChild(v as object, (child) => this.value(child, depth + 1));
  }
}

class CarefulWalk {
  readonly #onPath = new Set<object>();
  /** Containers checked already, with the number of values each holds (itself included). */
  readonly #sizes = new Map<object, number>();
  #copies = 0;
  /** Values counted in the container being walked. */
  #size = 0;

  value(v: unknown, depth: number): Problem | undefined {
    this.#size++;
    const leaf = leafProblem(v);
    if (leaf !== "container") return leaf;
    const obj = v as object;
    if (this.#onPath.has(obj)) return new Problem("is a circular reference");
    const known = this.#sizes.get(obj);
    if (known !== undefined) {
      this.#copies += known;
      this.#size += known - 1;
      if (this.#copies > MAX_SHARED_COPIES) {
        return new Problem(
          `repeats shared objects so often that it would encode more than ${MAX_SHARED_COPIES} copied values; send each object once`,
        );
      }
      return undefined;
    }
    if (depth >= MAX_DEPTH) return new Problem(`is nested deeper than ${MAX_DEPTH} levels`);
    const outer = this.#size;
    this.#size = 0;
    this.#onPath.add(obj);
    const problem = eachChild(obj, (child) => this.value(child, depth + 1));
    this.#onPath.delete(obj);
    if (problem !== undefined) return problem;
    const inner = this.#size;
    this.#sizes.set(obj, inner + 1);
    this.#size = outer + inner;
    return undefined;
  }
}

/** A Map key in an error path: short, whatever it is. */
function describeKey(k: unknown): string {
  const s = typeof k === "string" ? k : typeof k === "object" && k !== null ? "<object>" : String(k);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
