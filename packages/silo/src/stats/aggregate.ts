/**
 * Merge per-silo snapshots into the cluster view the dashboard shows. Rates
 * add up; latency percentiles come from the summed histograms (percentiles
 * of different silos cannot be averaged); top lists are merged and cut again.
 */
import type { ClusterSilo } from "../silo.js";
import { TopN } from "./collector.js";
import {
  type BusyActor,
  type CallRow,
  type ClusterSnapshot,
  MAX_CALL_SERIES,
  RECENT_STUCK,
  type SiloRow,
  type SiloSnapshot,
  type StuckTurn,
  TOP_ACTORS,
} from "./snapshot.js";

/** A silo of the membership view, with its snapshot or why there is none. */
export interface SiloAnswer {
  readonly silo: ClusterSilo;
  readonly snapshot?: SiloSnapshot;
  readonly unavailable?: string;
}

export interface AggregateInput {
  readonly self: string;
  readonly membershipVersion: number;
  readonly answers: readonly SiloAnswer[];
  /** Page of the silo table (0-based) and rows per page. */
  readonly page: number;
  readonly pageSize: number;
}

/**
 * The q-quantile (0 < q < 1) of a histogram, in ms: linear within the bucket
 * it falls in (the +Inf bucket answers with the last finite bound).
 */
export function quantileMs(buckets: readonly number[], boundsS: readonly number[], q: number): number {
  let total = 0;
  for (const n of buckets) total += n;
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] as number;
    if (n > 0 && seen + n >= rank) {
      if (i >= boundsS.length) return (boundsS[boundsS.length - 1] as number) * 1000;
      const lo = i === 0 ? 0 : (boundsS[i - 1] as number);
      const hi = boundsS[i] as number;
      return (lo + ((hi - lo) * (rank - seen)) / n) * 1000;
    }
    seen += n;
  }
  return (boundsS[boundsS.length - 1] as number) * 1000;
}

function sumErrors(errors: Readonly<Record<string, number>>): number {
  let n = 0;
  for (const v of Object.values(errors)) n += v;
  return n;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function aggregate(input: AggregateInput): ClusterSnapshot {
  const perType: Record<string, number> = {};
  const series = new Map<
    string,
    { type: string; method: string; perS: number; buckets: number[]; errors: Record<string, number> }
  >();
  const busiest = new TopN<BusyActor>(TOP_ACTORS, (a) => a.load);
  const stuck: StuckTurn[] = [];
  let boundsS: readonly number[] = [];
  let activations = 0;
  let callsPerS = 0;
  let errorsPerS = 0;
  let swapInsPerS = 0;
  let swapOutsPerS = 0;
  let stuckTotal = 0;
  let answering = 0;
  let omitted = 0;
  const reminders = { scheduled: 0, overdue: 0, soon: 0 };
  const rows: SiloRow[] = [];

  for (const { silo, snapshot: s, unavailable } of input.answers) {
    if (s === undefined) {
      rows.push({
        id: silo.id,
        address: silo.address,
        status: silo.status,
        ...(silo.activations === undefined ? {} : { activations: silo.activations }),
        ...(unavailable === undefined ? {} : { unavailable }),
      });
      continue;
    }
    answering++;
    const seconds = s.windowMs / 1000;
    boundsS = s.bucketsS;
    activations += s.activations;
    for (const [type, n] of Object.entries(s.perType)) perType[type] = (perType[type] ?? 0) + n;
    let siloCalls = 0;
    let siloErrors = 0;
    for (const c of s.calls) {
      const k = `${c.type}\u0000${c.method}`;
      let m = series.get(k);
      if (m === undefined) {
        m = { type: c.type, method: c.method, perS: 0, buckets: [], errors: {} };
        series.set(k, m);
      }
      m.perS += c.calls / seconds;
      c.buckets.forEach((n, i) => {
        m.buckets[i] = (m.buckets[i] ?? 0) + n;
      });
      for (const [code, n] of Object.entries(c.errors)) m.errors[code] = (m.errors[code] ?? 0) + n / seconds;
      siloCalls += c.calls;
      siloErrors += sumErrors(c.errors);
    }
    omitted += s.callsOmitted;
    callsPerS += siloCalls / seconds;
    errorsPerS += siloErrors / seconds;
    swapInsPerS += s.swapInsPerS;
    swapOutsPerS += s.swapOutsPerS;
    stuckTotal += s.stuckTotal;
    stuck.push(...s.stuck);
    for (const a of s.busiest) busiest.add(a);
    reminders.scheduled += s.reminders.scheduled;
    reminders.overdue += s.reminders.overdue;
    reminders.soon += s.reminders.soon;
    rows.push({
      id: silo.id,
      address: silo.address,
      status: silo.status,
      startedAt: s.startedAt,
      activations: s.activations,
      scannedAt: s.scannedAt,
      callsPerS: round(siloCalls / seconds),
      errorsPerS: round(siloErrors / seconds),
      swapInsPerS: round(s.swapInsPerS),
      swapOutsPerS: round(s.swapOutsPerS),
    });
  }

  const calls: CallRow[] = [...series.values()]
    .sort((a, b) => b.perS - a.perS)
    .map((m) => {
      const errors: Record<string, number> = {};
      for (const [code, n] of Object.entries(m.errors)) errors[code] = round(n);
      return {
        type: m.type,
        method: m.method,
        callsPerS: round(m.perS),
        p50Ms: round(quantileMs(m.buckets, boundsS, 0.5), 3),
        p95Ms: round(quantileMs(m.buckets, boundsS, 0.95), 3),
        p99Ms: round(quantileMs(m.buckets, boundsS, 0.99), 3),
        errorsPerS: round(sumErrors(m.errors)),
        errors,
      };
    });
  stuck.sort((a, b) => b.at - a.at);
  const start = input.page * input.pageSize;
  return {
    self: input.self,
    at: Date.now(),
    membershipVersion: input.membershipVersion,
    totals: {
      silos: input.answers.length,
      silosAnswering: answering,
      activations,
      callsPerS: round(callsPerS),
      errorsPerS: round(errorsPerS),
      swapInsPerS: round(swapInsPerS),
      swapOutsPerS: round(swapOutsPerS),
      stuckTotal,
      reminders,
    },
    perType,
    silos: {
      page: input.page,
      pageSize: input.pageSize,
      total: rows.length,
      rows: rows.slice(start, start + input.pageSize),
    },
    calls: calls.slice(0, MAX_CALL_SERIES),
    callsOmitted: omitted + Math.max(0, calls.length - MAX_CALL_SERIES),
    stuck: stuck.slice(0, RECENT_STUCK),
    busiest: busiest.sorted(),
  };
}
