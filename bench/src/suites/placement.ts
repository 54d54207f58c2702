/**
 * `placement`: how evenly the consistent-hash ring spreads actors over silos,
 * how many move when a silo joins, and how fast a lookup is (it sits on every
 * remote call path). Baselines in the same run: the old default of 160 virtual
 * nodes, and `hash mod N`, which is perfectly spread up to key-sampling noise
 * (the floor no ring can beat) but moves almost every key on a join.
 *
 * For deployments (docs/deploy.md): what a leave (drain, crash, eviction), a
 * 10 % scale-out and a rolling upgrade (every silo replaced by one with a new
 * id, one at a time) move, and what the ring costs every silo in memory and
 * time on each view change — up to 1000 silos.
 */
import { DEFAULT_VIRTUAL_NODES, HashRing, hash32 } from "@praas/core/internal";
import { interleavedRounds, median, nowNs, opsPerSec, warmUp } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult, Table } from "../suite.js";

const TARGET = { maxOverMean100: 1.1, movedOverIdeal: 1.1 } as const;
const BASELINE_VIRTUAL_NODES = 160;

interface Counts {
  readonly keys: number;
  /** Steps of a rolling upgrade measured at 1000 silos (all of them below that). */
  readonly rollingSteps1000: number;
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
  quick: {
    keys: 200_000,
    rollingSteps1000: 10,
    siloCounts: [10, 100, 1000],
    idSets: 5,
    joins: 3,
    lookups: 200_000,
    rounds: 5,
  },
  full: {
    keys: 1_000_000,
    rollingSteps1000: 50,
    siloCounts: [10, 100, 1000],
    idSets: 20,
    joins: 10,
    lookups: 1_000_000,
    rounds: 7,
  },
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

/** Keys whose owner differs between two owner arrays, and those of them whose old owner was not `from`. */
function movedKeys(
  before: Uint32Array,
  beforeRing: HashRing,
  after: Uint32Array,
  afterRing: HashRing,
  allowed: (oldOwner: string, newOwner: string) => boolean,
): { moved: number; stray: number } {
  let moved = 0;
  let stray = 0;
  for (let i = 0; i < before.length; i++) {
    const o = beforeRing.members[before[i] as number] as string;
    const n = afterRing.members[after[i] as number] as string;
    if (o === n) continue;
    moved++;
    if (!allowed(o, n)) stray++;
  }
  return { moved, stray };
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * A silo leaves (graceful drain, crash, eviction: the ring does not care how)
 * and a 10 % scale-out. Only the leaver's keys may move on a leave, only keys
 * going to a newcomer on a scale-out.
 */
function churnTable(counts: Counts, keys: readonly string[], ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const n of counts.siloCounts) {
    ctx.log(`churn: ${n} silos, ${counts.joins} leaves and a 10 % scale-out`);
    const ids = siloIds(n, n);
    const ring = new HashRing(ids);
    const before = owners(ring, keys);
    const leaveRatios: number[] = [];
    const exact: number[] = [];
    let stray = 0;
    const shares = ring.shares();
    // Leavers spread over the sorted ids, so small and large shares both appear.
    for (let j = 0; j < counts.joins; j++) {
      const leaver = ring.members[Math.floor(((j + 0.5) * n) / counts.joins)] as string;
      const next = ring.withMembers(ids.filter((id) => id !== leaver));
      const m = movedKeys(before, ring, owners(next, keys), next, (o) => o === leaver);
      leaveRatios.push(m.moved / (keys.length / n));
      exact.push((shares.get(leaver) as number) * n);
      stray += m.stray;
    }
    rows.push({
      silos: n,
      change: "one silo leaves",
      changes: counts.joins,
      "moved/ideal mean": round(mean(leaveRatios)),
      "moved/ideal max": round(Math.max(...leaveRatios)),
      "exact max": round(Math.max(...exact)),
      "moved % of all keys": round((100 * mean(leaveRatios)) / n, 2),
      "moved between other silos": stray,
    });
    const added = Math.ceil(n / 10);
    const newcomers = new Set(siloIds(added, 104_729 * n + 3));
    const grown = ring.withMembers([...ids, ...newcomers]);
    const m = movedKeys(before, ring, owners(grown, keys), grown, (_o, nw) => newcomers.has(nw));
    const ideal = keys.length * (added / (n + added));
    let newShare = 0;
    for (const id of newcomers) newShare += grown.shares().get(id) as number;
    rows.push({
      silos: `${n} → ${n + added}`,
      change: "scale out 10 %",
      changes: 1,
      "moved/ideal mean": round(m.moved / ideal),
      "moved/ideal max": round(m.moved / ideal),
      "exact max": round(newShare / (added / (n + added))),
      "moved % of all keys": round((100 * m.moved) / keys.length, 2),
      "moved between other silos": m.stray,
    });
  }
  return {
    title: "Leave and scale-out: keys that change owner vs the ideal",
    rows,
    notes: [
      "ideal: a leave moves the leaver's keys only, 1/N of all; a scale-out from N to N+A moves A/(N+A) of all, all to the newcomers",
      "exact = the moved share of the hash space (leaver's share × N; newcomers' shares ÷ ideal), free of key-sampling noise",
      '"moved between other silos" must be 0: no key moves between two silos that stay',
    ],
  };
}

/**
 * A Kubernetes rolling upgrade with maxSurge 1, maxUnavailable 0: a new silo
 * (a new random id) joins, then an old one drains and leaves; N times. Counted
 * with exact shares: a join moves the joiner's share, a leave the leaver's.
 */
function rollingTable(counts: Counts, ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const n of counts.siloCounts) {
    const steps = n >= 1000 ? Math.min(n, counts.rollingSteps1000) : n;
    ctx.log(`rolling upgrade: ${n} silos, ${steps} of ${n} steps`);
    const old = siloIds(n, n);
    const fresh = siloIds(n, 15_485_863 * n + 5);
    let members = [...old];
    let ring = new HashRing(members);
    const perStep: number[] = [];
    const updateMs: number[] = [];
    for (let s = 0; s < steps; s++) {
      const joiner = fresh[s] as string;
      const leaver = old[s] as string;
      let t0 = nowNs();
      const joined = ring.withMembers([...members, joiner]);
      updateMs.push((nowNs() - t0) / 1e6);
      const joinedShares = joined.shares();
      members = members.filter((m) => m !== leaver).concat(joiner);
      t0 = nowNs();
      ring = joined.withMembers(members);
      updateMs.push((nowNs() - t0) / 1e6);
      perStep.push((joinedShares.get(joiner) as number) + (joinedShares.get(leaver) as number));
    }
    const total = mean(perStep) * n;
    rows.push({
      silos: n,
      "steps measured": `${steps} of ${n}`,
      "moved per step, % of keys": round(100 * mean(perStep), 3),
      "max per step, % of keys": round(100 * Math.max(...perStep), 3),
      "moves per key, whole rollout": round(total, 2),
      "ring update ms (median)": round(median(updateMs), 1),
      "view changes": 2 * n,
    });
  }
  return {
    title: "Rolling upgrade (maxSurge 1): every silo replaced by a new one, one at a time",
    rows,
    notes: [
      "each step: a new silo joins (it takes its share), then an old one leaves (its share goes to the rest): two view changes",
      "moves per key = the sum of the moved shares over the N steps (extrapolated from the measured steps at 1000 silos):",
      "every key must move at least once (all its old owners go); ≈ 2 means each actor is swapped out and in about twice",
      "ring update = what every silo computes on each view change (withMembers: merge the changed silo's points)",
    ],
  };
}

/** What the ring costs each silo: memory, and the time of a rebuild or an incremental update. */
function ringCostTable(counts: Counts, ctx: BenchContext): Table {
  const rows: Row[] = [];
  for (const n of counts.siloCounts) {
    ctx.log(`ring cost: ${n} silos`);
    const ids = siloIds(n, n);
    const points = n * DEFAULT_VIRTUAL_NODES;
    const bucketBits = Math.min(16, Math.max(1, Math.ceil(Math.log2(points))));
    const bytes = 8 * points + 4 * (2 ** bucketBits + 1);
    const builds: number[] = [];
    const updates: number[] = [];
    for (let r = 0; r < 3; r++) {
      let t0 = nowNs();
      const ring = new HashRing(ids);
      builds.push((nowNs() - t0) / 1e6);
      t0 = nowNs();
      ring.withMembers(ids.slice(1));
      updates.push((nowNs() - t0) / 1e6);
    }
    rows.push({
      silos: n,
      points,
      "ring MiB": round(bytes / 2 ** 20, 2),
      "build ms": round(median(builds), 1),
      "update ms (one leave)": round(median(updates), 1),
    });
  }
  return {
    title: "The ring on every silo: memory, and time per view change",
    rows,
    notes: [
      `${DEFAULT_VIRTUAL_NODES} points per silo, 8 bytes each (hash + owner) plus a 2^16-entry bucket table; the old ring lives until the new one is built`,
      "build = from scratch (a silo's start); update = one silo left (every other view change)",
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
  description:
    "consistent-hash ring: balance, keys moved on a join / leave / scale-out / rolling upgrade, ring cost, lookups/s",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const counts = COUNTS[ctx.profile];
    const keys = Array.from({ length: counts.keys }, (_, i) => `Cart/user-${i}`);
    const balance = balanceTable(counts, keys, ctx);
    const movement = movementTable(counts, keys, ctx);
    const lookups = await lookupTable(counts, keys, ctx);
    const churn = churnTable(counts, keys, ctx);
    const rolling = rollingTable(counts, ctx);
    const cost = ringCostTable(counts, ctx);
    const at = (t: Table, silos: number | string, placement: string, col: string): number | string =>
      t.rows.find((r) => r.silos === silos && r.placement === placement)?.[col] ?? Number.NaN;
    const ring = `ring ${DEFAULT_VIRTUAL_NODES} vnodes`;
    const change = (silos: number | string, what: string, col: string): number | string =>
      churn.rows.find((r) => r.silos === silos && r.change === what)?.[col] ?? Number.NaN;
    return {
      tables: [balance, movement, lookups, churn, rolling, cost],
      summary: {
        virtualNodes: DEFAULT_VIRTUAL_NODES,
        keys: counts.keys,
        maxOverMean10: at(balance, 10, ring, "max/mean"),
        maxOverMean100: at(balance, 100, ring, "max/mean"),
        maxOverMean1000: at(balance, 1000, ring, "max/mean"),
        exactMaxOverMean100: at(balance, 100, ring, "exact max/mean"),
        movedOverIdeal100: at(movement, "100 → 101", ring, "moved/ideal max"),
        exactMovedOverIdeal100: at(movement, "100 → 101", ring, "exact max"),
        movedOnLeaveOverIdeal1000: change(1000, "one silo leaves", "moved/ideal max"),
        exactMovedOnLeave1000: change(1000, "one silo leaves", "exact max"),
        scaleOut10PctOverIdeal1000: change("1000 → 1100", "scale out 10 %", "moved/ideal max"),
        rollingMovesPerKey100:
          rolling.rows.find((r) => r.silos === 100)?.["moves per key, whole rollout"] ?? Number.NaN,
        rollingMovesPerKey1000:
          rolling.rows.find((r) => r.silos === 1000)?.["moves per key, whole rollout"] ?? Number.NaN,
        ringMiB1000: cost.rows.find((r) => r.silos === 1000)?.["ring MiB"] ?? Number.NaN,
        ringUpdateMs1000: cost.rows.find((r) => r.silos === 1000)?.["update ms (one leave)"] ?? Number.NaN,
        lookupsPerSec100: Math.round(Number(lookups.rows.find((r) => r.silos === 100)?.["owner(key) M/s"]) * 1e6),
      },
    };
  },
};
