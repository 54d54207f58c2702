import {
  CodecError,
  decode,
  decodeStateRecord,
  encode,
  encodeKept,
  encodeStateRecord,
  MAX_DEPTH,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";

describe("codec", () => {
  it("round-trips every supported type, nested", () => {
    const value = {
      n: [0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY],
      s: ["", "ünïcödé ✓", "x".repeat(10_000)],
      b: [true, false],
      nil: null,
      undef: undefined,
      big: [0n, -(2n ** 100n), 2n ** 64n],
      date: new Date(1_234_567_890_123),
      bytes: new Uint8Array([0, 127, 128, 255]),
      map: new Map<unknown, unknown>([
        ["k", 1],
        [2, new Set([1, "two"])],
      ]),
      stringKeyedMap: new Map([["only", "strings"]]),
      set: new Set([new Date(0)]),
      arr: [[[]], {}, [{ a: { b: { c: [1] } } }]],
    };
    const back = decode(encode(value)) as typeof value;
    expect(back).toEqual(value);
    expect(back.map).toBeInstanceOf(Map);
    expect(back.stringKeyedMap).toBeInstanceOf(Map);
    expect(back.set).toBeInstanceOf(Set);
    expect(back.date).toBeInstanceOf(Date);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(typeof back.big[0]).toBe("bigint");
  });

  it("rejects what it cannot carry, naming the path", () => {
    class Point {
      x = 1;
    }
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const cases: [unknown, RegExp][] = [
      [() => 1, /value is a function/],
      [{ a: Symbol("x") }, /value\.a is a symbol/],
      [new Point(), /instance of class Point/],
      [[new Map([["k", new Point()]])], /value\[0\]\.get\(k\) is an instance of class Point/],
      [new Int32Array(1), /Int32Array; use a Uint8Array/],
      [cyclic, /circular reference/],
      [new WeakMap(), /instance of class WeakMap/],
      [Promise.resolve(1), /instance of class Promise/],
    ];
    for (const [v, message] of cases) {
      expect(() => encode(v)).toThrow(CodecError);
      expect(() => encode(v)).toThrow(message);
    }
  });

  it("accepts shared (non-cyclic) references and rejects absurd nesting", () => {
    const shared = { x: 1 };
    expect(decode(encode([shared, shared]))).toEqual([{ x: 1 }, { x: 1 }]);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
    expect(() => encode(deep)).toThrow(/nested deeper than/);
  });

  it("stores state records with a format marker and refuses foreign or corrupt ones", () => {
    const bytes = encodeStateRecord({ stateVersion: 3, state: { a: 1 }, inbox: [{ m: 1 }] });
    expect(decodeStateRecord(bytes, "here")).toEqual({ stateVersion: 3, state: { a: 1 }, inbox: [{ m: 1 }] });
    expect(() => decodeStateRecord(encode({ some: "json" }), "s3://b/k")).toThrow(
      "Stored state at s3://b/k is unreadable: not a PraaS state record",
    );
    expect(() => decodeStateRecord(new Uint8Array([0xff, 0xfe, 0x00]), "f")).toThrow(/unreadable/);
    expect(() => decodeStateRecord(encode({ praas: 99, v: 1, s: 1 }), "f")).toThrow(/format 99 is not supported/);
    expect(() => decodeStateRecord(encode({ praas: 1, v: 0, s: 1 }), "f")).toThrow(/state version/);
  });

  it("gives kept encodings memory of their own: a small state record pins no shared buffer", () => {
    // Encodings share one buffer; a record kept as a view of it would keep the whole buffer alive.
    const others = [encode({ frame: 1 }), encode("x".repeat(100))];
    const record = encodeStateRecord({ stateVersion: 1, state: { n: 1, s: "y".repeat(1000) } });
    expect(record.buffer.byteLength).toBe(record.byteLength);
    expect(decodeStateRecord(record, "here").state).toEqual({ n: 1, s: "y".repeat(1000) });
    // The copy is independent of later encodings into the shared buffer.
    const before = Uint8Array.from(record);
    for (let i = 0; i < 100; i++) encode({ filler: i, pad: "z".repeat(200) });
    expect(Array.from(record)).toEqual(Array.from(before));
    expect(others[0]?.buffer).toBe(others[1]?.buffer); // (what the copy avoids: views of one buffer)
    // A large one is not copied (megabytes), but nothing else is written into its buffer afterwards.
    const big = encodeKept({ data: new Uint8Array(256 * 1024) });
    expect(encode({ after: 1 }).buffer).not.toBe(big.buffer);
    expect(encode({ after: 2 }).buffer.byteLength).toBeLessThanOrEqual(8192);
    // With the size of its last encoding as a hint, it lands in a buffer of about its own size.
    const again = encodeKept({ data: new Uint8Array(256 * 1024) }, big.byteLength);
    expect(again.buffer.byteLength).toBeLessThanOrEqual(big.byteLength + 4096);
    expect(Array.from(again.subarray(0, 16))).toEqual(Array.from(big.subarray(0, 16)));
    // A wrong hint costs nothing but the buffer: the value still encodes, small and copied.
    const small = encodeKept({ n: 1 }, 1 << 20);
    expect(small.buffer.byteLength).toBe(small.byteLength);
  });
});
