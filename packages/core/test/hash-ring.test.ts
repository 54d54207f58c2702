import {
  DEFAULT_VIRTUAL_NODES,
  HashRing,
  hash32,
  InvalidArgumentError,
  type MembershipView,
} from "@praas/core/internal";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const silos = (n: number, prefix = "silo"): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `Cart/user-${i}`);

function ownersOf(ring: HashRing, ks: readonly string[]): (string | undefined)[] {
  return ks.map((k) => ring.owner(k));
}

describe("hash32", () => {
  it("is a fixed function: known answers pin it across processes and versions", () => {
    // If these change, every silo of a mixed-version cluster would place actors differently.
    expect([hash32(""), hash32("a"), hash32("Cart/u42")]).toEqual([
      hash32Reference(""),
      hash32Reference("a"),
      hash32Reference("Cart/u42"),
    ]);
    expect(hash32("Cart/u42")).not.toBe(hash32("Cart/u43"));
    for (const h of [hash32(""), hash32("x"), hash32("ü🙂")]) {
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });
});

/** An independent transcription of FNV-1a + murmur3 fmix32 over UTF-16 code units. */
function hash32Reference(text: string): number {
  let h = 2166136261;
  for (const unit of Array.from({ length: text.length }, (_, i) => text.charCodeAt(i))) {
    h = Number((BigInt((h ^ unit) >>> 0) * 16777619n) & 0xffffffffn);
  }
  const mul = (a: number, b: number): number => Number((BigInt(a >>> 0) * BigInt(b)) & 0xffffffffn);
  h = (h ^ (h >>> 16)) >>> 0;
  h = mul(h, 0x85ebca6b);
  h = (h ^ (h >>> 13)) >>> 0;
  h = mul(h, 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

describe("HashRing", () => {
  it("is deterministic: member order and duplicates do not matter", () => {
    const members = silos(20);
    const a = new HashRing(members);
    const b = new HashRing([...members].reverse().concat(members.slice(0, 5)));
    expect(b.members).toEqual([...members].sort());
    expect(a.equals(b)).toBe(true);
    const ks = keys(5_000);
    expect(ownersOf(b, ks)).toEqual(ownersOf(a, ks));
  });

  it("places keys by fixed rules: a golden sample pins the placement across processes", () => {
    // Computed once from the algorithm; a change here means every silo version must change together.
    const ring = new HashRing(["silo-a", "silo-b", "silo-c"], 64);
    const placed = Array.from({ length: 24 }, (_, i) => ring.owner(`Cart/${i}`)?.slice(-1)).join("");
    expect(placed).toMatchInlineSnapshot(`"baaacbccbccbccaaccaccbab"`);
    expect([hash32(""), hash32("Cart/u42")]).toMatchInlineSnapshot(`
      [
        2872998923,
        174729424,
      ]
    `);
  });

  it("returns undefined on an empty ring and the only member on a ring of one", () => {
    expect(new HashRing([]).owner("Cart/1")).toBeUndefined();
    const one = new HashRing(["only"], 1);
    expect(new Set(ownersOf(one, keys(1_000)))).toEqual(new Set(["only"]));
    expect(one.ownerOfHash(0)).toBe("only");
    expect(one.ownerOfHash(0xffffffff)).toBe("only");
  });

  it("gives every member keys, and shares of the hash space match where keys land", () => {
    const ring = new HashRing(silos(50));
    const counts = new Map<string, number>();
    for (const o of ownersOf(ring, keys(100_000))) counts.set(o as string, (counts.get(o as string) ?? 0) + 1);
    expect(counts.size).toBe(50);
    const shares = ring.shares();
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    for (const [m, share] of shares) {
      // 2000 keys expected per member: within ±20 % of its exact share (≈ 9 standard deviations).
      expect(Math.abs((counts.get(m) as number) / 100_000 - share)).toBeLessThan(0.2 * share);
    }
  });

  it("finds the first point at or after a hash, wrapping around: sampled ownership equals exact shares", () => {
    // Evenly spaced positions sample each arc to within one step, so any
    // off-by-one in the bucketed search shows up as a share mismatch.
    for (const [members, vnodes] of [
      [silos(2), 1],
      [silos(3), 7],
      [silos(40), 50],
    ] as const) {
      const ring = new HashRing(members, vnodes);
      const step = 2 ** 12;
      const sampled = new Map<string, number>();
      for (let h = 0; h < 2 ** 32; h += step) {
        const o = ring.ownerOfHash(h) as string;
        sampled.set(o, (sampled.get(o) ?? 0) + 1);
      }
      const samples = 2 ** 32 / step;
      for (const [m, share] of ring.shares()) {
        expect(Math.abs((sampled.get(m) ?? 0) / samples - share)).toBeLessThanOrEqual((vnodes + 1) / samples);
      }
      // Above the last point, keys wrap to the owner of the first point.
      expect(ring.ownerOfHash(0xffffffff)).toBe(ring.ownerOfHash(0));
    }
  });

  it("on a join moves keys only to the new member, about 1/(N+1) of them", () => {
    const before = new HashRing(silos(30));
    const after = new HashRing([...silos(30), "newcomer"]);
    const ks = keys(60_000);
    const stray: string[] = [];
    let moved = 0;
    for (const k of ks) {
      const a = before.owner(k);
      const b = after.owner(k);
      if (a !== b) {
        moved++;
        if (b !== "newcomer") stray.push(k);
      }
    }
    expect(stray).toEqual([]);
    const ideal = ks.length / 31;
    expect(moved).toBeGreaterThan(0.8 * ideal);
    expect(moved).toBeLessThan(1.2 * ideal);
  });

  it("on a leave moves only the leaver's keys, spread over the others", () => {
    const before = new HashRing(silos(30));
    const after = new HashRing(silos(30).filter((s) => s !== "silo-7"));
    const receivers = new Set<string>();
    const wrong: string[] = [];
    for (const k of keys(60_000)) {
      const a = before.owner(k);
      const b = after.owner(k);
      if (a !== b) receivers.add(b as string);
      // A key moves if and only if the leaver owned it.
      if ((a !== b) !== (a === "silo-7")) wrong.push(k);
    }
    expect(wrong).toEqual([]);
    // With 2000 points the leaver's arcs are scattered: most survivors receive a part.
    expect(receivers.size).toBeGreaterThan(20);
  });

  it("withMembers builds exactly the ring a fresh build would, for joins, leaves and mixes", () => {
    const base = new HashRing(silos(12), 100);
    const cases: string[][] = [
      [...silos(12), "z-new"],
      [...silos(12), "a-new"],
      silos(12).filter((s) => s !== "silo-3"),
      [...silos(12).filter((s) => s !== "silo-0"), "silo-x", "silo-y"],
      silos(12),
      silos(40),
      [],
    ];
    for (const members of cases) {
      const incremental = base.withMembers(members);
      expect(incremental.equals(new HashRing(members, 100))).toBe(true);
      expect(incremental.virtualNodes).toBe(100);
    }
    expect(base.withMembers([...silos(12)].reverse())).toBe(base);
  });

  it("withMembers equals a fresh build for arbitrary member changes (property)", () => {
    const id = fc.stringMatching(/^[a-z0-9:.-]{1,12}$/);
    fc.assert(
      fc.property(fc.uniqueArray(id, { maxLength: 20 }), fc.uniqueArray(id, { maxLength: 20 }), (from, to) => {
        const ring = new HashRing(from, 16).withMembers(to);
        expect(ring.equals(new HashRing(to, 16))).toBe(true);
        const probe = ["a", "b", "Cart/1", "User/2"];
        expect(ownersOf(ring, probe)).toEqual(ownersOf(new HashRing(to, 16), probe));
      }),
      { numRuns: 200 },
    );
  });

  it("keeps the busiest of 100 silos within 10 % of the mean share", () => {
    const ring = new HashRing(silos(100, "s"));
    const max = Math.max(...ring.shares().values());
    expect(max * 100).toBeLessThanOrEqual(1.1);
    expect(ring.virtualNodes).toBe(DEFAULT_VIRTUAL_NODES);
  });

  it("builds from a membership view using only active silos", () => {
    const view: MembershipView = {
      version: 3,
      silos: [
        { id: "b", address: "h:2", startedAt: 1, status: "active" },
        { id: "a", address: "h:1", startedAt: 1, status: "active" },
        { id: "c", address: "h:3", startedAt: 1, status: "leaving" },
        { id: "d", address: "h:4", startedAt: 1, status: "dead" },
      ],
    };
    const ring = HashRing.fromView(view, 10);
    expect(ring.members).toEqual(["a", "b"]);
    expect(ring.has("a") && !ring.has("c") && !ring.has("d")).toBe(true);
    expect(ring.size).toBe(2);
  });

  it("rejects bad configuration with InvalidArgumentError", () => {
    for (const v of [0, -1, 1.5, Number.NaN, 70_000]) {
      expect(() => new HashRing(["a"], v)).toThrow(InvalidArgumentError);
    }
    expect(() => new HashRing(["a", ""])).toThrow(InvalidArgumentError);
    expect(() => new HashRing(["a", 7 as unknown as string])).toThrow(/non-empty strings/);
    expect(() => new HashRing(silos(10_000), 2000)).toThrow(InvalidArgumentError);
    try {
      new HashRing(["a"], 0);
    } catch (e) {
      expect((e as InvalidArgumentError).code).toBe("INVALID_ARGUMENT");
    }
  });
});
