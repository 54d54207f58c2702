/**
 * The chaos scenarios, grouped in campaigns: a campaign starts one system (a
 * 3-silo cluster with its own Redis and bucket, or one embedded silo) and runs
 * its scenarios on it in turn. A scenario has keys of its own, puts them under
 * load, injects its faults one at a time (waiting, bounded, for recovery
 * between them), stops the load, reads the final values through the silos and
 * from the store, and judges its history. Every loop is bounded by a count
 * from the profile and by the run's time budget.
 */
import { DEFAULT_DEAD_AFTER_MS, DEFAULT_HEARTBEAT_MS } from "@praas/core/internal";
import { SOAK_IDLE_TIMEOUT_MS } from "./actors.js";
import { CHAOS_S3_REQUEST_TIMEOUT_MS, type StoreKind, SystemUnderTest } from "./cluster.js";
import { type CheckResult, checkHistory, type FinalObservation, History } from "./history.js";
import { type CounterKey, counterKeys, LoadGenerator, pick, rng } from "./load.js";
import {
  type ClusterJson,
  getJson,
  type LogProblem,
  type ProcessRegistry,
  type S3Info,
  type SiloSlot,
  sleep,
  type UnexpectedExit,
  waitFor,
} from "./processes.js";
import { passed } from "./report.js";

/**
 * Membership's failure-detection bound at `praas start`'s (fixed) timings:
 * a silo silent for deadAfterMs is declared dead at the next heartbeat of a peer.
 */
export const DETECTION_BOUND_MS = DEFAULT_DEAD_AFTER_MS + DEFAULT_HEARTBEAT_MS;
/** Recovery target after a kill -9 (issue: ≤ 3 s). */
export const KILL_RECOVERY_TARGET_MS = 3_000;
/** How long the runner waits for recovery before it acts by hand. */
const RECOVERY_WAIT_MS = 10_000;
/**
 * After a Redis fault the silos' Redis clients reconnect with a growing pause
 * (ioredis: up to 2 s), and only then learn what the restarted Redis holds:
 * judge recovery no sooner than two detection bounds plus that pause.
 */
const REDIS_FAULT_MIN_WAIT_MS = 2 * DETECTION_BOUND_MS + 2_000;
/** Recovered means: no call failed for this long (so a key served by one silo and refused by another is not). */
const STABLE_MS = 1_000;

export interface Profile {
  readonly name: "quick" | "full";
  readonly keys: number;
  readonly workers: number;
  readonly ratePerSec: number;
  /** kill -9 per store in the kill loop. */
  readonly kills: number;
  /** SIGSTOPs per store. */
  readonly pauses: number;
  readonly redisOutageMs: number;
  readonly soakMs: number;
  readonly embeddedKills: number;
  /** Wall-time budget of the whole run. */
  readonly budgetMs: number;
}

export const PROFILES: Readonly<Record<Profile["name"], Profile>> = {
  quick: {
    name: "quick",
    keys: 32,
    workers: 12,
    ratePerSec: 120,
    kills: 2,
    pauses: 1,
    redisOutageMs: 2_000,
    soakMs: 5_000,
    embeddedKills: 1,
    budgetMs: 180_000,
  },
  full: {
    name: "full",
    keys: 64,
    workers: 24,
    ratePerSec: 200,
    kills: 20,
    pauses: 3,
    redisOutageMs: 3_000,
    soakMs: 30_000,
    embeddedKills: 5,
    budgetMs: 600_000,
  },
};

export interface RunEnv {
  readonly profile: Profile;
  readonly seed: number;
  readonly workDir: string;
  readonly s3: S3Info;
  /** The S3 server's process, for the scenario that freezes it. */
  readonly s3Server?: { pause(): void; resume(): void };
  readonly registry: ProcessRegistry;
  /** Keep every call of every key in the JSON report (default: the keys with violations). */
  readonly fullHistory: boolean;
  /** performance.now() by which the whole run must end. */
  readonly deadline: number;
  log(line: string): void;
}

export type FaultKind =
  | "silo-kill"
  | "silo-pause"
  | "redis-restart"
  | "redis-empty"
  | "s3-freeze"
  /** Multi-host suite: a host cut from the network, a host cut from Redis only, silos added or drained. */
  | "partition"
  | "redis-partition"
  | "scale-out"
  | "drain";

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly label: string;
  /** Scenario time (ms) of the fault. */
  readonly at: number;
  /** When the runner saw every key recovered (scenario ms); undefined: it never did. */
  recoveredAt?: number;
  /** Until every key recovered (see History.keysNotRecovered); undefined: never. */
  recoveryMs?: number;
  /**
   * A single silo restarted at once: when its replacement printed its banner
   * (scenario ms). Its recovery target counts from then, since process
   * start-up time is the machine's, not the runtime's.
   */
  restartedAt?: number;
  /** The key that served last after the fault, and what its calls met meanwhile. */
  slowest?: string;
  /** Pauses: when the peers' views dropped the paused silo (ms after SIGSTOP). */
  detectionMs?: number;
  /** Pauses: what the woken silo did. */
  zombie?: string;
  zombieOk?: boolean;
  /** What the runner had to do by hand (undefined: nothing). */
  manual?: string;
}

export interface ScenarioResult {
  readonly name: string;
  readonly store: StoreKind;
  readonly description: string;
  readonly seed: number;
  readonly durationMs: number;
  readonly calls: number;
  readonly acks: number;
  /** Latency of acknowledged calls. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly check: CheckResult;
  readonly faults: readonly FaultRecord[];
  readonly manualActions: readonly string[];
  readonly logProblems: readonly LogProblem[];
  readonly unexpectedExits: readonly UnexpectedExit[];
  readonly allowedExits: number;
  readonly supervisorRestarts: number;
  readonly logLines: number;
  readonly extra: Readonly<Record<string, number | string>>;
  readonly notes: readonly string[];
  readonly targetsMissed: readonly string[];
  /** Folder of the silo logs of the scenario's campaign (kept when the run fails). */
  readonly logDir: string;
  /** The calls per key, for the JSON report: keys with violations, or every key with `RunEnv.fullHistory`. */
  readonly history: Readonly<Record<string, unknown[]>>;
  /** Set when the scenario itself could not run (harness error). */
  readonly error?: string;
}

/** What a scenario body works with. */
export class ScenarioRun {
  readonly faults: FaultRecord[] = [];
  readonly manual: string[] = [];
  readonly notes: string[] = [];
  readonly targetsMissed: string[] = [];
  readonly extra: Record<string, number | string> = {};
  readonly exitWindows: { slot: string | undefined; from: number; to: number }[] = [];
  finals: FinalObservation[] = [];

  constructor(
    readonly env: RunEnv,
    readonly sut: SystemUnderTest,
    readonly history: History,
    readonly load: LoadGenerator,
    readonly keys: readonly CounterKey[],
    readonly random: () => number,
  ) {}

  now(): number {
    return this.history.now();
  }

  timeLeft(): number {
    return this.env.deadline - performance.now();
  }

  /** Out of time: stop injecting faults (a missed target). */
  outOfTime(what: string): boolean {
    // Keep enough time to stop the load, read the final values and report.
    if (this.timeLeft() > 20_000) return false;
    this.targetsMissed.push(`time budget: ${what} cut short`);
    return true;
  }

  fault(kind: FaultKind, label: string): FaultRecord {
    const f: FaultRecord = { kind, label, at: this.now() };
    this.faults.push(f);
    this.env.log(`  ${this.sut.name}: ${label}`);
    return f;
  }

  #probing: Promise<void> | undefined;

  /** Call right after injecting a fault: probe reads on every key until each is served (see LoadGenerator.probe). */
  probe(): void {
    const probing = this.load.probe(RECOVERY_WAIT_MS);
    this.#probing = Promise.all([this.#probing, probing]).then(() => {});
  }

  /** A silo exiting by itself is acceptable (not a crash) in this window, e.g. a woken zombie. */
  allowExits(slot: string | undefined, from: number, to: number): void {
    this.exitWindows.push({ slot, from, to });
  }

  /**
   * Wait (bounded) until every key has recovered (History.keysNotRecovered)
   * and no call failed for STABLE_MS, and at least `minMs` after the fault
   * (default one detection bound), since some faults take effect late (a
   * silo learns of its eviction at its next heartbeat). If it does not
   * recover, act by hand — restart every silo — and say so.
   */
  async awaitRecovery(f: FaultRecord, minMs = DETECTION_BOUND_MS, boundMs = RECOVERY_WAIT_MS): Promise<void> {
    const ids = this.load.active.map((k) => k.id);
    const recovered = (since: number) => () => {
      const now = this.now();
      return (
        now >= since + minMs &&
        this.history.lastFailureStart(ids) < now - STABLE_MS &&
        this.history.keysNotRecovered(f.at, ids).length === 0
      );
    };
    const ok = await waitFor(recovered(f.at), boundMs);
    await this.#probing;
    if (ok) {
      f.recoveredAt = this.now();
      return;
    }
    const missing = this.history.keysNotRecovered(f.at, ids);
    const action = `after "${f.label}": ${missing.length} of ${ids.length} keys not serving ${boundMs / 1000} s later — restarted every silo by hand`;
    this.manualAction(f, action);
    await this.sut.restartAll();
    const restarted = this.now();
    this.probe();
    if (await waitFor(recovered(restarted), boundMs)) f.recoveredAt = this.now();
    else this.manualAction(f, `after "${f.label}": still not serving ${boundMs / 1000} s after the restart`);
    await this.#probing;
  }

  manualAction(f: FaultRecord | undefined, what: string): void {
    this.manual.push(what);
    if (f !== undefined) f.manual = f.manual === undefined ? what : `${f.manual}; ${what}`;
    this.env.log(`  ${this.sut.name}: MANUAL ACTION: ${what}`);
  }

  /** After a fault: the views agree again and the gateways are usable (bounded); a steady moment follows. */
  async steady(after: FaultRecord): Promise<void> {
    if (!(await this.sut.settle(15_000))) {
      this.targetsMissed.push(`after "${after.label}": the silos' views did not agree within 15 s`);
    }
    await waitFor(() => this.sut.gateways.every((g) => g.usable), 5_000);
    // A short steady period under load before the next fault (pacing, not synchronisation).
    await sleep(300);
  }
}

export interface ScenarioSpec {
  readonly name: string;
  readonly description: string;
  /** Run in the full profile only (the quick one must fit in its budget). */
  readonly fullOnly?: boolean;
  /** Keys of the load, named with `prefix` so scenarios sharing a system never share a key. */
  readonly keys?: (profile: Profile, prefix: string) => CounterKey[];
  /** Faults and their handling, with the load running. */
  readonly body: (run: ScenarioRun) => Promise<void>;
  /** Final observations after the load stopped (default: reads through every silo, then the store). */
  readonly finals?: (run: ScenarioRun) => Promise<FinalObservation[]>;
}

/** Scenarios run one after the other on one system (started once: silo start-up is the slow part). */
export interface Campaign {
  readonly name: string;
  readonly store: StoreKind;
  readonly silos: number;
  readonly scenarios: readonly ScenarioSpec[];
}

/** Start the campaign's system, run its scenarios in turn, close it. */
export async function runCampaign(env: RunEnv, campaign: Campaign, index: number): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const name = `chaos-${campaign.name}-${process.pid}-${Date.now().toString(36)}`;
  env.log(`${campaign.name}: starting ${campaign.silos} silo(s), ${campaign.store} state`);
  let sut: SystemUnderTest;
  try {
    sut = await SystemUnderTest.start({
      name,
      store: campaign.store,
      silos: campaign.silos,
      workDir: env.workDir,
      s3: env.s3,
      registry: env.registry,
    });
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    env.log(`${campaign.name}: HARNESS ERROR ${error}`);
    return campaign.scenarios.map((spec) => failedToRun(env, campaign, spec, error));
  }
  try {
    for (const [i, spec] of campaign.scenarios.entries()) {
      if (env.deadline - performance.now() < 25_000) {
        results.push(failedToRun(env, campaign, spec, "not run: the time budget was spent"));
        continue;
      }
      const r = await runScenario(env, campaign, sut, spec, index * 100 + i);
      results.push(r);
      env.log(`${spec.name}: ${passed(r) ? "PASS" : `FAIL (${r.targetsMissed.length} targets missed)`}`);
      // A scenario that ends with a silo down or views apart leaves the next one a broken system: repair it.
      if (!(await sut.settle(5_000)) || sut.slots.some((s) => !s.alive)) {
        env.log(`${campaign.name}: restarting every silo before the next scenario`);
        await sut.restartAll().catch(() => {});
      }
    }
  } finally {
    await sut.close().catch(() => {});
  }
  return results;
}

function failedToRun(env: RunEnv, campaign: Campaign, spec: ScenarioSpec, error: string): ScenarioResult {
  return {
    name: spec.name,
    store: campaign.store,
    description: spec.description,
    seed: env.seed,
    durationMs: 0,
    calls: 0,
    acks: 0,
    latencyMs: { p50: 0, p99: 0, max: 0 },
    errorsByCode: {},
    check: { violations: [], counts: {}, keys: [] },
    faults: [],
    manualActions: [],
    logProblems: [],
    unexpectedExits: [],
    allowedExits: 0,
    supervisorRestarts: 0,
    logLines: 0,
    extra: {},
    notes: [],
    targetsMissed: [error.split("\n")[0] as string],
    logDir: "",
    history: {},
    error,
  };
}

async function runScenario(
  env: RunEnv,
  campaign: Campaign,
  sut: SystemUnderTest,
  spec: ScenarioSpec,
  seedOffset: number,
): Promise<ScenarioResult> {
  const t0 = performance.now();
  const history = new History(() => performance.now() - t0);
  const watcher = sut.watcher;
  const before = { problems: watcher.problems.length, exits: watcher.exits.length, lines: watcher.lines };
  const restartsBefore = sut.supervisorRestarts;
  const startsBefore = sut.slots.map((s) => s.startupMs.length);
  const random = rng(env.seed + seedOffset * 7919);
  const prefix = spec.name.split("/")[0]?.replace(/[^a-z]+/g, "") ?? "k";
  const keys = spec.keys?.(env.profile, prefix) ?? counterKeys("ChaosCounter", env.profile.keys, prefix);
  env.log(`${spec.name}: ${spec.description}`);
  const load = new LoadGenerator(
    history,
    sut.gateways,
    keys,
    {
      workers: env.profile.workers,
      ratePerSec: env.profile.ratePerSec,
      readFraction: 0.1,
      retryEvery: 2,
      // Longer than a SIGSTOP: calls sent into a frozen silo are still waiting when it wakes.
      callTimeoutMs: 10_000,
    },
    random,
  );
  const run = new ScenarioRun(env, sut, history, load, keys, random);
  let error: string | undefined;
  let check: CheckResult = { violations: [], counts: {}, keys: [] };
  try {
    load.start();
    // Warm up: every key activated (a read on each) before the first fault.
    await load.probe(15_000);
    if (
      history.keysNotRecovered(
        0,
        keys.map((k) => k.id),
      ).length > 0
    ) {
      run.targetsMissed.push("warm-up: not every key was served within 15 s of the start");
    }
    try {
      await spec.body(run);
    } finally {
      load.active = keys;
      await load.stop();
    }
    if (!(await sut.settle(15_000))) run.targetsMissed.push("end: the silos' views did not agree within 15 s");
    const finalsFrom = history.now();
    run.finals = await (spec.finals ?? ((r) => r.sut.observe(r.keys, r.history)))(run);
    check = checkHistory(history, run.finals);
    // After the load and a settle, every gateway that says it is ready must serve reads.
    const failed = new Map<string, number>();
    for (const op of history.ops) {
      if (op.start >= finalsFrom && op.via.endsWith("/final") && op.outcome?.ok === false) {
        const k = `${op.outcome.code} via ${op.via.split("/")[0]}`;
        failed.set(k, (failed.get(k) ?? 0) + 1);
      }
    }
    if (failed.size > 0) {
      const what = [...failed].map(([k, n]) => `${n} × ${k}`).join(", ");
      run.targetsMissed.push(`final reads through gateways that said they were ready failed: ${what}`);
    }
  } catch (err) {
    error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    env.log(`${spec.name}: HARNESS ERROR ${error}`);
  }
  const toScenarioTime = <T extends { at: number }>(x: T): T => ({ ...x, at: x.at - t0 });
  const startups = sut.slots.flatMap((s, i) => s.startupMs.slice(startsBefore[i])).sort((a, b) => a - b);
  if (startups.length > 0) {
    run.extra["silo start-ups (praas start → banner)"] =
      `${startups.length}, median ${Math.round(startups[startups.length >> 1] as number)} ms, max ${Math.round(startups.at(-1) as number)} ms`;
  }
  return summarize(spec, campaign, env, history, run, check, error, performance.now() - t0, {
    problems: watcher.problems.slice(before.problems).map(toScenarioTime),
    exits: watcher.exits.slice(before.exits).map(toScenarioTime),
    lines: watcher.lines - before.lines,
    supervisorRestarts: sut.supervisorRestarts - restartsBefore,
    logDir: watcher.dir,
  });
}

interface LogSlice {
  readonly problems: LogProblem[];
  readonly exits: UnexpectedExit[];
  readonly lines: number;
  readonly supervisorRestarts: number;
  readonly logDir: string;
}

function summarize(
  spec: ScenarioSpec,
  campaign: Campaign,
  env: RunEnv,
  history: History,
  run: ScenarioRun,
  check: CheckResult,
  error: string | undefined,
  durationMs: number,
  logs: LogSlice,
): ScenarioResult {
  const faults = run.faults;
  const keyIds = run.keys.map((k) => k.id);
  faults.forEach((f, i) => {
    const slow = history.slowestRecovery(f.at, keyIds, f.recoveredAt ?? faults[i + 1]?.at ?? history.now());
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
  const latencies: number[] = [];
  for (const op of history.ops) {
    if (op.outcome?.ok === true) {
      acks++;
      latencies.push((op.end as number) - op.start);
    } else if (op.outcome !== undefined) errorsByCode[op.outcome.code] = (errorsByCode[op.outcome.code] ?? 0) + 1;
  }
  const windows = run.exitWindows;
  const allowed = (e: UnexpectedExit) =>
    windows.some((w) => (w.slot === undefined || w.slot === e.slot) && e.at >= w.from && e.at <= w.to);
  const unexpectedExits = logs.exits.filter((e) => !allowed(e));
  const targetsMissed = [...run.targetsMissed];
  const violations = Object.values(check.counts).reduce((a, b) => a + (b ?? 0), 0);
  if (error !== undefined) targetsMissed.push(`harness error: ${error.split("\n")[0]}`);
  if (violations > 0) targetsMissed.push(`${violations} invariant violations`);
  for (const f of faults) {
    const counted = f.recoveryMs === undefined ? undefined : f.recoveryMs - ((f.restartedAt ?? f.at) - f.at);
    if (f.kind === "silo-kill" && (counted === undefined || counted > KILL_RECOVERY_TARGET_MS)) {
      const from = f.restartedAt === undefined ? "" : " (from the restarted silo's banner)";
      targetsMissed.push(
        `recovery after "${f.label}"${from}: ${counted === undefined ? "none" : `${Math.round(counted)} ms`} > ${KILL_RECOVERY_TARGET_MS} ms`,
      );
    }
    if (f.zombieOk === false) targetsMissed.push(`woken silo after "${f.label}": ${f.zombie}`);
  }
  if (run.manual.length > 0) targetsMissed.push(`${run.manual.length} manual actions`);
  if (logs.problems.length > 0) {
    const kinds = [...new Set(logs.problems.map((p) => p.kind))].join(", ");
    targetsMissed.push(`${logs.problems.length} forbidden log lines (${kinds})`);
  }
  for (const e of unexpectedExits) {
    targetsMissed.push(`silo ${e.slot} (${e.siloId}) exited unexpectedly (${e.signal ?? `code ${e.code}`})`);
  }
  const kept = env.fullHistory ? history.keys() : new Set(check.violations.map((v) => v.key));
  const keptHistory: Record<string, unknown[]> = {};
  for (const key of kept) {
    keptHistory[key] = history.opsOf(key).map((o) => ({
      id: o.id,
      kind: o.kind,
      via: o.via,
      start: round(o.start),
      end: o.end === undefined ? null : round(o.end),
      outcome: o.outcome ?? null,
    }));
  }
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    name: spec.name,
    store: campaign.store,
    description: spec.description,
    seed: env.seed,
    durationMs,
    calls: history.ops.length,
    acks,
    latencyMs: { p50: quantile(0.5), p99: quantile(0.99), max: Math.round(latencies.at(-1) ?? 0) },
    errorsByCode,
    check,
    faults,
    manualActions: run.manual,
    logProblems: logs.problems,
    unexpectedExits,
    allowedExits: logs.exits.length - unexpectedExits.length,
    supervisorRestarts: logs.supervisorRestarts,
    logLines: logs.lines,
    extra: run.extra,
    notes: run.notes,
    targetsMissed,
    logDir: logs.logDir,
    history: keptHistory,
    error,
  };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

// ---------------------------------------------------------------------------
// The scenarios

/** (1) kill -9 a random silo, restart it after a random delay (before or after detection), repeat. */
function killLoop(store: "s3" | "redis"): ScenarioSpec {
  return {
    name: `kill-loop/${store}`,
    // The quick profile runs it with S3 state only, to stay within its budget; the full one with both.
    fullOnly: store === "redis",
    description: `3 silos, ${store} state, "turn": kill -9 a silo under load, restart it 0–3 s later; the next kill as soon as every key is served again (restarts may still be under way, one silo always survives)`,
    body: async (run) => {
      const { sut, random } = run;
      const restarting = new Map<SiloSlot, Promise<void>>();
      for (let i = 0; i < run.env.profile.kills; ) {
        if (run.outOfTime("kill loop")) break;
        const candidates = sut.slots.filter((s) => s.alive && !s.paused && !restarting.has(s));
        if (candidates.length < 2) {
          // Never kill the last silo standing: wait (bounded) for a restart to finish.
          await Promise.race([...restarting.values(), sleep(30_000)]);
          continue;
        }
        i++;
        const victim = pick(random, candidates) as SiloSlot;
        const f = run.fault("silo-kill", `kill -9 ${victim.name} (${victim.current?.siloId})`);
        await victim.kill();
        run.probe();
        const delay = Math.floor(random() * DETECTION_BOUND_MS * 1.2);
        const restart = sleep(delay)
          .then(() => sut.restart(victim))
          .then(
            () => {},
            (err: unknown) => {
              run.manualAction(f, `${victim.name} did not come back: ${String(err).split("\n")[0]}`);
            },
          )
          .finally(() => restarting.delete(victim));
        restarting.set(victim, restart);
        await run.awaitRecovery(f);
        // A moment of steady load before the next fault (pacing, not synchronisation).
        await sleep(300);
      }
      await Promise.race([Promise.all(restarting.values()), sleep(30_000)]);
      const last = run.faults.at(-1);
      if (last !== undefined) await run.steady(last);
    },
  };
}

/** (2) SIGSTOP a silo past the detection bound, SIGCONT it, and see what the woken silo does. */
function pauseLoop(store: "s3" | "redis"): ScenarioSpec {
  const pauseMs = 2 * DETECTION_BOUND_MS;
  const wakeBoundMs = 2 * DETECTION_BOUND_MS;
  return {
    name: `sigstop/${store}`,
    // Half the keys: more of the calls that pile up in the frozen silo meet on one key, which is
    // what a stale activation needs to acknowledge a write it does not store.
    keys: (p, prefix) => counterKeys("ChaosCounter", p.keys / 2, prefix),
    description: `3 silos, ${store} state, "turn": SIGSTOP a silo for ${pauseMs / 1000} s (detection bound ${DETECTION_BOUND_MS / 1000} s), then SIGCONT`,
    body: async (run) => {
      const { sut, random } = run;
      for (let i = 0; i < run.env.profile.pauses; i++) {
        if (run.outOfTime("SIGSTOP loop")) break;
        const victim = pick(random, sut.slots) as SiloSlot;
        const oldId = victim.current?.siloId as string;
        const peers = sut.slots.filter((s) => s !== victim);
        const f = run.fault("silo-pause", `SIGSTOP ${victim.name} (${oldId}) for ${pauseMs / 1000} s`);
        victim.pause();
        run.probe();
        const evicted = await waitFor(
          async () => {
            const views = await Promise.all(peers.map((p) => getJson<ClusterJson>(`${p.httpUrl}/v1/cluster`)));
            return views.every(
              (v) => v !== undefined && !v.body.silos.some((s) => s.id === oldId && s.status === "active"),
            );
          },
          pauseMs,
          100,
        );
        if (evicted) f.detectionMs = run.now() - f.at;
        else run.notes.push(`"${f.label}": the peers still listed ${oldId} as active when the pause ended`);
        const left = f.at + pauseMs - run.now();
        if (left > 0) await sleep(left);
        victim.resume();
        const woke = run.now();
        run.allowExits(victim.name, woke, woke + wakeBoundMs + 1_000);
        await watchZombie(run, f, victim, oldId, peers, wakeBoundMs);
        if (f.zombieOk !== true) {
          run.manualAction(f, `${victim.name}: kill -9 and restart the woken silo (${f.zombie})`);
          await sut.restart(victim).catch((err: unknown) => {
            run.manualAction(f, `${victim.name} did not come back: ${String(err).split("\n")[0]}`);
          });
        }
        await run.awaitRecovery(f);
        await run.steady(f);
      }
    },
  };
}

/**
 * Within `boundMs` of SIGCONT the woken silo must have exited, or serve again
 * as a new member: a new id in its own view, listed as active by its peers,
 * and a read through it that succeeds.
 */
async function watchZombie(
  run: ScenarioRun,
  f: FaultRecord,
  slot: SiloSlot,
  oldId: string,
  peers: readonly SiloSlot[],
  boundMs: number,
): Promise<void> {
  const woke = run.now();
  let last = "no answer";
  let newId = "";
  const ok = await waitFor(
    async () => {
      if (!slot.alive) {
        last = "exited";
        return true;
      }
      const view = await getJson<ClusterJson>(`${slot.httpUrl}/v1/cluster`);
      const ready = await getJson<unknown>(`${slot.httpUrl}/readyz`);
      const self = view?.body.self;
      const probe = await run.sut.httpRead(slot, pick(run.random, run.keys) as CounterKey, run.history);
      last = `id ${self === oldId ? "unchanged" : (self ?? "?")}, /readyz ${ready?.status ?? "no answer"}, read ${probe.ok ? "OK" : probe.code}`;
      if (self === undefined || self === oldId || !probe.ok) return false;
      const peerViews = await Promise.all(peers.map((p) => getJson<ClusterJson>(`${p.httpUrl}/v1/cluster`)));
      newId = self;
      return peerViews.every((v) => v?.body.silos.some((s) => s.id === self && s.status === "active") === true);
    },
    boundMs,
    200,
  );
  const after = ((run.now() - woke) / 1000).toFixed(1);
  if (ok && last === "exited") f.zombie = `exited after ${after} s`;
  else if (ok) f.zombie = `rejoined as ${newId} after ${after} s`;
  else f.zombie = `after ${boundMs / 1000} s: neither rejoined nor exited (${last})`;
  f.zombieOk = ok;
}

/** (3) Redis kill -9 and restarted with its data; for S3 state also restarted empty. */
function redisFaults(store: "s3" | "redis"): ScenarioSpec {
  return {
    name: `redis-restart/${store}`,
    description:
      store === "s3"
        ? `3 silos, S3 state: Redis kill -9, restarted with its data; then kill -9, restarted empty`
        : `3 silos, Redis state: Redis kill -9, restarted with its data (AOF)`,
    body: async (run) => {
      const { sut } = run;
      const redis = sut.redis;
      if (redis === undefined) throw new Error("no Redis");
      const outage = run.env.profile.redisOutageMs;
      const f = run.fault("redis-restart", `Redis kill -9, down ${outage / 1000} s, restarted with its data`);
      run.allowExits(undefined, f.at, f.at + outage + 4 * DETECTION_BOUND_MS);
      await redis.kill();
      run.probe();
      await sleep(outage);
      await redis.start();
      await run.awaitRecovery(f, REDIS_FAULT_MIN_WAIT_MS);
      await run.steady(f);
      // Restarted empty: the membership is gone (and with Redis state the state too, which no store
      // survives — so only with S3 state).
      if (store !== "s3" || run.outOfTime("Redis restarted empty")) return;
      const g = run.fault("redis-empty", "Redis kill -9, restarted empty");
      run.allowExits(undefined, g.at, g.at + 4 * DETECTION_BOUND_MS);
      await redis.kill();
      await redis.wipe();
      await redis.start();
      run.probe();
      await run.awaitRecovery(g, REDIS_FAULT_MIN_WAIT_MS);
      await run.steady(g);
    },
  };
}

/**
 * (5) The S3 server frozen (SIGSTOP: connections and bytes are still accepted, nothing answers)
 * for longer than the silos' S3 request timeout, then SIGCONT. Reads and writes in flight must
 * fail with STORE_TIMEOUT within that timeout, not hold their actors until S3 answers: "turn"
 * activations whose write timed out are reset, and every key serves again once S3 does. Writes
 * given up on may still land when the server wakes (it reads what its kernel buffered), which
 * the checker allows: their calls failed, so they may or may not have happened.
 */
function s3Freeze(): ScenarioSpec {
  const freezeMs = 3 * CHAOS_S3_REQUEST_TIMEOUT_MS;
  return {
    name: "s3-freeze/s3",
    description: `3 silos, S3 state, "turn": the S3 server SIGSTOPped for ${freezeMs / 1000} s (the silos' S3 request timeout: ${CHAOS_S3_REQUEST_TIMEOUT_MS / 1000} s), then SIGCONT`,
    body: async (run) => {
      const server = run.env.s3Server;
      if (server === undefined) throw new Error("no S3 server process to freeze");
      const f = run.fault("s3-freeze", `SIGSTOP the S3 server for ${freezeMs / 1000} s`);
      server.pause();
      run.probe();
      try {
        await sleep(freezeMs);
      } finally {
        server.resume();
      }
      const thawed = run.now();
      await run.awaitRecovery(f, freezeMs);
      await run.steady(f);
      // The calls that met the frozen store failed with the store's timeout, none with the
      // caller's own (which would mean a store request held its actor past the store timeout).
      const during = run.history.ops.filter((op) => op.start >= f.at && op.start < thawed && op.outcome !== undefined);
      const codes = new Map<string, number>();
      for (const op of during) {
        if (op.outcome?.ok === false) codes.set(op.outcome.code, (codes.get(op.outcome.code) ?? 0) + 1);
      }
      const summary = [...codes].map(([c, n]) => `${c} ${n}`).join(", ") || "none";
      run.notes.push(`"${f.label}": calls started during the freeze failed with: ${summary}`);
      if ((codes.get("STORE_TIMEOUT") ?? 0) === 0) {
        run.targetsMissed.push(`"${f.label}": no call failed with STORE_TIMEOUT while S3 was frozen (${summary})`);
      }
      if ((codes.get("TIMEOUT") ?? 0) > 0) {
        run.targetsMissed.push(
          `"${f.label}": ${codes.get("TIMEOUT")} call(s) waited out their own deadline while S3 was frozen: a store request outlived its timeout`,
        );
      }
    },
  };
}

/**
 * (4) Soak: keys go idle in turns (their types' idle timeout is 1 s: swapped
 * out, then reactivated under load), no faults. Half the keys "turn", half
 * "deactivate" persistence.
 */
function soak(store: "s3" | "redis"): ScenarioSpec {
  const phaseMs = 3_000;
  return {
    name: `soak/${store}`,
    fullOnly: store === "redis",
    description: `3 silos, ${store} state, idle timeout ${SOAK_IDLE_TIMEOUT_MS / 1000} s: a third of the keys idles ${phaseMs / 1000} s in turns (swap-out, reactivation); half "turn", half "deactivate" persistence`,
    keys: (p, prefix) => [
      ...counterKeys("SoakCounter", p.keys / 2, prefix),
      ...counterKeys("LazyCounter", p.keys / 2, prefix),
    ],
    body: async (run) => {
      const swapOutsBefore = await run.sut.metricSum("praas_deactivations_total", 'reason="idle"');
      const end = run.now() + run.env.profile.soakMs;
      for (let phase = 0; run.now() < end; phase++) {
        if (run.outOfTime("soak")) break;
        run.load.active = run.keys.filter((_, i) => (i + phase) % 3 !== 0);
        await sleep(Math.min(phaseMs, end - run.now()));
      }
      run.load.active = run.keys;
      const swapOuts = (await run.sut.metricSum("praas_deactivations_total", 'reason="idle"')) - swapOutsBefore;
      run.extra["idle swap-outs"] = swapOuts;
      if (swapOuts <= 0) run.targetsMissed.push("soak: no idle swap-out happened (the scenario tested nothing)");
    },
    // "deactivate" keys reach the store when swapped out: read through the silos, let every key go
    // idle (bounded), then read the store.
    finals: async (run) => {
      const reads = await run.sut.finalReads(run.keys, run.history);
      const idle = await waitFor(async () => (await run.sut.activeKeys(run.keys))?.length === 0, 15_000, 250);
      if (!idle) run.targetsMissed.push("soak: keys still active 15 s after the load stopped (no idle swap-out)");
      const stored = await run.sut.storeValues(run.keys);
      return run.keys.map((k) => ({ key: k.id, stored: stored?.get(k.id), reads: reads.get(k.id) ?? [] }));
    },
  };
}

/** (5) One silo on the embedded default store (a folder), "turn", kill -9 under load and restarted at once. */
function embeddedKill(): ScenarioSpec {
  return {
    name: "embedded-kill/fs",
    description: `1 silo, embedded store (--state-dir), "turn": kill -9 under load, restarted at once`,
    body: async (run) => {
      const slot = run.sut.slots[0] as SiloSlot;
      for (let i = 0; i < run.env.profile.embeddedKills; i++) {
        if (run.outOfTime("embedded kill loop")) break;
        const f = run.fault("silo-kill", `kill -9 ${slot.name} (${slot.current?.siloId}), restarted at once`);
        await slot.kill();
        run.probe();
        await run.sut.restart(slot).then(
          () => {
            f.restartedAt = run.now();
          },
          (err: unknown) => {
            run.manualAction(f, `${slot.name} did not come back: ${String(err).split("\n")[0]}`);
          },
        );
        await run.awaitRecovery(f);
        await run.steady(f);
      }
    },
    // The store is read through a fresh process (no activations yet: every read loads from the
    // store), so this works whatever the embedded store is.
    finals: async (run) => {
      const warm = await run.sut.finalReads(run.keys, run.history);
      const slot = run.sut.slots[0] as SiloSlot;
      await slot.kill();
      await run.sut.restart(slot);
      await waitFor(() => run.sut.gateways.every((g) => g.usable), 10_000);
      const cold = await run.sut.finalReads(run.keys, run.history);
      return run.keys.map((k) => {
        const c = cold.get(k.id)?.[0];
        return { key: k.id, stored: c?.value, reads: warm.get(k.id) ?? [] };
      });
    },
  };
}

/**
 * Every campaign: the embedded store; per durable store, the scenarios on one
 * 3-silo cluster (the destructive ones last). Redis state first: its campaign
 * is the shorter one in the quick profile, so a slow machine cuts the S3
 * campaign's last scenario rather than a whole campaign.
 */
export function allCampaigns(): Campaign[] {
  return [
    { name: "embedded", store: "embedded", silos: 1, scenarios: [embeddedKill()] },
    {
      name: "redis",
      store: "redis",
      silos: 3,
      scenarios: [soak("redis"), killLoop("redis"), pauseLoop("redis"), redisFaults("redis")],
    },
    {
      name: "s3",
      store: "s3",
      silos: 3,
      scenarios: [soak("s3"), killLoop("s3"), pauseLoop("s3"), s3Freeze(), redisFaults("s3")],
    },
  ];
}
