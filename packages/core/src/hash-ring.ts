import { InvalidArgumentError } from "./errors.js";
import { activeSilos, type MembershipView } from "./membership.js";

/**
 * Points per member. Measured (bench suite `placement`, 1 M keys): 160 points
 * give max/mean ≈ 1.20 at 100 silos; 1000 points give ≈ 1.07 with keys moved on
 * a join ≈ 1.0× the ideal 1/(N+1). The load spread of a member shrinks like
 * 1/√points, so fewer points cannot meet the 1.10 target.
 */
export const DEFAULT_VIRTUAL_NODES = 1000;

/** Points are packed as hash·2^21 + member index into a float64 (53-bit mantissa) to sort them natively. */
const INDEX_SPAN = 2 ** 21;
const MAX_POINTS = 2 ** 24;

/**
 * Consistent hashing with virtual nodes: each member owns many points on a
 * 32-bit ring; a key belongs to the first point at or after `hash32(key)`.
 * Adding a member moves about 1/(N+1) of the keys, all of them to the new
 * member; removing one moves only its keys. Every process computes the same
 * ring from the same member set (members are sorted, ties broken by name).
 *
 * Lookups are on every remote call path, so they avoid allocation: a bucket
 * table indexed by the top bits of the hash narrows the binary search to a
 * handful of points.
 */
export class HashRing {
  /** Members, sorted and de-duplicated. */
  readonly members: readonly string[];
  readonly virtualNodes: number;
  /** Sorted point hashes. */
  readonly #points: Uint32Array;
  /** Member index (into `members`) of each point. */
  readonly #owners: Uint32Array;
  /** `#buckets[b]` = first point index whose hash >>> #shift is ≥ b; one extra entry at the end. */
  readonly #buckets: Uint32Array;
  readonly #shift: number;

  constructor(members: readonly string[], virtualNodes = DEFAULT_VIRTUAL_NODES) {
    // withMembers() hands over arrays it merged itself (private fields can
    // only be set by the constructor); otherwise hash and sort from scratch.
    const parts = handOver ?? buildParts(members, virtualNodes);
    handOver = undefined;
    this.members = parts.members;
    this.virtualNodes = parts.virtualNodes;
    this.#points = parts.points;
    this.#owners = parts.owners;
    this.#shift = bucketShift(parts.points.length);
    this.#buckets = buildBuckets(parts.points, this.#shift);
  }

  /** The ring of a membership view's active silos (by id). */
  static fromView(view: MembershipView, virtualNodes = DEFAULT_VIRTUAL_NODES): HashRing {
    return new HashRing(
      activeSilos(view).map((s) => s.id),
      virtualNodes,
    );
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /** Whether `member` is on the ring. */
  has(member: string): boolean {
    return binarySearch(this.members, member) >= 0;
  }

  /** The member owning `key`, or undefined for an empty ring. */
  owner(key: string): string | undefined {
    return this.ownerOfHash(hash32(key));
  }

  /** The member owning ring position `hash` (a uint32), or undefined for an empty ring. */
  ownerOfHash(hash: number): string | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const h = hash >>> 0;
    const b = h >>> this.#shift;
    let lo = this.#buckets[b] as number;
    let hi = this.#buckets[b + 1] as number;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return this.members[this.#owners[lo === points.length ? 0 : lo] as number];
  }

  /**
   * The ring of `members` with the same virtual-node count, built from this one:
   * the points of unchanged members are reused and only joined/left members are
   * hashed and merged, so a membership change costs a linear pass instead of a
   * full sort. The result is identical to `new HashRing(members, virtualNodes)`.
   */
  withMembers(members: readonly string[]): HashRing {
    const next = sortedMembers(members);
    const added = next.filter((m) => !this.has(m));
    const kept = new Set(next);
    const removed = this.members.filter((m) => !kept.has(m));
    if (added.length === 0 && removed.length === 0) return this;
    // Many changes at once: the merge would hash as much as a rebuild.
    if (added.length + removed.length > Math.max(8, next.length / 4)) return new HashRing(next, this.virtualNodes);
    if (next.length * this.virtualNodes > MAX_POINTS) return new HashRing(next, this.virtualNodes);

    // Old member index → new member index (-1 when removed).
    const remap = new Int32Array(this.members.length);
    for (let i = 0; i < this.members.length; i++) remap[i] = binarySearch(next, this.members[i] as string);

    // Points of the added members, sorted by (hash, new index) like the constructor does.
    const fresh = new Float64Array(added.length * this.virtualNodes);
    let k = 0;
    for (const m of added) {
      const idx = binarySearch(next, m);
      const points = memberPoints(m, this.virtualNodes);
      for (let v = 0; v < this.virtualNodes; v++) fresh[k++] = (points[v] as number) * INDEX_SPAN + idx;
    }
    fresh.sort();

    const total = next.length * this.virtualNodes;
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    const oldPoints = this.#points;
    const oldOwners = this.#owners;
    let i = 0;
    let j = 0;
    let out = 0;
    for (;;) {
      // Skip points of removed members.
      while (i < oldPoints.length && (remap[oldOwners[i] as number] as number) < 0) i++;
      const hasOld = i < oldPoints.length;
      const hasNew = j < fresh.length;
      if (!hasOld && !hasNew) break;
      const oldKey = hasOld ? (oldPoints[i] as number) * INDEX_SPAN + (remap[oldOwners[i] as number] as number) : 0;
      const newKey = hasNew ? (fresh[j] as number) : 0;
      if (hasOld && (!hasNew || oldKey < newKey)) {
        points[out] = oldPoints[i] as number;
        owners[out++] = remap[oldOwners[i] as number] as number;
        i++;
      } else {
        const owner = newKey % INDEX_SPAN;
        points[out] = (newKey - owner) / INDEX_SPAN;
        owners[out++] = owner;
        j++;
      }
    }
    return fromParts({ members: next, virtualNodes: this.virtualNodes, points, owners });
  }

  /** Whether both rings place every key identically (same members, points and owners). */
  equals(other: HashRing): boolean {
    if (other.virtualNodes !== this.virtualNodes || other.members.length !== this.members.length) return false;
    for (let i = 0; i < this.members.length; i++) if (other.members[i] !== this.members[i]) return false;
    const a = this.#points;
    const b = other.#points;
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i] || this.#owners[i] !== other.#owners[i]) return false;
    }
    return true;
  }
}

interface RingParts {
  readonly members: string[];
  readonly virtualNodes: number;
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

/** Set by withMembers() right before it calls the constructor, which consumes it. */
let handOver: RingParts | undefined;

function fromParts(parts: RingParts): HashRing {
  handOver = parts;
  return new HashRing(parts.members, parts.virtualNodes);
}

function buildParts(members: readonly string[], virtualNodes: number): RingParts {
  checkVirtualNodes(virtualNodes);
  const sorted = sortedMembers(members);
  if (sorted.length * virtualNodes > MAX_POINTS) {
    throw new InvalidArgumentError(
      `HashRing: ${sorted.length} members × ${virtualNodes} virtual nodes exceeds ${MAX_POINTS} points`,
    );
  }
  const packed = new Float64Array(sorted.length * virtualNodes);
  let k = 0;
  for (let i = 0; i < sorted.length; i++) {
    const points = memberPoints(sorted[i] as string, virtualNodes);
    for (let v = 0; v < virtualNodes; v++) packed[k++] = (points[v] as number) * INDEX_SPAN + i;
  }
  // Numeric sort of hash·2^21 + index: equal hashes are ordered by member
  // index, i.e. by member name, so the ring is identical wherever it is built.
  packed.sort();
  const points = new Uint32Array(packed.length);
  const owners = new Uint32Array(packed.length);
  for (let j = 0; j < packed.length; j++) {
    const x = packed[j] as number;
    const owner = x % INDEX_SPAN;
    points[j] = (x - owner) / INDEX_SPAN;
    owners[j] = owner;
  }
  return { members: sorted, virtualNodes, points, owners };
}

function checkVirtualNodes(virtualNodes: number): void {
  if (!Number.isInteger(virtualNodes) || virtualNodes < 1 || virtualNodes > 65_536) {
    throw new InvalidArgumentError(
      `HashRing: virtualNodes must be an integer in 1..65536, got ${String(virtualNodes)}`,
    );
  }
}

function sortedMembers(members: readonly string[]): string[] {
  if (!Array.isArray(members)) throw new InvalidArgumentError("HashRing: members must be an array of strings");
  for (const m of members) {
    if (typeof m !== "string" || m.length === 0) {
      throw new InvalidArgumentError(`HashRing: member ids must be non-empty strings, got ${JSON.stringify(m)}`);
    }
  }
  if (members.length >= INDEX_SPAN) throw new InvalidArgumentError(`HashRing: at most ${INDEX_SPAN - 1} members`);
  return [...new Set(members)].sort(compareStrings);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function binarySearch(sorted: readonly string[], s: string): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as string;
    if (v < s) lo = mid + 1;
    else if (v > s) hi = mid - 1;
    else return mid;
  }
  return -1;
}

/**
 * The ring positions of one member. Two independent 32-bit seeds per member
 * (hash of the id, hash of a prefixed id) are mixed with the point number by
 * integer arithmetic: cheaper than hashing a string per point, and two members
 * would need both seeds to collide to share a point sequence.
 */
function memberPoints(member: string, virtualNodes: number): Uint32Array {
  const a = hash32(member);
  const b = hash32(`\u0001${member}`);
  const out = new Uint32Array(virtualNodes);
  for (let v = 0; v < virtualNodes; v++) out[v] = fmix32(fmix32(a ^ Math.imul(v + 1, 0x9e3779b1)) ^ b);
  return out;
}

/** Use about one bucket per point (at most 2^16 buckets) so the search inside a bucket is short. */
function bucketShift(pointCount: number): number {
  let bits = 0;
  while (bits < 16 && 1 << bits < pointCount) bits++;
  return 32 - bits;
}

function buildBuckets(points: Uint32Array, shift: number): Uint32Array {
  const count = shift === 32 ? 1 : 2 ** (32 - shift);
  const buckets = new Uint32Array(count + 1);
  let p = 0;
  for (let b = 0; b < count; b++) {
    // shift 32 would be a no-op in JS (shift counts are mod 32); one bucket then starts at 0.
    while (p < points.length && shift < 32 && (points[p] as number) >>> shift < b) p++;
    buckets[b] = p;
  }
  buckets[count] = points.length;
  return buckets;
}

/** murmur3's 32-bit finaliser: a bijection on uint32 with full avalanche. */
function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
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
  return fmix32(h);
}
