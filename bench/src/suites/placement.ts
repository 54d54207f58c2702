/**
 * `placement`: how evenly the consistent-hash ring spreads actors over silos,
 * how many move when a silo joins, and how fast a lookup is (it sits on every
 * remote call path). Baselines in the same run: the old default of 160 virtual
 * nodes, and `hash mod N`, which is perfectly spread up to key-sampling noise
 * (the floor no ring can beat) but moves almost every key on a join.
 */
import { DEFAULT_VIRTUAL_NODES, HashRing, hash32 } from "@praas/core";
import { interleavedRounds, median, nowNs, opsPerSec, warmUp } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult, Table } from "../suite.js";

const TARGET = { maxOverMean100: 1.1, movedOverIdeal: 1.1 } as const;
const BASELINE_VIRTUAL_NODES = 160;

interface Counts {
  readonly keys: number;
  readonly siloCounts: readonly number[];
  /** Other sets of silo ids whose exact ring shares are measured too (the worst is reported). */
  readonly idSets: number;
  /** Joins measured per silo count (different new silo ids). */
  readonly joins: number;
  /** Lookups per timed round, and rounds. */
  readonly lookups: number;
  readonly rounds: number;
}

const COUNTS: Record<"quick" | "full", Counts> = {
  quick: { keys: 200_000, siloCounts: [10, 100, 1000], idSets: 5, joins: 3, lookups: 200_000, rounds: 5 },
  full: { keys: 1_000_000, siloCounts: [10, 100, 1000], idSets: 20, joins: 10, lookups: 1_000_000, rounds: 7 },
};

/** Deterministic pseudo-random silo ids (mulberry32), so every run measures the same rings. */
function siloIds(count: number, seed: number): string[] {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return Array.from({ length: count }, () => `silo-${next().toString(16).padStart(8, "0")}`);
}

interface Balance {
  readonly maxOverMean: number;
  readonly minOverMean: number;
  readonly cvPct: number;
}

function balanceOf(loads: Uint32Array, keys: number): Balance {
  const mean = keys / loads.length;
  let max = 0;
  let min = Number.POSITIVE_INFINITY;
  let sq = 0;
  for (const l of loads) {
    max = Math.max(max, l);
    min = Math.min(min, l);
    sq += (l - mean) ** 2;
  }
  return { maxOverMean: max / mean, minOverMean: min / mean, cvPct: (100 * Math.sqrt(sq / loads.length)) / mean };
}

/** Owner index (into the ring's sorted members) of every key. */
function owners(ring: HashRing, keys: readonly string[]): Uint32Array {
  const index = new Map(ring.members.map((m, i) => [m, i]));
  const out = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) out[i] = index.get(ring.owner(keys[i] as string) as string) as number;
  return out;
}

function ringLoads(ring: HashRing, keys: readonly string[]): Uint32Array {
  const loads = new Uint32Array(ring.size);
  for (const o of owners(ring, keys)) (loads[o] as number)++;
  return loads;
}

function modLoads(n: number, keys: readonly string[]): Uint32Array {
  const loads = new Uint32Array(n);
  for (const k of keys) (loads[hash32(k) % n] as number)++;
  return loads;
}

function maxShareOverMean(ring: HashRing): number {
  let max = 0;
  for (const share of ring.shares().values()) max = Math.max(max, share);
  return max * ring.size;
}

function round(x: number, digits = 3): number {
  return Number(x.toFixed(digits));
}

function balanceTable(counts: Counts, keys: readonly string[], ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const n of counts.siloCounts) {
    const ids = siloIds(n, n);
    for (const vnodes of [DEFAULT_VIRTUAL_NODES, BASELINE_VIRTUAL_NODES]) {
      ctx.log(`balance: ${n} silos × ${vnodes} virtual nodes`);
      const t0 = nowNs();
      const ring = new HashRing(ids, vnodes);
      const buildMs = (nowNs() - t0) / 1e6;
      const b = balanceOf(ringLoads(ring, keys), keys.length);
      // Exact shares of the hash space: the ring's own balance, without key-sampling noise.
      const exact: number[] = [maxShareOverMean(ring)];
      const sets = n >= 1000 ? Math.min(3, counts.idSets) : counts.idSets;
      for (let set = 1; set < sets; set++) exact.push(maxShareOverMean(new HashRing(siloIds(n, n * 31 + set), vnodes)));
      rows.push({
        silos: n,
        placement: `ring ${vnodes} vnodes`,
        keys: keys.length,
        "max/mean": round(b.maxOverMean),
        "min/mean": round(b.minOverMean),
        "cv %": round(b.cvPct, 1),
        "exact max/mean": round(exact[0] as number),
        "exact worst of id sets": `${round(Math.max(...exact))} (${sets})`,
        "build ms": round(buildMs, 1),
      });
    }
    const b = balanceOf(modLoads(n, keys), keys.length);
    rows.push({
      silos: n,
      placement: "hash mod N (floor)",
      keys: keys.length,
      "max/mean": round(b.maxOverMean),
      "min/mean": round(b.minOverMean),
      "cv %": round(b.cvPct, 1),
      "exact max/mean": 1,
      "exact worst of id sets": "1",
      "build ms": 0,
    });
  }
  return {
    title: "Balance: keys per silo, max/mean (1.00 = perfect)",
    rows,
    notes: [
      `target: max/mean ≤ ${TARGET.maxOverMean100} at 100 silos (1 M keys in the full profile)`,
      "hash mod N is the key-sampling floor: with K keys over N silos, loads vary by ≈ √(K/N) anyway",
      "(at 1000 silos and 1 M keys that alone is ≈ 3 % per silo, so max/mean ≈ 1.10 for any placement)",
      "exact = the largest share of the hash space a silo owns × N (the load with infinitely many keys);",
      "worst of id sets = the same for other random silo-id sets (3 at 1000 silos), since balance depends on the ids",
    ],
  };
}

interface JoinFigures {
  readonly movedOverIdeal: number[];
  readonly exactOverIdeal: number[];
  readonly strayMoves: number;
  readonly withMembersMs: number[];
  readonly rebuildMs: number[];
}

function measureJoins(n: number, counts: Counts, keys: readonly string[], vnodes: number): JoinFigures {
  const ids = siloIds(n, n);
  const ring = new HashRing(ids, vnodes);
  const before = owners(ring, keys);
  const out: JoinFigures = { movedOverIdeal: [], exactOverIdeal: [], strayMoves: 0, withMembersMs: [], rebuildMs: [] };
  let stray = 0;
  for (const joiner of siloIds(counts.joins, 7919 * n + 1)) {
    let t0 = nowNs();
    const next = ring.withMembers([...ids, joiner]);
    out.withMembersMs.push((nowNs() - t0) / 1e6);
    t0 = nowNs();
    new HashRing([...ids, joiner], vnodes);
    out.rebuildMs.push((nowNs() - t0) / 1e6);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) {
      const now = next.owner(keys[i] as string) as string;
      if (now !== ring.members[before[i] as number]) {
        moved++;
        if (now !== joiner) stray++;
      }
    }
    out.movedOverIdeal.push(moved / (keys.length / (n + 1)));
    // Every moved key goes to the joiner, so the exact moved fraction is the joiner's share.
    out.exactOverIdeal.push((next.shares().get(joiner) as number) * (n + 1));
  }
  return { ...out, strayMoves: stray };
}

function movementTable(counts: Counts, keys: readonly string[], ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const n of counts.siloCounts) {
    for (const vnodes of [DEFAULT_VIRTUAL_NODES, BASELINE_VIRTUAL_NODES]) {
      ctx.log(`movement: ${n} → ${n + 1} silos × ${vnodes} virtual nodes, ${counts.joins} joins`);
      const f = measureJoins(n, counts, keys, vnodes);
      const mean = f.movedOverIdeal.reduce((a, b) => a + b, 0) / f.movedOverIdeal.length;
      rows.push({
        silos: `${n} → ${n + 1}`,
        placement: `ring ${vnodes} vnodes`,
        joins: counts.joins,
        "moved/ideal mean": round(mean),
        "moved/ideal max": round(Math.max(...f.movedOverIdeal)),
        "exact mean": round(f.exactOverIdeal.reduce((a, b) => a + b, 0) / f.exactOverIdeal.length),
        "exact max": round(Math.max(...f.exactOverIdeal)),
        "moved not to joiner": f.strayMoves,
        "withMembers ms": round(median(f.withMembersMs), 1),
        "rebuild ms": round(median(f.rebuildMs), 1),
      });
    }
    // hash mod N: every key whose residue changes moves.
    let moved = 0;
    for (const k of keys) if (hash32(k) % n !== hash32(k) % (n + 1)) moved++;
    rows.push({
      silos: `${n} → ${n + 1}`,
      placement: "hash mod N",
      joins: 1,
      "moved/ideal mean": round(moved / (keys.length / (n + 1))),
      "moved/ideal max": round(moved / (keys.length / (n + 1))),
      "exact mean": round(n),
      "exact max": round(n),
      "moved not to joiner": moved - Math.round(keys.length / (n + 1)),
      "withMembers ms": 0,
      "rebuild ms": 0,
    });
  }
  return {
    title: "Movement on a join: keys that change owner vs the ideal 1/(N+1)",
    rows,
    notes: [
      `target: moved/ideal ≤ ${TARGET.movedOverIdeal}; "moved not to joiner" must be 0 for the ring`,
      "moved/ideal counts keys (noisy when few keys move: 1000 silos, 200 k keys → ~200 keys per join);",
      "exact = the joiner's share of the hash space × (N+1), the key-independent figure",
      "withMembers = incremental ring update (merge the joiner's points); rebuild = new HashRing from scratch",
      "(hash mod N's stray count is approximate: moved minus the joiner's fair share)",
    ],
  };
}

async function lookupTable(counts: Counts, keys: readonly string[], ctx: BenchContext): Promise<Table> {
  const rows: Row[] = [];
  const n = Math.min(counts.lookups, keys.length);
  let sink = 0;
  for (const silos of counts.siloCounts) {
    ctx.log(`lookups: ${silos} silos`);
    const ring = new HashRing(siloIds(silos, silos));
    const lookup = (i: number): void => {
      sink += (ring.owner(keys[i % n] as string) as string).length;
    };
    const hashOnly = (i: number): void => {
      sink += hash32(keys[i % n] as string) & 1;
    };
    await warmUp(lookup, { minIterations: 100_000, minMs: 100 });
    await warmUp(hashOnly, { minIterations: 100_000, minMs: 100 });
    const timed = (fn: (i: number) => void) => async (): Promise<number> => {
      const t0 = nowNs();
      for (let i = 0; i < n; i++) fn(i);
      return opsPerSec(n, nowNs() - t0);
    };
    const r = await interleavedRounds(counts.rounds, { owner: timed(lookup), hash32: timed(hashOnly) });
    const ownerRate = median(r.owner);
    const hashRate = median(r.hash32);
    rows.push({
      silos,
      points: silos * DEFAULT_VIRTUAL_NODES,
      "owner(key) M/s": round(ownerRate / 1e6, 2),
      "owner ns": round(1e9 / ownerRate, 0),
      "hash32 only M/s": round(hashRate / 1e6, 2),
      "ring search ns": round(1e9 / ownerRate - 1e9 / hashRate, 0),
    });
  }
  if (sink === -1) ctx.log("unreachable");
  return {
    title: "Lookups: owner(key) per second, one core",
    rows,
    notes: ["keys are pre-built strings like `Cart/user-123`; hash32 only = hashing the key, the floor of a lookup"],
  };
}

export const placement: Suite = {
  name: "placement",
  description: "consistent-hash ring: balance, keys moved on a join, lookups/s",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const counts = COUNTS[ctx.profile];
    const keys = Array.from({ length: counts.keys }, (_, i) => `Cart/user-${i}`);
    const balance = balanceTable(counts, keys, ctx);
    const movement = movementTable(counts, keys, ctx);
    const lookups = await lookupTable(counts, keys, ctx);
    const at = (t: Table, silos: number | string, placement: string, col: string): number | string =>
      t.rows.find((r) => r.silos === silos && r.placement === placement)?.[col] ?? Number.NaN;
    const ring = `ring ${DEFAULT_VIRTUAL_NODES} vnodes`;
    return {
      tables: [balance, movement, lookups],
      summary: {
        virtualNodes: DEFAULT_VIRTUAL_NODES,
        keys: counts.keys,
        maxOverMean10: at(balance, 10, ring, "max/mean"),
        maxOverMean100: at(balance, 100, ring, "max/mean"),
        maxOverMean1000: at(balance, 1000, ring, "max/mean"),
        exactMaxOverMean100: at(balance, 100, ring, "exact max/mean"),
        movedOverIdeal100: at(movement, "100 → 101", ring, "moved/ideal max"),
        exactMovedOverIdeal100: at(movement, "100 → 101", ring, "exact max"),
        lookupsPerSec100: Math.round(Number(lookups.rows.find((r) => r.silos === 100)?.["owner(key) M/s"]) * 1e6),
      },
    };
  },
};
