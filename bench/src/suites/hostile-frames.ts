/**
 * Crafted inputs for the `hostile` suite: CBOR call frames and JSON request
 * bodies written byte by byte (nothing in our encoder shapes them), each
 * filling about `bytes` bytes, the frame limit at most.
 */

// ---- CBOR, by hand ----

export function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}
const text = (s: string): Buffer => Buffer.concat([head(3, Buffer.byteLength(s)), Buffer.from(s)]);
const tag = (t: number, item: Buffer): Buffer => Buffer.concat([head(6, t), item]);
const byteString = (b: Buffer): Buffer => Buffer.concat([head(2, b.length), b]);
/** An integer item (negative ones as major type 1). */
const int = (n: number): Buffer => (n >= 0 ? head(0, n) : head(1, -1 - n));
/** `count` copies of `piece` after an array header. */
const repeated = (count: number, piece: Buffer): Buffer =>
  Buffer.concat([head(4, count), Buffer.alloc(count * piece.length).fill(piece)]);

/** A call frame `{t: "call", id, type: "Sink", key: "k", method: "take", args: [arg]}`. */
export function callFrame(arg: Buffer, id = 1): Buffer {
  const pairs: [string, Buffer][] = [
    ["t", text("call")],
    ["id", int(id)],
    ["type", text("Sink")],
    ["key", text("k")],
    ["method", text("take")],
    ["args", Buffer.concat([head(4, 1), arg])],
  ];
  return Buffer.concat([head(5, pairs.length), ...pairs.flatMap(([k, v]) => [text(k), v])]);
}

/** Bytes a call frame adds around its argument. */
const FRAME_OVERHEAD = callFrame(Buffer.alloc(0)).length + 8;

// V8 hashes small integers (Smis) with an unseeded, invertible function
// (ComputeUnseededHash), so keys whose hashes share their low bits can be
// computed: they land in one bucket of a Map, and each insertion walks the
// whole chain. Inverting the hash step by step gives as many as needed.
const M32 = 0x1_0000_0000n;
const mulMod = (a: number, b: number): number => Number((BigInt(a) * BigInt(b)) % M32);
function modInverse(a: number): number {
  let [t, nt, r, nr] = [0n, 1n, M32, BigInt(a)];
  while (nr !== 0n) {
    const q = r / nr;
    [t, nt] = [nt, t - q * nt];
    [r, nr] = [nr, r - q * nr];
  }
  return Number(((t % M32) + M32) % M32);
}
const unXorShiftRight = (y: number, s: number): number => {
  let x = y;
  for (let i = 0; i < 32; i += s) x = (y ^ (x >>> s)) >>> 0;
  return x >>> 0;
};
const INV_32767 = modInverse(32767);
const INV_5 = modInverse(5);
const INV_2057 = modInverse(2057);
function unseededHash(key: number): number {
  let h = key >>> 0;
  h = (~h + (h << 15)) >>> 0;
  h = (h ^ (h >>> 12)) >>> 0;
  h = (h + (h << 2)) >>> 0;
  h = (h ^ (h >>> 4)) >>> 0;
  h = mulMod(h, 2057);
  h = (h ^ (h >>> 16)) >>> 0;
  return h & 0x3fffffff;
}
function hashPreimage(h: number): number {
  let x = unXorShiftRight(h, 16);
  x = mulMod(x, INV_2057);
  x = unXorShiftRight(x, 4);
  x = mulMod(x, INV_5);
  x = unXorShiftRight(x, 12);
  return mulMod((x + 1) >>> 0, INV_32767);
}
/**
 * `n` Smis whose V8 hashes agree in their low bits: enough bits to share a
 * bucket in every table a Map of `n` entries goes through while it grows.
 * Only so many Smis share 16 low bits: about 32,000 is the most it returns.
 */
export function collidingInts(n: number, lowBits = Math.min(16, Math.max(10, Math.ceil(Math.log2(n)) + 1))): number[] {
  const out: number[] = [];
  for (let k = 0; out.length < n && k < 2 ** (30 - lowBits); k++) {
    for (let top = 0; top < 4 && out.length < n; top++) {
      const key = hashPreimage(((top << 30) | (k << lowBits)) >>> 0);
      const smi = key | 0;
      if (smi >= -(2 ** 30) && smi < 2 ** 30 && (unseededHash(key) & ((1 << lowBits) - 1)) === 0) out.push(smi);
    }
  }
  return out;
}

/** A Map (tag 259) of the given integer keys, each to 0. */
const intKeyedMap = (keys: readonly number[]): Buffer =>
  tag(259, Buffer.concat([head(5, keys.length), ...keys.map((k) => Buffer.concat([int(k), Buffer.of(0)]))]));

export interface Crafted {
  /** Row label. */
  readonly name: string;
  /** What makes it hostile, for the table's notes. */
  readonly what: string;
  /** The frames to try, smallest first (the suite stops climbing once one stalls too long). */
  readonly steps: (limit: number) => readonly Buffer[];
}

/** Sizes a crafted input is tried at, up to the limit: ×4 steps. */
export function sizes(limit: number): number[] {
  const out: number[] = [];
  for (let s = limit; s >= 16 * 1024 && out.length < 4; s = Math.floor(s / 4)) out.unshift(s);
  return out;
}

/** A frame of about `bytes` built from an argument that fills what the frame leaves. */
const bySize =
  (argOf: (room: number) => Buffer) =>
  (limit: number): Buffer[] =>
    sizes(limit).map((bytes) => callFrame(argOf(bytes - FRAME_OVERHEAD)));

export const BASELINE_WS: Crafted = {
  name: "baseline: one string",
  what: "a plain valid frame of the same size: one text string",
  steps: bySize((room) => text("a".repeat(room))),
};

/** Hostile WebSocket frames. */
export const WS_FRAMES: readonly Crafted[] = [
  {
    name: "baseline: one byte string",
    what: "a plain valid frame: one Uint8Array",
    steps: bySize((room) => tag(64, byteString(Buffer.alloc(room, 7)))),
  },
  {
    name: "bignum, one",
    what: "tag 2 around the whole frame (cbor-x builds it byte by byte: quadratic)",
    steps: bySize((room) => tag(2, byteString(Buffer.alloc(room, 0xff)))),
  },
  {
    name: "bignums at 1 KiB each",
    what: "as many 1 KiB bignums as fit (the largest a client may send)",
    steps: bySize((room) => {
      const one = tag(2, byteString(Buffer.alloc(1024, 0xff)));
      return repeated(Math.floor(room / one.length), one);
    }),
  },
  {
    name: "shared references",
    what: "tags 28/29: level n holds level n-1 twice (2^n paths for the checks to walk)",
    steps: (limit) => {
      // Level k (0 outermost) is [28(level k+1), 29(k)]: it holds level k+1 twice. A decoder
      // numbers the shareable values (tag 28) in the order it meets them, outermost first.
      const nested = (depth: number): Buffer => {
        let v: Buffer = Buffer.of(0x80);
        for (let k = depth - 1; k >= 0; k--) v = Buffer.concat([head(4, 2), tag(28, v), tag(29, int(k))]);
        return v;
      };
      const deepest = Math.floor((limit - FRAME_OVERHEAD) / 12);
      return [16, 20, 24, deepest].map((d) => callFrame(nested(d)));
    },
  },
  {
    name: "deep nesting",
    what: "arrays inside arrays, one byte per level, as deep as the frame allows",
    steps: bySize((room) => Buffer.concat([Buffer.alloc(room - 1, 0x81), Buffer.of(0)])),
  },
  {
    name: "deep nesting, indefinite",
    what: "indefinite-length arrays inside each other, closed by break codes",
    steps: bySize((room) =>
      Buffer.concat([Buffer.alloc(Math.floor(room / 2), 0x9f), Buffer.alloc(Math.floor(room / 2), 0xff)]),
    ),
  },
  {
    name: "many small ints",
    what: "one array of one-byte integers",
    steps: bySize((room) => repeated(room - 5, Buffer.of(0))),
  },
  {
    name: "many empty arrays",
    what: "one array of empty arrays (an allocation per byte)",
    steps: bySize((room) => repeated(room - 5, Buffer.of(0x80))),
  },
  {
    name: "many empty maps",
    what: "one array of empty maps (objects)",
    steps: bySize((room) => repeated(room - 5, Buffer.of(0xa0))),
  },
  {
    name: "many small strings",
    what: "one array of one-character strings",
    steps: bySize((room) => repeated(Math.floor((room - 5) / 2), Buffer.of(0x61, 0x61))),
  },
  {
    name: "many small Uint8Arrays",
    what: "one array of tagged one-byte Uint8Arrays (an ArrayBuffer each in cbor-x)",
    steps: bySize((room) => repeated(Math.floor((room - 5) / 4), Buffer.of(0xd8, 0x40, 0x41, 0x07))),
  },
  {
    name: "many Dates",
    what: "one array of tag-1 dates",
    steps: bySize((room) => repeated(Math.floor((room - 5) / 2), Buffer.of(0xc1, 0x00))),
  },
  {
    name: "many float16 edge cases",
    what: "NaN, ±Infinity, subnormals and -0 as half-precision floats",
    steps: bySize((room) => {
      const piece = Buffer.of(0xf9, 0x7e, 0x00, 0xf9, 0x7c, 0x00, 0xf9, 0xfc, 0x00, 0xf9, 0x00, 0x01, 0xf9, 0x80, 0x00);
      return repeated(Math.floor((room - 5) / piece.length), piece);
    }),
  },
  {
    name: "object with many keys",
    what: "one map of distinct string keys (an object V8 keeps as a hash table)",
    steps: bySize((room) => {
      const n = Math.floor((room - 5) / 9);
      const pairs = Array.from({ length: n }, (_, i) =>
        Buffer.concat([text(`k${i.toString(36).padStart(6, "0")}`), Buffer.of(0)]),
      );
      return Buffer.concat([head(5, n), ...pairs]);
    }),
  },
  {
    name: "object with duplicate keys",
    what: "one map repeating the same key",
    steps: bySize((room) => {
      const n = Math.floor((room - 5) / 3);
      return Buffer.concat([head(5, n), Buffer.alloc(n * 3).fill(Buffer.of(0x61, 0x61, 0x00))]);
    }),
  },
  {
    name: "Map, colliding int keys",
    what: "a Map whose integer keys all hash to one V8 bucket (quadratic to build)",
    steps: bySize((room) => intKeyedMap(collidingInts(Math.floor(room / 7)))),
  },
  {
    name: "Map, 1,024 colliding int keys",
    what: "the most numeric Map keys a client frame may hold, all colliding",
    steps: () => [callFrame(intKeyedMap(collidingInts(1024)))],
  },
  {
    name: "Set, colliding ints",
    what: "a Set (tag 258) of colliding integers",
    steps: bySize((room) => {
      const items = collidingInts(Math.floor(room / 6));
      return tag(258, Buffer.concat([head(4, items.length), ...items.map(int)]));
    }),
  },
  {
    name: "huge lengths, short body",
    what: "an array claiming 2^32-1 items, a map as many entries, a string 4 GiB: each with a frame of body",
    steps: (limit) =>
      [0x9a, 0xba, 0x7a].map((initial) =>
        callFrame(
          Buffer.concat([Buffer.of(initial, 0xff, 0xff, 0xff, 0xff), Buffer.alloc(limit - FRAME_OVERHEAD - 8, 0)]),
        ),
      ),
  },
  {
    name: "unknown tags",
    what: "tags the codec never writes (27: Error/RegExp construction, 6/51: packed values, records)",
    steps: bySize((room) => repeated(Math.floor((room - 5) / 3), Buffer.of(0xd8, 0x1b, 0x80))),
  },
];

// ---- JSON request bodies (POST /v1/actors/Sink/k/take takes a JSON array of arguments) ----

const jsonBody =
  (argOf: (room: number) => string) =>
  (limit: number): Buffer[] =>
    sizes(limit).map((bytes) => Buffer.from(`[${argOf(bytes - 2)}]`));

export const BASELINE_HTTP: Crafted = {
  name: "baseline: one string",
  what: "a plain valid body of the same size: one JSON string",
  steps: jsonBody((room) => `"${"a".repeat(room - 2)}"`),
};

export const HTTP_BODIES: readonly Crafted[] = [
  {
    name: "deep nesting",
    what: "arrays inside arrays, as deep as the body allows",
    steps: jsonBody((room) => `${"[".repeat(Math.floor(room / 2))}${"]".repeat(Math.floor(room / 2))}`),
  },
  {
    name: "many small ints",
    what: "one array of one-digit numbers",
    steps: jsonBody((room) => `[${"0,".repeat(Math.floor(room / 2) - 2)}0]`),
  },
  {
    name: "many empty objects",
    what: "one array of {}",
    steps: jsonBody((room) => `[${"{},".repeat(Math.floor(room / 3) - 2)}{}]`),
  },
  {
    name: "object with many keys",
    what: "one object of distinct keys",
    steps: jsonBody((room) => {
      const n = Math.floor(room / 12);
      return `{${Array.from({ length: n }, (_, i) => `"k${i.toString(36).padStart(6, "0")}":0`).join(",")}}`;
    }),
  },
  {
    name: "long number",
    what: "one number of a million digits",
    steps: jsonBody((room) => "1".repeat(room)),
  },
  {
    name: "escaped string",
    what: "one string of \\u escapes",
    steps: jsonBody((room) => `"${"\\u0041".repeat(Math.floor((room - 2) / 6))}"`),
  },
];
