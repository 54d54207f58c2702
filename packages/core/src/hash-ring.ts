import { InvalidArgumentError } from "./errors.js";
import { quoteValue } from "./excerpt.js";
import { activeSilos, type MembershipView } from "./membership.js";

/**
 * Points per member. A member's share of the ring varies by about 1/√points,
 * so the busiest of 100 silos carries ≈ 1 + 2.5/√points of the mean. Measured
 * (bench suite `placement`, exact shares over 20 silo-id sets at 100 silos):
 * 160 points → max/mean up to 1.26; 1000 → 1.08 typical but up to 1.11;
 * 2000 → 1.055 typical, 1.065 worst, leaving room for key-sampling noise under
 * the 1.10 target. Cost: 8 bytes per point (1.6 MB at 100 silos).
 */
export const DEFAULT_VIRTUAL_NODES = 2000;

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

  /**
   * `parts` is for withMembers(), which hands over arrays it merged itself
   * (private fields can only be set by the constructor); without it the ring
   * hashes and sorts `members` from scratch.
   */
  constructor(members: readonly string[], virtualNodes = DEFAULT_VIRTUAL_NODES, parts?: RingParts) {
    parts ??= buildParts(members, virtualNodes);
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
   * The exact fraction of the hash space each member owns (sums to 1): the
   * load it would carry with infinitely many keys. Used to judge balance and
   * movement without sampling noise, and to show ownership in diagnostics.
   */
  shares(): Map<string, number> {
    const arcs = new Float64Array(this.members.length);
    const points = this.#points;
    const n = points.length;
    for (let j = 0; j < n; j++) {
      // Point j owns the arc (previous point, point j]; the first point's arc wraps around zero.
      const arc =
        j === 0
          ? (points[0] as number) + 2 ** 32 - (points[n - 1] as number)
          : (points[j] as number) - (points[j - 1] as number);
      (arcs[this.#owners[j] as number] as number) += arc;
    }
    const out = new Map<string, number>();
    for (let i = 0; i < this.members.length; i++) out.set(this.members[i] as string, (arcs[i] as number) / 2 ** 32);
    return out;
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
    const freshPoints = new Uint32Array(added.length * this.virtualNodes);
    const freshOwners = new Uint32Array(added.length * this.virtualNodes);
    let k = 0;
    for (const m of added) {
      freshPoints.set(memberPoints(m, this.virtualNodes), k);
      freshOwners.fill(binarySearch(next, m), k, k + this.virtualNodes);
      k += this.virtualNodes;
    }
    radixSortPairs(freshPoints, freshOwners);

    // Merge the kept old points (owners renumbered) with the fresh ones, by (hash, owner).
    const total = next.length * this.virtualNodes;
    const points = new Uint32Array(total);
    const owners = new Uint32Array(total);
    const oldPoints = this.#points;
    const oldOwners = this.#owners;
    let i = 0;
    let j = 0;
    let out = 0;
    for (;;) {
      while (i < oldPoints.length && (remap[oldOwners[i] as number] as number) < 0) i++;
      const hasOld = i < oldPoints.length;
      const hasNew = j < freshPoints.length;
      if (!hasOld && !hasNew) break;
      let takeOld = hasOld;
      if (hasOld && hasNew) {
        const po = oldPoints[i] as number;
        const pn = freshPoints[j] as number;
        takeOld = po < pn || (po === pn && (remap[oldOwners[i] as number] as number) < (freshOwners[j] as number));
      }
      if (takeOld) {
        points[out] = oldPoints[i] as number;
        owners[out++] = remap[oldOwners[i] as number] as number;
        i++;
      } else {
        points[out] = freshPoints[j] as number;
        owners[out++] = freshOwners[j] as number;
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

/** The sorted arrays a ring is made of (see the constructor). */
export interface RingParts {
  readonly members: string[];
  readonly virtualNodes: number;
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
}

function fromParts(parts: RingParts): HashRing {
  return new HashRing(parts.members, parts.virtualNodes, parts);
}

function buildParts(members: readonly string[], virtualNodes: number): RingParts {
  checkVirtualNodes(virtualNodes);
  const sorted = sortedMembers(members);
  const total = sorted.length * virtualNodes;
  if (total > MAX_POINTS) {
    throw new InvalidArgumentError(
      `HashRing: ${sorted.length} members × ${virtualNodes} virtual nodes exceeds ${MAX_POINTS} points`,
    );
  }
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  let k = 0;
  for (let i = 0; i < sorted.length; i++) {
    points.set(memberPoints(sorted[i] as string, virtualNodes), k);
    owners.fill(i, k, k + virtualNodes);
    k += virtualNodes;
  }
  // Points were generated in member order and the sort is stable, so equal
  // hashes stay ordered by member name: the ring is identical wherever it is built.
  radixSortPairs(points, owners);
  return { members: sorted, virtualNodes, points, owners };
}

/**
 * Stable LSD radix sort of `keys` (two 16-bit passes), permuting `values`
 * alongside. Linear time: at 1000 members × 2000 points it is several times
 * faster than a comparison sort, which matters because every silo rebuilds
 * its ring on every membership change.
 */
function radixSortPairs(keys: Uint32Array, values: Uint32Array): void {
  const n = keys.length;
  if (n < 2) return;
  const tmpKeys = new Uint32Array(n);
  const tmpValues = new Uint32Array(n);
  const counts = new Uint32Array(65_536);
  let srcK: Uint32Array = keys;
  let srcV: Uint32Array = values;
  let dstK: Uint32Array = tmpKeys;
  let dstV: Uint32Array = tmpValues;
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) (counts[((srcK[i] as number) >>> shift) & 0xffff] as number)++;
    let sum = 0;
    for (let d = 0; d < 65_536; d++) {
      const c = counts[d] as number;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const key = srcK[i] as number;
      const d = (key >>> shift) & 0xffff;
      const at = counts[d] as number;
      counts[d] = at + 1;
      dstK[at] = key;
      dstV[at] = srcV[i] as number;
    }
    [srcK, dstK] = [dstK, srcK];
    [srcV, dstV] = [dstV, srcV];
  }
  // After an even number of passes the sorted data is back in the caller's arrays.
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
      throw new InvalidArgumentError(`HashRing: member ids must be non-empty strings, got ${quoteValue(m)}`);
    }
  }
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

/**
 * Use about one bucket per point (2 to 2^16 buckets) so the search inside a
 * bucket is short. At least one bit: a shift of 32 would be a no-op in JS.
 */
function bucketShift(pointCount: number): number {
  let bits = 1;
  while (bits < 16 && 1 << bits < pointCount) bits++;
  return 32 - bits;
}

function buildBuckets(points: Uint32Array, shift: number): Uint32Array {
  const count = 2 ** (32 - shift);
  const buckets = new Uint32Array(count + 1);
  let p = 0;
  for (let b = 0; b < count; b++) {
    while (p < points.length && (points[p] as number) >>> shift < b) p++;
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
