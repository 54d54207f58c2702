/**
 * The multi-host scenarios. Each runs on the one cluster of the run (hosts.ts)
 * with keys of its own: load from the load generator's host through every
 * gateway (and, in the partition scenarios, a client on each silo's own host),
 * one fault at a time, then the final values read through the silos and from
 * S3, and the whole history judged by the chaos suite's checker.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type CheckResult, checkHistory, type FinalObservation, History, type Op } from "#chaos/history.js";
import { type CounterKey, counterKeys, pick, rng } from "#chaos/load.js";
import { type LogProblem, sleep, type UnexpectedExit, waitFor } from "#chaos/processes.js";
import { DETECTION_BOUND_MS, type FaultKind, type FaultRecord, type ScenarioResult } from "#chaos/scenarios.js";
import { GATEWAY_PORT, type MultiHostCluster, REDIS_PORT, type SiloHost } from "./hosts.js";
import type { LoadArgs, OpJson } from "./protocol.js";

/** The silos every scenario starts with; s4 and s5 join only to be drained. */
export const BASE_SILOS = ["s1", "s2", "s3"] as const;
export const SPARE_SILOS = ["s4", "s5"] as const;
/** Peers must have dropped a cut-off silo this long after the cut: the detection bound, plus one poll of the host agents (200 ms) and its HTTP round trip. */
export const DETECTION_TARGET_MS = DETECTION_BOUND_MS + 500;
/** A silo that lost its lease must say so (/readyz 503) this soon: its lease ends before the detection bound. */
export const NOT_READY_TARGET_MS = DETECTION_BOUND_MS + 500;
/** After the heal the cut-off silo serves again as a new member, or exits, within this (as a woken zombie in the chaos suite). */
export const REJOIN_TARGET_MS = 2 * DETECTION_BOUND_MS;
/** How long the runner watches for the rejoin before it acts by hand (past the target, so the report has the real figure). */
const REJOIN_WAIT_MS = 30_000;
const STABLE_MS = 1_000;

export interface MultiHostProfile {
  readonly name: "quick" | "full";
  readonly keys: number;
  readonly workers: number;
  readonly ratePerSec: number;
  /** Calls per second of the client on each silo's own host (partition scenarios). */
  readonly localRatePerSec: number;
  /** Link-down partitions: how long each lasts. */
  readonly partitionsMs: readonly number[];
  /** Cut from Redis only: how long. */
  readonly redisPartitionMs: number;
  readonly scaleWorkers: number;
  readonly scaleRatePerSec: number;
  /** Scale scenario: before, with 5 silos, after the drain — each this long. */
  readonly scalePhaseMs: number;
  /** Wall-time budget of the multi-host part (cluster start-up included). */
  readonly budgetMs: number;
}

export const MULTIHOST_PROFILES: Readonly<Record<MultiHostProfile["name"], MultiHostProfile>> = {
  quick: {
    name: "quick",
    keys: 32,
    workers: 12,
    ratePerSec: 80,
    localRatePerSec: 20,
    partitionsMs: [8_000],
    redisPartitionMs: 6_000,
    scaleWorkers: 64,
    scaleRatePerSec: 60,
    scalePhaseMs: 3_000,
    budgetMs: 170_000,
  },
  full: {
    name: "full",
    keys: 64,
    workers: 24,
    ratePerSec: 120,
    localRatePerSec: 30,
    partitionsMs: [10_000, 30_000],
    redisPartitionMs: 15_000,
    scaleWorkers: 64,
    scaleRatePerSec: 100,
    scalePhaseMs: 8_000,
    budgetMs: 420_000,
  },
};

export interface MultiHostEnv {
  readonly profile: MultiHostProfile;
  readonly seed: number;
  readonly workDir: string;
  readonly cluster: MultiHostCluster;
  /** The shared clock (ms). */
  readonly now: () => number;
  /** `now()` by which the multi-host part must end. */
  readonly deadline: number;
  readonly fullHistory: boolean;
  log(line: string): void;
}

export interface MultiHostScenario {
  readonly name: string;
  readonly description: string;
  /** Run a client on every silo's own host too (it reaches a silo that is cut off). */
  readonly local: boolean;
  /** The load generator's settings (keys are added). */
  readonly load: (p: MultiHostProfile) => Omit<LoadArgs, "keys" | "seed">;
  readonly body: (run: MultiHostRun) => Promise<void>;
  /** Targets judged once the load stopped (e.g. on the callers' requests). */
  readonly after?: (run: MultiHostRun) => void;
  /** Where the silos keep actor state (default S3); the runner restarts them to switch. */
  readonly store?: "s3" | "redis";
}

/** What a scenario body works with. */
export class MultiHostRun {
  readonly faults: FaultRecord[] = [];
  /** Shared-clock time of each fault. */
  readonly faultAt = new Map<FaultRecord, number>();
  readonly manual: string[] = [];
  readonly notes: string[] = [];
  readonly targetsMissed: string[] = [];
  readonly extra: Record<string, number | string> = {};
  readonly exitWindows: { slot: string; from: number; to: number }[] = [];
  /** Latency windows for the report: label and shared-clock span. */
  readonly windows: { label: string; from: number; to: number }[] = [];
  logical = { calls: 0, failed: 0, retried: 0 };
  /** Silos cut off in this scenario (see judgeIsolated). */
  readonly isolated: Isolation[] = [];
  #probing: Promise<unknown> = Promise.resolve();

  constructor(
    readonly env: MultiHostEnv,
    readonly t0: number,
    readonly keys: readonly CounterKey[],
    readonly random: () => number,
  ) {}

  get cluster(): MultiHostCluster {
    return this.env.cluster;
  }

  now(): number {
    return this.env.now();
  }

  timeLeft(): number {
    return this.env.deadline - this.now();
  }

  fault(kind: FaultKind, label: string): FaultRecord {
    const at = this.now();
    const f: FaultRecord = { kind, label, at: at - this.t0 };
    this.faults.push(f);
    this.faultAt.set(f, at);
    this.env.log(`  ${label}`);
    return f;
  }

  at(f: FaultRecord): number {
    return this.faultAt.get(f) as number;
  }

  /**
   * The fault is in place (its command returned): detection and the silo's
   * own reaction count from here, not from when the runner began the command
   * (spawning `ip` takes a while on a busy machine). Returns the shared-clock time.
   */
  cutDone(f: FaultRecord): number {
    const t = this.now();
    this.cutDoneAt.set(f, t);
    return t;
  }

  readonly cutDoneAt = new Map<FaultRecord, number>();

  /** A silo exiting by itself is allowed (a supervisor restarts it) from `from` to `to` (shared clock). */
  allowExits(slot: string, from: number, to: number): void {
    this.exitWindows.push({ slot, from, to });
  }

  /** Right after a fault: read every key until served (bounded), so recovery does not wait for the random load. */
  probe(boundMs: number): void {
    const p = this.cluster.loadAgent.request("probe", { boundMs }, boundMs + 15_000).catch(() => {});
    this.#probing = Promise.all([this.#probing, p]);
  }

  /**
   * Wait (at most `boundMs`, at least `minMs` after the fault) until every key
   * served again through the load balancer and no call failed for a second.
   * Returns whether it did; sets `f.recoveredAt`.
   */
  async awaitRecovery(f: FaultRecord, minMs: number, boundMs: number): Promise<boolean> {
    const since = this.at(f);
    const ok = await waitFor(
      async () => {
        if (this.now() < since + minMs) return false;
        const r = await this.cluster.loadAgent.request("recovered", { since, stableMs: STABLE_MS }).catch(() => null);
        return r?.recovered === true;
      },
      boundMs,
      200,
    );
    if (ok) f.recoveredAt = this.now() - this.t0;
    return ok;
  }

  async probesDone(): Promise<void> {
    await this.#probing;
  }

  manualAction(f: FaultRecord | undefined, what: string): void {
    this.manual.push(what);
    if (f !== undefined) f.manual = f.manual === undefined ? what : `${f.manual}; ${what}`;
    this.env.log(`  MANUAL ACTION: ${what}`);
  }
}

/** A scenario's outcome, in the chaos suite's shape (so its report prints it). */
export async function runScenario(env: MultiHostEnv, spec: MultiHostScenario, index: number): Promise<ScenarioResult> {
  const { cluster } = env;
  const t0 = env.now();
  const random = rng(env.seed + index * 7919);
  // Keys of their own per scenario (partition-10s and partition-30s must not share any).
  const prefix = spec.name.replace(/[^a-z0-9]+/g, "");
  const keys = counterKeys("ChaosCounter", env.profile.keys, prefix);
  const run = new MultiHostRun(env, t0, keys, random);
  const logsBefore = { problems: cluster.watcher.problems.length, exits: cluster.watcher.exits.length };
  const linesBefore = cluster.watcher.lines;
  const restartsBefore = cluster.supervisorRestarts;
  const locals = spec.local ? BASE_SILOS.map((s) => cluster.silo(s)) : [];
  env.log(`${spec.name}: ${spec.description}`);
  let error: string | undefined;
  let check: CheckResult = { violations: [], counts: {}, keys: [] };
  let loadOps: Op[] = [];
  let allOps: Op[] = [];
  try {
    const load = cluster.loadAgent;
    if (cluster.storage !== (spec.store ?? "s3")) {
      env.log(`  restarting the silos with ${spec.store ?? "s3"} state`);
      await cluster.useStorage(spec.store ?? "s3");
      if (!(await cluster.settle(30_000))) throw new Error(`the silos did not settle after switching to ${spec.store}`);
    }
    await load.request("startLoad", { ...spec.load(env.profile), keys, seed: env.seed + index });
    for (const [i, s] of locals.entries()) {
      await s.agent.request("startLoad", {
        keys,
        workers: 2,
        ratePerSec: env.profile.localRatePerSec,
        readFraction: 0.5,
        retryEvery: 0,
        callTimeoutMs: 3_000,
        seed: env.seed + index * 31 + i,
      });
    }
    // Warm-up: every key served once before the first fault.
    await load.request("probe", { boundMs: 15_000 }, 30_000);
    const warm = await load.request("recovered", { since: 0, stableMs: 0 });
    if (warm.notRecovered > 0) run.targetsMissed.push(`warm-up: ${warm.notRecovered} keys not served within 15 s`);
    try {
      await spec.body(run);
    } finally {
      await run.probesDone();
      const stopped = await load.request("stopLoad", {}, 60_000);
      run.logical = stopped.logical;
      spec.after?.(run);
      for (const s of locals) await s.agent.request("stopLoad", {}, 60_000).catch(() => {});
    }
    if (!(await cluster.settle(20_000)))
      run.targetsMissed.push("end: the silos' views and Redis did not agree within 20 s");
    const finalsFrom = env.now();
    const reads = await load.request("finalReads", { keys }, 120_000);
    const stored = await load.request("storeValues", { keys, store: cluster.storage }, 60_000);
    const finals: FinalObservation[] = keys.map((k) => ({ key: k.id, stored: stored[k.id], reads: reads[k.id] ?? [] }));
    loadOps = await dumpOps(env, `${spec.name.replace(/\W+/g, "-")}-load.json`, load, t0);
    allOps = [...loadOps];
    for (const s of locals) {
      allOps.push(...(await dumpOps(env, `${spec.name.replace(/\W+/g, "-")}-${s.name}.json`, s.agent, t0)));
    }
    check = checkHistory(allOps, finals);
    judgeIsolated(run, allOps);
    const failedFinal = loadOps.filter(
      (o) => o.start >= finalsFrom - t0 && o.via.endsWith("/final") && o.outcome?.ok === false,
    );
    if (failedFinal.length > 0) {
      const codes = [
        ...new Set(failedFinal.map((o) => `${o.outcome?.ok === false ? o.outcome.code : ""} via ${o.via}`)),
      ];
      run.targetsMissed.push(
        `${failedFinal.length} final reads through ready gateways failed (${codes.slice(0, 4).join(", ")})`,
      );
    }
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    env.log(`${spec.name}: HARNESS ERROR ${error}`);
  }
  return summarize(env, spec, run, check, allOps, loadOps, error, {
    problems: cluster.watcher.problems.slice(logsBefore.problems).map((p) => ({ ...p, at: p.at - t0 })),
    exits: cluster.watcher.exits.slice(logsBefore.exits),
    lines: cluster.watcher.lines - linesBefore,
    supervisorRestarts: cluster.supervisorRestarts - restartsBefore,
  });
}

/** An agent's history, written to a file in the work folder and read back, on scenario time. */
async function dumpOps(
  env: MultiHostEnv,
  file: string,
  agent: { request: MultiHostCluster["loadAgent"]["request"] },
  t0: number,
): Promise<Op[]> {
  const path = join(env.workDir, file);
  await agent.request("dump", { file: path });
  const raw = JSON.parse(await readFile(path, "utf8")) as OpJson[];
  return raw.map((o) => ({
    ...o,
    start: o.start - t0,
    end: o.end === undefined ? undefined : o.end - t0,
    outcome: o.outcome,
  }));
}

function quantiles(latencies: number[]): { p50: number; p99: number; max: number } {
  latencies.sort((a, b) => a - b);
  const q = (x: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(x * latencies.length))] ?? 0);
  return { p50: q(0.5), p99: q(0.99), max: Math.round(latencies.at(-1) ?? 0) };
}

function summarize(
  env: MultiHostEnv,
  spec: MultiHostScenario,
  run: MultiHostRun,
  check: CheckResult,
  allOps: Op[],
  loadOps: Op[],
  error: string | undefined,
  logs: { problems: LogProblem[]; exits: UnexpectedExit[]; lines: number; supervisorRestarts: number },
): ScenarioResult {
  const t0 = run.t0;
  const durationMs = env.now() - t0;
  const keyIds = run.keys.map((k) => k.id);
  // Recovery is the load balancer's clients' view: a client on a cut-off host is expected to fail.
  const lbHistory = History.fromOps(loadOps);
  run.faults.forEach((f, i) => {
    const slow = lbHistory.slowestRecovery(f.at, keyIds, f.recoveredAt ?? run.faults[i + 1]?.at ?? durationMs);
    f.recoveryMs = f.recoveredAt === undefined ? undefined : slow?.ms;
    if (slow !== undefined) {
      const codes = slow.failures.map(
        (o) => `${o.outcome?.ok === false ? o.outcome.code : "unsettled"}@+${Math.round((o.end ?? o.start) - f.at)}`,
      );
      f.slowest = `${slow.key}${codes.length > 0 ? `: ${codes.slice(0, 6).join(" ")}${codes.length > 6 ? " …" : ""}` : ""}`;
    }
  });
  const errorsByCode: Record<string, number> = {};
  let acks = 0;
  for (const op of allOps) {
    if (op.outcome?.ok === true) acks++;
    else if (op.outcome !== undefined) errorsByCode[op.outcome.code] = (errorsByCode[op.outcome.code] ?? 0) + 1;
  }
  const lbAcked = loadOps.filter((o) => o.outcome?.ok === true);
  const latencyMs = quantiles(lbAcked.map((o) => (o.end as number) - o.start));
  if (allOps.length > loadOps.length) {
    const local = allOps.length - loadOps.length;
    const localAcks = acks - lbAcked.length;
    run.extra["calls through the load balancer / on the silos' own hosts"] =
      `${loadOps.length} (${lbAcked.length} acks) / ${local} (${localAcks} acks)`;
  }
  run.extra["requests of the load balancer's callers (retries folded in)"] =
    `${run.logical.calls}, ${run.logical.failed} failed, ${run.logical.retried} needed a retry`;
  for (const w of run.windows) {
    const inWindow = lbAcked.filter((o) => o.start >= w.from - t0 && o.start < w.to - t0);
    const q = quantiles(inWindow.map((o) => (o.end as number) - o.start));
    run.extra[`latency ${w.label}`] = `p50 ${q.p50} ms, p99 ${q.p99} ms, max ${q.max} ms (${inWindow.length} acks)`;
  }
  const allowed = (e: UnexpectedExit) =>
    run.exitWindows.some((w) => w.slot === e.slot && e.at >= w.from && e.at <= w.to);
  const unexpectedExits = logs.exits.filter((e) => !allowed(e)).map((e) => ({ ...e, at: e.at - t0 }));
  const allowedExits = logs.exits.length - unexpectedExits.length;
  const targetsMissed = [...run.targetsMissed];
  const violations = Object.values(check.counts).reduce((a, b) => a + (b ?? 0), 0);
  if (error !== undefined) targetsMissed.push(`harness error: ${error.split("\n")[0]}`);
  if (violations > 0) targetsMissed.push(`${violations} invariant violations`);
  for (const f of run.faults) if (f.zombieOk === false) targetsMissed.push(`after "${f.label}": ${f.zombie}`);
  if (run.manual.length > 0) targetsMissed.push(`${run.manual.length} manual actions`);
  if (logs.problems.length > 0) {
    const kinds = [...new Set(logs.problems.map((p) => p.kind))].join(", ");
    targetsMissed.push(`${logs.problems.length} forbidden log lines (${kinds})`);
  }
  for (const e of unexpectedExits) {
    targetsMissed.push(`silo ${e.slot} (${e.siloId}) exited unexpectedly (${e.signal ?? `code ${e.code}`})`);
  }
  const kept = env.fullHistory ? new Set(allOps.map((o) => o.key)) : new Set(check.violations.map((v) => v.key));
  const history: Record<string, unknown[]> = {};
  for (const key of kept) {
    history[key] = allOps
      .filter((o) => o.key === key)
      .map((o) => ({
        id: o.id,
        kind: o.kind,
        via: o.via,
        start: round(o.start),
        end: o.end === undefined ? null : round(o.end),
        outcome: o.outcome ?? null,
      }));
  }
  return {
    name: spec.name,
    store: spec.store ?? "s3",
    description: spec.description,
    seed: env.seed,
    durationMs,
    calls: allOps.length,
    acks,
    latencyMs,
    errorsByCode,
    check,
    faults: run.faults,
    manualActions: run.manual,
    logProblems: logs.problems,
    unexpectedExits,
    allowedExits,
    supervisorRestarts: logs.supervisorRestarts,
    logLines: logs.lines,
    extra: run.extra,
    notes: run.notes,
    targetsMissed,
    logDir: env.cluster.watcher.dir,
    history,
    error,
  };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------
// Observations of a silo that was cut off

/** First time (shared clock) at or after `from` when the views of `peers` no longer list `id` as active. */
export function droppedAt(peers: readonly SiloHost[], id: string, from: number): number | undefined {
  let worst = Number.NEGATIVE_INFINITY;
  for (const p of peers) {
    // The view in force at `from`, then every change after it.
    const before = p.views.filter((v) => v.t <= from).at(-1);
    const seq = [...(before === undefined ? [] : [{ ...before, t: from }]), ...p.views.filter((v) => v.t > from)];
    const first = seq.find((v) => v.self !== undefined && !v.active.includes(id));
    if (first === undefined) return undefined;
    worst = Math.max(worst, first.t);
  }
  return worst;
}

/** The first view of `s` in [from, to) whose /readyz is not 200. */
function firstNotReady(s: SiloHost, from: number, to: number) {
  return s.views.find((v) => v.t >= from && v.t < to && v.readyz !== 200);
}

/**
 * Within `boundMs` of the heal the silo must serve again as a new member (a
 * new id in its own view, /readyz 200, listed as active by its peers) or have
 * exited (the supervisor starts it again).
 */
async function watchRejoin(
  run: MultiHostRun,
  f: FaultRecord,
  s: SiloHost,
  oldId: string,
  peers: readonly SiloHost[],
  targetMs: number,
  boundMs: number,
): Promise<void> {
  const healed = run.now();
  const firstPid = s.slot.current?.pid;
  let last = "no answer";
  let how = "";
  const ok = await waitFor(
    () => {
      if (s.slot.current?.pid !== firstPid || !s.slot.alive) {
        const exit = run.cluster.watcher.exits.filter((e) => e.slot === s.name).at(-1);
        how = `exited (${exit?.signal ?? `code ${exit?.code ?? "?"}`}) after ${secs(run.now() - healed)}; the supervisor starts it again`;
        return true;
      }
      const v = s.latest;
      if (v === undefined) return false;
      last = `id ${v.self === oldId ? "unchanged" : (v.self ?? "?")}, /readyz ${v.readyz}`;
      if (v.self === undefined || v.self === oldId || v.readyz !== 200) return false;
      if (!peers.every((p) => p.latest?.active.includes(v.self as string) === true)) return false;
      how = `rejoined as ${v.self} after ${secs(run.now() - healed)}`;
      return true;
    },
    boundMs,
    50,
  );
  const took = run.now() - healed;
  if (!ok) f.zombie = `after ${secs(boundMs)}: neither rejoined nor exited (${last})`;
  else if (took > targetMs) f.zombie = `${how} (target ≤ ${secs(targetMs)})`;
  else f.zombie = how;
  f.zombieOk = ok && took <= targetMs;
  run.extra[`${s.name} after the heal`] = f.zombie;
}

/** A silo cut off during a scenario, judged once its host's client's calls are known. */
export interface Isolation {
  readonly slot: string;
  /** Shared clock. */
  readonly cutAt: number;
  readonly healAt: number;
  /** When the peers' views no longer listed it (shared clock), if they did. */
  readonly peersDroppedAt: number | undefined;
  /** Cut from everything (then no call can reach a peer through it: every ack is its own). */
  readonly linkDown: boolean;
}

/** What the cut-off silo's /readyz said while it was cut off (its host's view). */
function reportReadiness(run: MultiHostRun, s: SiloHost, cutAt: number, healAt: number): void {
  const notReady = firstNotReady(s, cutAt, healAt);
  if (notReady === undefined) {
    run.extra[`${s.name} /readyz while cut off`] = "200 throughout";
    run.targetsMissed.push(`${s.name} said ready (/readyz 200) for the whole ${secs(healAt - cutAt)} it was cut off`);
    return;
  }
  const after = notReady.t - cutAt;
  run.extra[`${s.name} /readyz while cut off`] =
    `${notReady.readyz} after ${secs(after)}${notReady.reason === undefined ? "" : ` (${notReady.reason})`}`;
  if (after > NOT_READY_TARGET_MS) {
    run.targetsMissed.push(
      `${s.name} said ready until ${secs(after)} after the cut (target ≤ ${secs(NOT_READY_TARGET_MS)})`,
    );
  }
}

/**
 * What the client on the cut-off silo's own host got from it: the last
 * acknowledgement after the cut, and — cut from everything, where every ack
 * is the silo's own — acknowledgements after its peers had taken its keys
 * (two silos serving one key: what the lease forbids).
 */
export function judgeIsolated(run: MultiHostRun, ops: readonly Op[]): void {
  for (const iso of run.isolated) {
    const from = iso.cutAt - run.t0;
    const to = iso.healAt - run.t0;
    // Acknowledged while cut off (a call answered after the heal is the rejoined silo's).
    const acked = ops.filter(
      (o) =>
        o.via.startsWith(`${iso.slot}/local`) &&
        o.outcome?.ok === true &&
        o.end !== undefined &&
        o.end > from &&
        o.end < to,
    );
    const lastEnd = Math.max(Number.NEGATIVE_INFINITY, ...acked.map((o) => o.end as number));
    run.extra[`${iso.slot}: its host's client, last ack after the cut`] =
      acked.length === 0 ? "none" : `${secs(lastEnd - from)} after the cut (${acked.length} acks while cut off)`;
    if (iso.peersDroppedAt === undefined) continue;
    const dropped = iso.peersDroppedAt - run.t0;
    // The rest of the cluster owns the cut-off silo's keys: each served through the load balancer
    // by a call begun after the peers dropped the silo and acknowledged before the heal.
    const served = new Set(
      ops
        .filter(
          (o) => !o.via.includes("/local") && o.outcome?.ok === true && o.start >= dropped && (o.end as number) <= to,
        )
        .map((o) => o.key),
    );
    const unserved = run.keys.filter((k) => !served.has(k.id));
    run.extra["keys served by the other silos between the drop and the heal"] =
      `${run.keys.length - unserved.length} of ${run.keys.length}`;
    if (unserved.length > 0) {
      const some = unserved.slice(0, 3).map((k) => k.id);
      run.targetsMissed.push(
        `${unserved.length} keys not served through the other silos between the drop of ${iso.slot} and the heal (${some.join(", ")}…)`,
      );
    }
    if (!iso.linkDown) continue;
    const late = acked.filter((o) => (o.end as number) > dropped);
    if (late.length > 0) {
      const reads = late.filter((o) => o.kind === "read").length;
      run.targetsMissed.push(
        `${iso.slot} acknowledged ${late.length} calls (${reads} reads, ${late.length - reads} adds) after its peers had dropped it and taken its keys (split brain; the last ${secs(lastEnd - dropped)} after)`,
      );
    }
  }
}

/** A connection from `from` to host:port must (not) be possible: the harness checks its own cuts. */
async function expectReach(
  run: MultiHostRun,
  from: SiloHost["agent"],
  host: string,
  port: number,
  reachable: boolean,
  what: string,
): Promise<void> {
  const ok = await from.request("canConnect", { host, port, ms: 1_000 }).catch(() => undefined);
  if (ok !== reachable)
    run.targetsMissed.push(`harness: ${what} (${ok === undefined ? "no answer" : `reached: ${ok}`})`);
}

/** Wait (bounded) for the peers to drop `oldId`; record the detection time on `f` and judge it. */
async function awaitDetection(
  run: MultiHostRun,
  f: FaultRecord,
  peers: readonly SiloHost[],
  oldId: string,
  boundMs: number,
): Promise<number | undefined> {
  const cutAt = run.cutDoneAt.get(f) ?? run.at(f);
  await waitFor(() => peers.every((p) => p.latest !== undefined && !p.latest.active.includes(oldId)), boundMs, 50);
  const at = droppedAt(peers, oldId, cutAt);
  if (at === undefined) {
    run.targetsMissed.push(`the other silos still listed ${oldId} as active ${secs(boundMs)} after the cut`);
    return undefined;
  }
  f.detectionMs = at - cutAt;
  if (f.detectionMs > DETECTION_TARGET_MS) {
    run.targetsMissed.push(
      `the other silos dropped ${oldId} ${secs(f.detectionMs)} after the cut (target ≤ ${secs(DETECTION_TARGET_MS)})`,
    );
  }
  return at;
}

/** After the heal: rejoin (or exit) within the target, else restart it by hand; then the cluster must settle. */
async function afterHeal(run: MultiHostRun, f: FaultRecord, s: SiloHost, oldId: string, peers: readonly SiloHost[]) {
  await watchRejoin(run, f, s, oldId, peers, REJOIN_TARGET_MS, REJOIN_WAIT_MS);
  s.isolated = false;
  if (f.zombie?.startsWith("after ") === true) {
    run.manualAction(f, `${s.name}: kill -9 and restart (${f.zombie})`);
    await run.cluster.restart(s.name).catch((err: unknown) => {
      run.manualAction(f, `${s.name} did not come back: ${String(err).split("\n")[0]}`);
    });
  }
  if (!(await run.cluster.settle(20_000))) {
    run.targetsMissed.push(`after "${f.label}": the silos' views and Redis did not agree within 20 s of the heal`);
  }
  run.probe(10_000);
  // A moment of steady load after the heal (pacing, not synchronisation).
  await sleep(1_000);
}

const balancedLoad = (p: MultiHostProfile): Omit<LoadArgs, "keys" | "seed"> => ({
  workers: p.workers,
  ratePerSec: p.ratePerSec,
  readFraction: 0.1,
  // Half the callers resend a call that failed with a retryable error.
  retryEvery: 2,
  callTimeoutMs: 5_000,
});

/** (1) One silo's host cut off the network (its switch port down) for `ms`. */
function partition(ms: number): MultiHostScenario {
  return {
    name: `partition-${ms / 1000}s`,
    description: `3 silos on 3 hosts, S3 state, "turn": one silo's host cut off the network (link down) for ${secs(ms)} under load through every gateway (half the callers retry) and a client on each silo's own host`,
    local: true,
    load: balancedLoad,
    body: async (run) => {
      const { cluster } = run;
      const victim = cluster.silo(pick(run.random, BASE_SILOS) as string);
      const peers = BASE_SILOS.filter((n) => n !== victim.name).map((n) => cluster.silo(n));
      const oldId = victim.latest?.self ?? "?";
      const f = run.fault("partition", `cut ${victim.name} (${oldId}) off the network for ${secs(ms)}`);
      victim.isolated = true;
      run.allowExits(victim.name, run.at(f), run.at(f) + ms + REJOIN_WAIT_MS + 1_000);
      await cluster.net.cut(victim.name);
      // Timings of the silos count from here: the link is down once `ip` returns.
      const cutAt = run.cutDone(f);
      run.probe(ms);
      await expectReach(
        run,
        cluster.loadAgent,
        victim.ip,
        GATEWAY_PORT,
        false,
        `the load host still reached ${victim.name}`,
      );
      const dropped = await awaitDetection(run, f, peers, oldId, Math.max(0, cutAt + ms - run.now()));
      // Every key read (again) now that the others own the silo's keys: the proof they serve each one.
      run.probe(Math.max(0, cutAt + ms - run.now() - 500));
      // Pacing and the recovery figure; the target (every key served by the others) is judged on the history.
      await run.awaitRecovery(f, DETECTION_BOUND_MS, Math.max(0, cutAt + ms - run.now()));
      await sleep(Math.max(0, cutAt + ms - run.now()));
      await cluster.net.heal(victim.name);
      const healAt = run.now();
      reportReadiness(run, victim, cutAt, healAt);
      run.isolated.push({ slot: victim.name, cutAt, healAt, peersDroppedAt: dropped, linkDown: true });
      await afterHeal(run, f, victim, oldId, peers);
    },
  };
}

/** (2) One silo's host cut from Redis only (neighbour entries): it still reaches its peers, S3 and the clients. */
/**
 * With `store` "redis" the state is in membership's own Redis, so the cut silo's writes are held
 * in the same cut as its heartbeats and retransmitted after the heal, when its peers have long
 * declared it dead: Redis must refuse them (fenced by membership), or they would land under the
 * keys' new owners.
 */
function redisPartition(ms: number, store: "s3" | "redis" = "s3"): MultiHostScenario {
  return {
    name: store === "s3" ? "redis-partition" : "redis-partition/redis-state",
    store,
    description:
      store === "s3"
        ? `3 silos on 3 hosts, S3 state, "turn": one silo's host cut from the Redis host only for ${secs(ms)} (it still reaches its peers, S3 and the clients), under load and a client on each silo's own host`
        : `3 silos on 3 hosts, Redis state (membership's server: writes fenced by membership), "turn": one silo's host cut from the Redis host for ${secs(ms)} (it still reaches its peers and the clients), under load and a client on each silo's own host`,
    local: true,
    load: balancedLoad,
    body: async (run) => {
      const { cluster } = run;
      const notableBefore = cluster.watcher.notable.length;
      const victim = cluster.silo(pick(run.random, BASE_SILOS) as string);
      const peers = BASE_SILOS.filter((n) => n !== victim.name).map((n) => cluster.silo(n));
      const oldId = victim.latest?.self ?? "?";
      const redisIp = cluster.net.host("redis").ip;
      const f = run.fault("redis-partition", `cut ${victim.name} (${oldId}) from Redis for ${secs(ms)}`);
      victim.isolated = true;
      run.allowExits(victim.name, run.at(f), run.at(f) + ms + REJOIN_WAIT_MS + 1_000);
      await cluster.net.cutPair(victim.name, "redis");
      const cutAt = run.cutDone(f);
      run.probe(ms);
      await expectReach(run, victim.agent, redisIp, REDIS_PORT, false, `${victim.name} still reached Redis`);
      await expectReach(run, cluster.loadAgent, victim.ip, GATEWAY_PORT, true, `the load host lost ${victim.name} too`);
      const dropped = await awaitDetection(run, f, peers, oldId, Math.max(0, cutAt + ms - run.now()));
      // Every key read (again) now that the others own the silo's keys: the proof they serve each one.
      run.probe(Math.max(0, cutAt + ms - run.now() - 500));
      await run.awaitRecovery(f, DETECTION_BOUND_MS, Math.max(0, cutAt + ms - run.now()));
      await sleep(Math.max(0, cutAt + ms - run.now()));
      await cluster.net.healPair(victim.name, "redis");
      const healAt = run.now();
      reportReadiness(run, victim, cutAt, healAt);
      const lbOut = cluster.lb.find((e) => e.gateway === victim.name && !e.ready && e.t >= cutAt && e.t < healAt);
      run.extra[`${victim.name} taken out by the load balancer's probe`] =
        lbOut === undefined ? "never (stayed in service)" : `${secs(lbOut.t - cutAt)} after the cut`;
      run.isolated.push({ slot: victim.name, cutAt, healAt, peersDroppedAt: dropped, linkDown: false });
      await afterHeal(run, f, victim, oldId, peers);
      if (store === "redis") {
        // The writes the cut held, refused by Redis once delivered (one line per silo id that lost its membership).
        const fenced = cluster.watcher.notable
          .slice(notableBefore)
          .filter((n) => n.kind === "fenced write" && n.slot === victim.name).length;
        run.extra[`${victim.name}: incarnations whose late writes Redis refused as fenced`] = fenced;
      }
    },
  };
}

/** Keys whose silo differs between two `locate` answers (both active). */
function moved(a: Record<string, string | null>, b: Record<string, string | null>): number {
  return Object.keys(a).filter((k) => a[k] !== null && b[k] !== null && a[k] !== b[k]).length;
}

/** (3) Two silos added under load, then drained with SIGTERM; 64 callers, every one retrying. */
function scaleOutIn(): MultiHostScenario {
  return {
    name: "scale-out-in",
    description: `3 → 5 → 3 silos on their own hosts, S3 state, "turn": ${SPARE_SILOS.join(" and ")} start under load, then SIGTERM (drain) while 64 callers call through every gateway, all with retry`,
    local: false,
    load: (p) => ({
      workers: p.scaleWorkers,
      ratePerSec: p.scaleRatePerSec,
      readFraction: 0.1,
      retryEvery: 1,
      // Long enough for a busy machine's queueing: this scenario is about moves, not overload.
      callTimeoutMs: 10_000,
    }),
    after: (run) => {
      if (run.logical.failed > 0) {
        run.targetsMissed.push(`${run.logical.failed} of ${run.logical.calls} requests failed (after their retries)`);
      }
    },
    body: async (run) => {
      const { cluster } = run;
      const phase = run.env.profile.scalePhaseMs;
      const load = cluster.loadAgent;
      const start = run.now();
      await sleep(phase);
      run.windows.push({ label: "before (3 silos)", from: start, to: run.now() });
      const owners0 = await load.request("locate", { keys: run.keys }, 60_000);
      const f = run.fault("scale-out", `start ${SPARE_SILOS.join(" and ")} (3 → 5 silos)`);
      await Promise.all(SPARE_SILOS.map((s) => cluster.addSilo(s)));
      run.extra["scale-out: start-up of the new silos (praas start → banner)"] = secs(run.now() - run.at(f));
      if (!(await cluster.settle(30_000))) run.targetsMissed.push("scale-out: the 5 silos did not agree within 30 s");
      run.extra["scale-out: all 5 in every view and in Redis"] = `${secs(run.now() - run.at(f))} after the start`;
      run.env.log(`  5 silos agree, ${secs(run.now() - run.at(f))} after the start`);
      if (!(await run.awaitRecovery(f, 0, 10_000)))
        run.notes.push("scale-out: keys still failing 10 s after the 5 agreed");
      await sleep(phase);
      run.windows.push({ label: "with 5 silos", from: run.at(f), to: run.now() });
      const owners1 = await load.request("locate", { keys: run.keys }, 60_000);
      let callsOnNew = 0;
      for (const s of SPARE_SILOS) {
        callsOnNew += (await cluster.silo(s).agent.request("metric", { name: "praas_calls_total", filter: "" })) ?? 0;
      }
      const g = run.fault("drain", `SIGTERM ${SPARE_SILOS.join(" and ")} (drain, 5 → 3 silos)`);
      // The load balancer takes them out as the signal goes (as a Kubernetes endpoint does).
      for (const s of SPARE_SILOS) await load.request("down", { name: s, down: true });
      const codes = await Promise.all(
        SPARE_SILOS.map(async (s) => {
          const slot = cluster.silo(s).slot;
          const inc = slot.current;
          await slot.stop(30_000);
          const e = await inc?.exited;
          return `${s} ${e?.signal ?? `exit ${e?.code}`}`;
        }),
      );
      const drained = run.now();
      run.env.log(`  ${codes.join(", ")} ${secs(drained - run.at(g))} after SIGTERM`);
      run.extra["drain: SIGTERM → both exited"] = `${secs(drained - run.at(g))} (${codes.join(", ")})`;
      for (const c of codes) if (!c.endsWith("exit 0")) run.targetsMissed.push(`drain: ${c} (expected exit 0)`);
      if (!(await cluster.settle(20_000))) run.targetsMissed.push("drain: the 3 silos did not agree within 20 s");
      await run.awaitRecovery(g, 0, 10_000);
      run.windows.push({ label: "draining (SIGTERM → exit + 1 s)", from: run.at(g), to: drained + 1_000 });
      const owners2 = await load.request("locate", { keys: run.keys }, 60_000);
      const after = run.now();
      await sleep(phase);
      run.windows.push({ label: "after (3 silos)", from: after, to: run.now() });
      const n = run.keys.length;
      run.extra["keys moved"] =
        `scale-out ${moved(owners0, owners1)} of ${n}, drain ${moved(owners1, owners2)} of ${n}`;
      run.extra[`calls run on ${SPARE_SILOS.join("+")} while up`] = callsOnNew;
    },
  };
}

/** The scenarios of a profile, in the order they run (the partitions first, the scale-out last). */
export function allScenarios(p: MultiHostProfile): MultiHostScenario[] {
  // Redis state last: switching restarts the silos, and nothing after it needs S3 state back.
  return [
    ...p.partitionsMs.map(partition),
    redisPartition(p.redisPartitionMs),
    scaleOutIn(),
    redisPartition(p.redisPartitionMs, "redis"),
  ];
}
