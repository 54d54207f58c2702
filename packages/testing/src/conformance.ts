import { randomBytes } from "node:crypto";
import {
  type ActorId,
  CorruptStateError,
  decodeStateRecord,
  encode,
  encodeStateRecord,
  StateConflictError,
  type StateStore,
} from "@praas/core/internal";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/**
 * One behavioural contract for every StateStore (memory, filesystem, Redis,
 * S3…), written once and run against each provider, so that "a conflicting
 * save fails with StateConflictError" means the same thing everywhere.
 */
export interface StateStoreConformanceOptions {
  /**
   * A fresh store, isolated from every other store this suite makes (own
   * folder, key prefix or bucket prefix). Closed after each test.
   */
  readonly makeStore: () => StateStore | Promise<StateStore>;
  /** Size of the large-state round trip, in bytes (e.g. 50 MiB for fs and S3, 10 MiB for Redis). */
  readonly largeStateBytes: number;
  /**
   * Ways to put something that is not a PraaS object where `id`'s state
   * belongs, by name ("a plain file", "a string key"…). Loading it must fail
   * with CorruptStateError naming the location. Omit for stores that cannot
   * hold foreign objects (memory).
   */
  readonly foreignObjects?: Readonly<Record<string, (store: StateStore, id: ActorId) => Promise<void>>>;
}

/** Every value the codec carries, nested, for the round-trip test. */
export function everyCodecType(): Record<string, unknown> {
  return {
    nothing: null,
    missing: undefined,
    yes: true,
    no: false,
    int: 42,
    negative: -7,
    big: Number.MAX_SAFE_INTEGER,
    float: -1234.5678,
    tiny: 5e-324,
    infinity: Number.POSITIVE_INFINITY,
    minusInfinity: Number.NEGATIVE_INFINITY,
    bigint: 12345678901234567890123456789n,
    negativeBigint: -(2n ** 70n),
    text: "héllo wörld ✓ 😀",
    empty: "",
    bytes: new Uint8Array([0, 1, 2, 253, 254, 255]),
    date: new Date("2024-05-06T07:08:09.123Z"),
    map: new Map<unknown, unknown>([
      ["a", 1],
      [2, "two"],
      ["nested", new Map([["x", [1, 2]]])],
    ]),
    set: new Set<unknown>(["a", 1, true]),
    array: [1, "two", [3, [4, { five: 5 }]], null],
    object: { a: { b: { c: { d: "deep" } } }, "key with spaces": 1, "": "empty key" },
    emptyArray: [],
    emptyObject: {},
  };
}

let seq = 0;
/** An actor id no other test uses. */
function freshId(type = "Conformance"): ActorId {
  return { type, key: `k${++seq}-${randomBytes(4).toString("hex")}` };
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

async function expectConflict(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(StateConflictError);
}

export function describeStateStoreConformance(name: string, options: StateStoreConformanceOptions): void {
  describe(`StateStore conformance: ${name}`, () => {
    let store: StateStore;
    beforeEach(async () => {
      store = await options.makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    it("loads nothing for a key never written, and deleting it is not an error", async () => {
      const id = freshId();
      expect(await store.load(id)).toBeUndefined();
      await store.delete(id);
      await store.delete(id, "some-version");
      expect(await store.load(id)).toBeUndefined();
    });

    it("round-trips a state record with every codec type", async () => {
      const id = freshId();
      const state = everyCodecType();
      const record = encodeStateRecord({ stateVersion: 3, state, inbox: [{ from: "A/1", data: new Set([1]) }] });
      const version = await store.save(id, record, null);
      const loaded = await store.load(id);
      expect(loaded?.version).toBe(version);
      expect(Buffer.from(loaded?.data ?? []).equals(Buffer.from(record))).toBe(true);
      const decoded = decodeStateRecord(loaded?.data ?? new Uint8Array(), store.describe(id));
      expect(decoded.stateVersion).toBe(3);
      expect(decoded.state).toEqual(state);
      const s = decoded.state as Record<string, unknown>;
      // toEqual is lenient about a few things the codec must still get exactly right.
      expect("missing" in s && s.missing === undefined).toBe(true);
      expect(s.map).toBeInstanceOf(Map);
      expect(s.set).toBeInstanceOf(Set);
      expect(s.date).toBeInstanceOf(Date);
      expect(s.bytes).toBeInstanceOf(Uint8Array);
      expect(typeof s.bigint).toBe("bigint");
      expect(decoded.inbox).toEqual([{ from: "A/1", data: new Set([1]) }]);
    });

    it("round-trips bytes exactly, including an empty state", async () => {
      const id = freshId();
      await store.save(id, new Uint8Array(0), null);
      expect((await store.load(id))?.data.byteLength).toBe(0);
      const other = freshId();
      const data = randomBytes(4096);
      await store.save(other, data, null);
      expect(Buffer.from((await store.load(other))?.data ?? []).equals(data)).toBe(true);
    });

    it("gives every write a new version, even for identical bytes, and accepts the current one", async () => {
      const id = freshId();
      const same = bytes("same bytes");
      const v1 = await store.save(id, same, null);
      const v2 = await store.save(id, same, v1);
      const v3 = await store.save(id, same, v2);
      expect(new Set([v1, v2, v3]).size).toBe(3);
      expect((await store.load(id))?.version).toBe(v3);
    });

    it("refuses a save naming a stale version, and keeps what is stored", async () => {
      const id = freshId();
      const v1 = await store.save(id, bytes("one"), null);
      const v2 = await store.save(id, bytes("two"), v1);
      const conflict = await store.save(id, bytes("stale"), v1).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(conflict).toBeInstanceOf(StateConflictError);
      expect((conflict as StateConflictError).expected).toBe(v1);
      // A store that can tell which version it found says so (S3 cannot: it answers 412).
      const found = (conflict as StateConflictError).found;
      if (found !== undefined) expect(found).toBe(v2);
      const loaded = await store.load(id);
      expect(loaded?.version).toBe(v2);
      expect(new TextDecoder().decode(loaded?.data)).toBe("two");
    });

    it("refuses to create (expected null) over an existing object", async () => {
      const id = freshId();
      const v1 = await store.save(id, bytes("first"), null);
      const conflict = await store.save(id, bytes("second"), null).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(conflict).toBeInstanceOf(StateConflictError);
      const found = (conflict as StateConflictError).found;
      if (found !== undefined) expect(found).toBe(v1);
      expect((await store.load(id))?.version).toBe(v1);
    });

    it("refuses a save naming a version when nothing is stored", async () => {
      const id = freshId();
      const conflict = await store.save(id, bytes("x"), "v-that-never-was").then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(conflict).toBeInstanceOf(StateConflictError);
      const found = (conflict as StateConflictError).found;
      if (found !== undefined) expect(found).toBeNull();
      expect(await store.load(id)).toBeUndefined();
    });

    it("does not accept a version from before a delete (no ABA)", async () => {
      const id = freshId();
      const data = bytes("same");
      const v1 = await store.save(id, data, null);
      await store.delete(id);
      const v2 = await store.save(id, data, null);
      expect(v2).not.toBe(v1);
      await expectConflict(store.save(id, bytes("stale writer"), v1));
      expect(new TextDecoder().decode((await store.load(id))?.data)).toBe("same");
    });

    it("lets exactly one of many concurrent saves from the same version win", async () => {
      const id = freshId();
      const v0 = await store.save(id, bytes("base"), null);
      const writers = Array.from({ length: 8 }, (_, i) => store.save(id, bytes(`writer ${i}`), v0));
      const results = await Promise.allSettled(writers);
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, version: r.value }] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(StateConflictError);
      const loaded = await store.load(id);
      expect(loaded?.version).toBe(won[0]?.version);
      expect(new TextDecoder().decode(loaded?.data)).toBe(`writer ${won[0]?.i}`);
    });

    it("lets exactly one of many concurrent creates win", async () => {
      const id = freshId();
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.save(id, bytes(`creator ${i}`), null)),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ i, version: r.value }] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(StateConflictError);
      expect(new TextDecoder().decode((await store.load(id))?.data)).toBe(`creator ${won[0]?.i}`);
    });

    it("deletes: refuses a stale version, removes with the current one or unconditionally", async () => {
      const id = freshId();
      const v1 = await store.save(id, bytes("one"), null);
      const v2 = await store.save(id, bytes("two"), v1);
      await expectConflict(store.delete(id, v1));
      expect((await store.load(id))?.version).toBe(v2);
      await store.delete(id, v2);
      expect(await store.load(id)).toBeUndefined();
      const other = freshId();
      await store.save(other, bytes("x"), null);
      await store.delete(other);
      expect(await store.load(other)).toBeUndefined();
      // The key is free again: a create succeeds.
      await store.save(other, bytes("again"), null);
      expect(new TextDecoder().decode((await store.load(other))?.data)).toBe("again");
    });

    it(`round-trips a large state (${Math.round(options.largeStateBytes / 2 ** 20)} MiB) and overwrites it conditionally`, async () => {
      const id = freshId();
      const data = randomBytes(options.largeStateBytes);
      const v1 = await store.save(id, data, null);
      const loaded = await store.load(id);
      expect(loaded?.data.byteLength).toBe(data.byteLength);
      expect(data.equals(loaded?.data ?? new Uint8Array())).toBe(true);
      data[0] = (data[0] ?? 0) ^ 0xff;
      await store.save(id, data, v1);
      await expectConflict(store.save(id, data, v1));
      const again = await store.load(id);
      expect(again?.data[0]).toBe(data[0]);
      await store.delete(id);
    });

    it("keeps ids apart, whatever characters the keys hold", async () => {
      const keys = ["a/b", "a%2Fb", "a", "A", "..", ".", "ü ñ 😀", "with space", "x".repeat(1024), "*?#&=+"];
      const scoped: ActorId[] = keys.map((key) => ({ type: "Keys", key }));
      scoped.push({ type: "Keys2", key: "a" }, { type: "Keys.2", key: "a" });
      for (const [i, id] of scoped.entries()) await store.save(id, bytes(`value ${i}`), null);
      for (const [i, id] of scoped.entries()) {
        expect(new TextDecoder().decode((await store.load(id))?.data)).toBe(`value ${i}`);
      }
      expect(new Set(scoped.map((id) => store.describe(id))).size).toBe(scoped.length);
      for (const id of scoped) await store.delete(id);
    });

    it("shares no bytes with its callers: changing a saved or a loaded buffer changes nothing stored", async () => {
      const id = freshId();
      const data = new Uint8Array([1, 2, 3]);
      await store.save(id, data, null);
      data[0] = 99;
      const loaded = await store.load(id);
      expect([...(loaded?.data ?? [])]).toEqual([1, 2, 3]);
      // The runtime decodes state as views into the loaded bytes, so an actor
      // changing its state in place writes into them: that must not reach the store.
      loaded?.data.fill(7);
      expect([...((await store.load(id))?.data ?? [])]).toEqual([1, 2, 3]);
    });

    it("loadShared, where the store has it, answers as load does: nothing, then each write's bytes and version", async () => {
      const loadShared = store.loadShared?.bind(store);
      if (loadShared === undefined) {
        // Optional: a store without it is loaded through load, which the tests above cover.
        expect(store.loadShared).toBeUndefined();
        return;
      }
      const id = freshId();
      expect(await loadShared(id)).toBeUndefined();
      const v1 = await store.save(id, bytes("one"), null);
      let shared = await loadShared(id);
      expect(shared?.version).toBe(v1);
      expect(new TextDecoder().decode(shared?.data)).toBe("one");
      const v2 = await store.save(id, bytes("two, longer"), v1);
      shared = await loadShared(id);
      expect(shared?.version).toBe(v2);
      expect(shared?.version).toBe((await store.load(id))?.version);
      expect(new TextDecoder().decode(shared?.data)).toBe("two, longer");
      // Its version is the one a conditional save names.
      await store.save(id, bytes("three"), shared?.version ?? null);
      await store.delete(id);
      expect(await loadShared(id)).toBeUndefined();
    });

    it("stores what a record decoder rejects as corrupt, naming the location", async () => {
      const cases: [Uint8Array, RegExp][] = [
        [new Uint8Array([0xff, 0x00, 0x13]), /not valid CBOR|not a PraaS state record/],
        [encode({ hello: "world" }), /not a PraaS state record/],
        [encode({ praas: 99, v: 1, s: null }), /record format 99 is not supported/],
      ];
      for (const [data, reason] of cases) {
        const id = freshId();
        await store.save(id, data, null);
        const loaded = await store.load(id);
        const location = store.describe(id);
        let error: unknown;
        try {
          decodeStateRecord(loaded?.data ?? new Uint8Array(), location);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(CorruptStateError);
        expect((error as Error).message).toContain(location);
        expect((error as Error).message).toMatch(reason);
      }
    });

    for (const [what, plant] of Object.entries(options.foreignObjects ?? {})) {
      it(`refuses a foreign object (${what}) with CorruptStateError naming the location`, async () => {
        const id = freshId();
        await plant(store, id);
        const error = await store.load(id).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(CorruptStateError);
        expect((error as CorruptStateError).code).toBe("CORRUPT_STATE");
        expect((error as Error).message).toContain(store.describe(id));
        // Nothing is lost: a create does not clobber it, and an explicit delete clears it.
        await expectConflict(store.save(id, bytes("mine"), null));
        await store.delete(id);
        expect(await store.load(id)).toBeUndefined();
      });
    }
  });
}
