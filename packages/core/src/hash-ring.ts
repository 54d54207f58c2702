/**
 * Consistent hashing with virtual nodes: each silo owns many points on a
 * 32-bit ring; an actor belongs to the first point at or after the hash of its
 * "Type/key". Adding a silo moves about 1/(N+1) of the keys, and every silo
 * computes the same owner from the same membership.
 */
export class HashRing {
  readonly #points: Uint32Array;
  readonly #owners: string[];
  readonly members: readonly string[];

  constructor(members: readonly string[], virtualNodes = 160) {
    this.members = [...new Set(members)].sort();
    const points: { hash: number; owner: string }[] = [];
    for (const m of this.members) {
      for (let v = 0; v < virtualNodes; v++) points.push({ hash: hash32(`${m}#${v}`), owner: m });
    }
    // Ties are broken by owner so the ring is identical wherever it is built.
    points.sort((a, b) => a.hash - b.hash || (a.owner < b.owner ? -1 : 1));
    this.#points = Uint32Array.from(points, (p) => p.hash);
    this.#owners = points.map((p) => p.owner);
  }

  /** The member owning `key`, or undefined for an empty ring. */
  owner(key: string): string | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const h = hash32(key);
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === points.length ? 0 : lo];
  }
}

/**
 * 32-bit FNV-1a over UTF-16 code units, finished with a murmur3-style mix so
 * that similar keys ("user1", "user2") spread over the whole ring.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
