import {
  assertEncodable,
  CodecError,
  checkCbor,
  type DecodeLimits,
  decode,
  decodeView,
  encode,
  MAX_BIGNUM_BYTES,
  MAX_DECODE_DEPTH,
  TRUSTED_DECODE_LIMITS,
  UNTRUSTED_DECODE_LIMITS,
} from "@praas/core/internal";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

// CBOR written by hand, so that nothing in our encoder shapes the hostile cases.
function head(major: number, n: number): number[] {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
  return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
const bytesOf = (...parts: (number | number[] | Uint8Array)[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "number" ? [p] : [...p])));
const text = (s: string) => bytesOf(head(3, s.length), [...Buffer.from(s)]);
const byteString = (b: Uint8Array) => bytesOf(head(2, b.length), b);
const tag = (t: number, item: Uint8Array) => bytesOf(head(6, t), item);
const array = (...items: Uint8Array[]) => bytesOf(head(4, items.length), ...items);

const refused = (bytes: Uint8Array, limits: DecodeLimits, message: RegExp) => {
  expect(() => decode(bytes, limits)).toThrow(CodecError);
  expect(() => decode(bytes, limits)).toThrow(message);
};

describe("decoding refuses what the protocol does not need, before decoding it", () => {
  it("bignums beyond 1 KiB from clients; any size, in linear time, from trusted bytes", () => {
    const magnitude = new Uint8Array(128 * 1024).fill(0xff);
    const big = tag(2, byteString(magnitude));
    // cbor-x builds this byte by byte: 1.2 s for 128 KiB, 32 s for 256 KiB.
    refused(big, UNTRUSTED_DECODE_LIMITS, /bignum of 131072 bytes is over the limit of 1024/);
    expect(decode(big)).toBe((1n << BigInt(8 * magnitude.length)) - 1n);
    expect(decode(tag(3, byteString(Uint8Array.of(1, 0))))).toBe(-257n);
    const atLimit = tag(2, byteString(new Uint8Array(MAX_BIGNUM_BYTES).fill(1)));
    expect(typeof decode(atLimit, UNTRUSTED_DECODE_LIMITS)).toBe("bigint");
    // Each counts against the objects a frame may hold by its size: tag, bytes, and 1024 / 8.
    const limits = { ...UNTRUSTED_DECODE_LIMITS, maxHeapItems: 1 + 2 * 130 };
    expect(decode(array(atLimit, atLimit), limits)).toHaveLength(2);
    refused(array(atLimit, atLimit, atLimit), limits, /more than 261 strings/);
  });

  it("shared references (tags 28/29) and every tag the codec does not write", () => {
    // [28([]), 29(0)]: the same array twice, the seed of an exponential DAG.
    refused(array(tag(28, array()), tag(29, bytesOf(0))), TRUSTED_DECODE_LIMITS, /tag 28 \(shared values\)/);
    refused(tag(29, bytesOf(0)), TRUSTED_DECODE_LIMITS, /tag 29/);
    for (const t of [5, 6, 14, 21, 25, 27, 51, 72, 256, 0xe000, 0x53687264]) {
      refused(tag(t, array()), TRUSTED_DECODE_LIMITS, new RegExp(`tag ${t} is not accepted`));
    }
    // A tag must wrap what it means: no tag inside a tag, no Map around an array.
    refused(tag(1, tag(1, bytesOf(0))), TRUSTED_DECODE_LIMITS, /tag 1 needs a number/);
    refused(tag(259, array()), TRUSTED_DECODE_LIMITS, /tag 259 \(Map\) needs a map/);
    refused(tag(0, text("x".repeat(65))), TRUSTED_DECODE_LIMITS, /date string of at most 64/);
  });

  it("nesting deeper than the codec ever writes", () => {
    const deep = (n: number) => bytesOf(new Array(n).fill(0x81), 0);
    expect(decode(deep(MAX_DECODE_DEPTH))).toBeDefined();
    refused(deep(MAX_DECODE_DEPTH + 1), TRUSTED_DECODE_LIMITS, /nested deeper than 264 levels/);
    // 100,000 levels in 100 KB: cbor-x would recurse until the stack overflows.
    refused(deep(100_000), TRUSTED_DECODE_LIMITS, /nested deeper/);
    // Indefinite-length containers count too.
    refused(bytesOf(new Array(300).fill(0x9f)), TRUSTED_DECODE_LIMITS, /nested deeper/);
  });

  it("numbers as Map keys or Set items beyond the limit (hash flooding); strings are not counted", () => {
    const limits = { ...UNTRUSTED_DECODE_LIMITS, maxHashedNumbers: 3 };
    const mapOf = (keys: Uint8Array[]) =>
      tag(259, bytesOf(head(5, keys.length), ...keys.flatMap((k) => [k, bytesOf(0)])));
    const ints = [1, 2, 3, 4].map((n) => bytesOf(head(0, n)));
    expect(decode(mapOf(ints.slice(0, 3)), limits)).toEqual(new Map([1, 2, 3].map((n) => [n, 0])));
    refused(mapOf(ints), limits, /more than 3 numbers as Map keys or Set items/);
    refused(tag(258, array(...ints)), limits, /more than 3 numbers/);
    // A float key, a bignum key: counted as well.
    const float = bytesOf(0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
    refused(mapOf([...ints.slice(0, 3), float]), limits, /more than 3 numbers/);
    refused(mapOf([...ints.slice(0, 3), tag(2, byteString(Uint8Array.of(1)))]), limits, /more than 3 numbers/);
    // Values of a Map and keys of a plain object are not hashed as numbers.
    const values = tag(259, bytesOf(head(5, 4), ...ints.flatMap((v, i) => [text(`k${i}`), v])));
    expect((decode(values, limits) as Map<string, number>).size).toBe(4);
    const object = bytesOf(head(5, 4), ...ints.flatMap((k) => [k, bytesOf(0)]));
    expect(decode(object, limits)).toEqual({ 1: 0, 2: 0, 3: 0, 4: 0 });
  });

  it("more values, or more strings and containers, than a frame may hold", () => {
    const limits = { ...UNTRUSTED_DECODE_LIMITS, maxItems: 10, maxHeapItems: 4 };
    expect(decode(bytesOf(head(4, 9), new Array(9).fill(0)), limits)).toHaveLength(9);
    refused(bytesOf(head(4, 10), new Array(10).fill(0)), limits, /more than 10 values/);
    refused(bytesOf(head(4, 4), new Array(4).fill(0x80)), limits, /more than 4 strings, byte strings, arrays/);
  });

  it("distinct keys of plain objects beyond the limit; repeated field names are free", () => {
    const limits = { ...UNTRUSTED_DECODE_LIMITS, maxObjectKeys: 4 };
    const object = (keys: string[]) => bytesOf(head(5, keys.length), ...keys.flatMap((k) => [text(k), bytesOf(0)]));
    expect(decode(object(["a", "b", "c", "d"]), limits)).toEqual({ a: 0, b: 0, c: 0, d: 0 });
    refused(object(["a", "b", "c", "d", "e"]), limits, /more than 4 distinct keys in objects/);
    // 500 records with the same three fields: three new keys in all.
    const records = array(...Array.from({ length: 500 }, () => object(["id", "name", "when"])));
    expect(decode(records, limits)).toHaveLength(500);
    // The same keys in a Map are not object keys (a Map is the way to send a big dictionary).
    const map = tag(259, object(["a", "b", "c", "d", "e", "f"]));
    expect((decode(map, limits) as Map<string, number>).size).toBe(6);
  });

  it("malformed data: truncated, trailing bytes, stray breaks, reserved headers, indefinite strings", () => {
    const cases: [Uint8Array, RegExp][] = [
      [bytesOf(), /ends in the middle/],
      [bytesOf(0x82, 0), /runs past the end/],
      [bytesOf(0x9f, 0), /ends in the middle/],
      [bytesOf(0x19, 0x01), /ends in an item header/],
      [bytesOf(0, 0), /goes on after the end/],
      [bytesOf(0xff), /break code outside/],
      [bytesOf(0x82, 0, 0xff), /break code outside/],
      [bytesOf(0xbf, 0, 0xff), /between a key and its value/],
      [bytesOf(0x1c), /reserved/],
      [bytesOf(0x5f, 0x41, 0, 0xff), /indefinite-length strings/],
      [bytesOf(0xf8, 0x20), /simple value 32/],
      [bytesOf(0xf0), /simple value 16/],
      // A length far beyond the data: refused before anything is allocated.
      [bytesOf(0x5a, 0x7f, 0xff, 0xff, 0xff, 0), /runs past the end/],
      [bytesOf(0x9b, 0, 0, 0, 1, 0, 0, 0, 0), /runs past the end/],
      [bytesOf(0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), /runs past the end/],
    ];
    for (const [b, message] of cases) refused(b, TRUSTED_DECODE_LIMITS, message);
  });

  it("accepts standard CBOR other encoders write: indefinite lengths, float16, tag 0 dates, the self-describe prefix", () => {
    expect(decode(bytesOf(0x9f, 1, 2, 0xff), UNTRUSTED_DECODE_LIMITS)).toEqual([1, 2]);
    expect(decode(bytesOf(0xbf, text("a"), 1, 0xff), UNTRUSTED_DECODE_LIMITS)).toEqual({ a: 1 });
    expect(decode(bytesOf(0xf9, 0x3e, 0x00), UNTRUSTED_DECODE_LIMITS)).toBe(1.5);
    expect(decode(tag(0, text("2024-01-02T03:04:05Z")), UNTRUSTED_DECODE_LIMITS)).toEqual(
      new Date("2024-01-02T03:04:05Z"),
    );
    expect(decode(tag(55799, array(bytesOf(1))), UNTRUSTED_DECODE_LIMITS)).toEqual([1]);
    refused(array(tag(55799, bytesOf(1))), UNTRUSTED_DECODE_LIMITS, /only accepted at the start/);
  });

  it("byte strings decode as plain Uint8Arrays, copied by decode and viewed by decodeView", () => {
    const frame = Buffer.from(array(byteString(Uint8Array.of(1, 2)), tag(64, byteString(Uint8Array.of(3)))));
    const [plain, tagged] = decode(frame) as Uint8Array[];
    for (const b of [plain, tagged]) expect(Object.getPrototypeOf(b)).toBe(Uint8Array.prototype);
    expect([...(plain as Uint8Array)]).toEqual([1, 2]);
    (plain as Uint8Array)[0] = 9;
    expect(frame[2]).toBe(1); // a copy
    const [view] = decodeView(frame) as Uint8Array[];
    expect(Object.getPrototypeOf(view)).toBe(Uint8Array.prototype);
    (view as Uint8Array)[0] = 9;
    expect(frame[2]).toBe(9); // a view
  });

  it("everything the codec encodes passes the check under the client limits and decodes the same", () => {
    const leaf = fc.oneof(
      fc.integer(),
      // (-0 travels as the integer 0 in cbor-x: not ours to test)
      fc.double().filter((d) => !Object.is(d, -0)),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.bigInt({ min: -(1n << 8000n), max: 1n << 8000n }),
      fc.uint8Array({ maxLength: 8 }),
      // (cbor-x rounds dates tens of millennia away to the next millisecond: not ours to test)
      fc.date({ noInvalidDate: true, min: new Date("0001-01-01"), max: new Date("9999-12-31") }),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: "small" }, leaf, tie("array"), tie("object"), tie("map"), tie("set")),
      array: fc.array(tie("v"), { maxLength: 4 }),
      object: fc.dictionary(fc.string(), tie("v"), { maxKeys: 4 }),
      map: fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie("v")), { maxLength: 4 }).map((e) => new Map(e)),
      set: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }).map((e) => new Set(e)),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        checkCbor(bytes, UNTRUSTED_DECODE_LIMITS);
        expect(decode(bytes, UNTRUSTED_DECODE_LIMITS)).toEqual(v);
      }),
      { numRuns: 300 },
    );
  });

  it("random bytes are either refused with a CodecError or decoded: never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          checkCbor(b, UNTRUSTED_DECODE_LIMITS);
        } catch (err) {
          expect(err).toBeInstanceOf(CodecError);
          return;
        }
        // Accepted by the check: cbor-x decodes it or fails cleanly (e.g. an array as an object key).
        try {
          decode(b, UNTRUSTED_DECODE_LIMITS);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the encodability check", () => {
  /** Level n holds level n-1 twice: 2^depth paths through depth + 1 objects. */
  function sharedGraph(depth: number): unknown {
    let v: unknown = { leaf: 1 };
    for (let i = 0; i < depth; i++) v = [v, v];
    return v;
  }

  it("checks an object reached twice once, and refuses graphs whose encoding would explode", () => {
    // 2^12 copies: fine, and checked as 13 objects.
    expect(() => assertEncodable(sharedGraph(12), "v")).not.toThrow();
    // 2^60 paths: the old check walked every one (23 levels took a second, each level doubles).
    expect(() => assertEncodable(sharedGraph(60), "v")).toThrow(/would encode more than 1048576 copied values/);
  });

  it("still names the path of a bad value, and finds cycles", () => {
    expect(() => assertEncodable({ a: [1, { b: new Map([["k", () => 1]]) }] }, "v")).toThrow(
      "v.a[1].b.get(k) is a function, which cannot be sent or stored",
    );
    const cycle: unknown[] = [1];
    cycle.push({ back: cycle });
    expect(() => assertEncodable({ x: cycle }, "v")).toThrow("v.x[1].back is a circular reference");
  });

  it("refuses bigints the decoder would refuse", () => {
    expect(() => assertEncodable(1n << 8191n, "v")).not.toThrow();
    expect(() => assertEncodable(-(1n << 8192n), "v")).not.toThrow();
    expect(() => assertEncodable([1n << 8192n], "v")).toThrow("v[0] is a bigint of more than 8192 bits");
    expect(() => assertEncodable(-(1n << 8192n) - 1n, "v")).toThrow(/bigint of more than 8192 bits/);
  });
});
