/**
 * `redis-membership`: what Redis membership costs the Redis server, per silo
 * and per view change, at growing cluster sizes — for sizing a managed Redis
 * (docs/deploy.md, "Sizing").
 *
 * N real `redisMembership` providers (the code every silo runs, two
 * connections each) join a private redis-server in this process; the figures
 * are read from the server itself (INFO commandstats, stats, cpu), so they are
 * what a hosted Redis would see and bill:
 *   - steady state: commands per silo per second (the client's EVALSHA and the
 *     commands the scripts run inside Redis), bytes, Redis CPU;
 *   - one view change (a silo joins, then leaves): every silo reads the whole
 *     view (one script: GET + HGETALL × 2), so the bytes grow with N².
 * All providers share one process and its event loop here, so the "dead
 * after" bound is raised far above the default (a stall of this process must
 * not look like a crash); that changes no command count: each heartbeat is
 * the same script whatever the timings.
 */
import type { MembershipProvider, MembershipView } from "@praas/core";
import { redisMembership } from "@praas/redis";
import { startRedisServer } from "@praas/testing";
import { Redis } from "ioredis";
import { median } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult } from "../suite.js";

/** The production schedule the per-second figures are converted to. */
const HEARTBEAT_MS = 500;
/** Reminders: every silo lists the cluster's reminder hash this often (silo default). */
const REMINDER_REFRESH_MS = 10_000;

interface Counts {
  readonly silos: readonly number[];
  readonly windowMs: number;
  readonly changes: number;
}

const COUNTS: Record<"quick" | "full", Counts> = {
  quick: { silos: [10, 100, 300], windowMs: 5_000, changes: 3 },
  full: { silos: [10, 100, 300, 1000], windowMs: 15_000, changes: 5 },
};

/** The sizes the docs quote; measured when in the profile, else extrapolated. */
const QUOTED = [10, 100, 1000] as const;

interface Snapshot {
  readonly calls: Map<string, number>;
  readonly netIn: number;
  readonly netOut: number;
  readonly cpuS: number;
}

async function snapshot(admin: Redis): Promise<Snapshot> {
  const text = await admin.info("all");
  const calls = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(m[1] as string, Number(m[2]));
  const num = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    calls,
    netIn: num("total_net_input_bytes"),
    netOut: num("total_net_output_bytes"),
    cpuS: num("used_cpu_user") + num("used_cpu_sys"),
  };
}

/** Commands our own INFO polling adds; never counted as membership traffic. */
const ADMIN_COMMANDS = new Set(["info", "config|resetstat", "flushall", "client|setname", "ping"]);

interface Delta {
  readonly byCommand: Map<string, number>;
  readonly evalsha: number;
  /** Commands run inside scripts (TIME, HGET, ZADD, …), i.e. every command but the client's. */
  readonly inner: number;
  readonly publish: number;
  readonly hgetall: number;
  readonly netIn: number;
  readonly netOut: number;
  readonly cpuS: number;
}

function delta(a: Snapshot, b: Snapshot): Delta {
  const byCommand = new Map<string, number>();
  for (const [k, v] of b.calls) {
    if (ADMIN_COMMANDS.has(k)) continue;
    const d = v - (a.calls.get(k) ?? 0);
    if (d > 0) byCommand.set(k, d);
  }
  const get = (k: string) => byCommand.get(k) ?? 0;
  const client = get("evalsha") + get("eval") + get("subscribe") + get("quit") + get("client|setinfo");
  let all = 0;
  for (const v of byCommand.values()) all += v;
  return {
    byCommand,
    evalsha: get("evalsha") + get("eval"),
    inner: all - client,
    publish: get("publish"),
    hgetall: get("hgetall"),
    netIn: b.netIn - a.netIn,
    netOut: b.netOut - a.netOut,
    cpuS: b.cpuS - a.cpuS,
  };
}

/** Resolves when every provider's view has reached `version`. */
function converged(providers: readonly MembershipProvider[], version: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let waiting = 0;
    const offs: (() => void)[] = [];
    const timer = setTimeout(() => {
      for (const off of offs) off();
      reject(new Error(`membership did not converge on version ${version} within 60 s`));
    }, 60_000);
    const done = () => {
      clearTimeout(timer);
      for (const off of offs) off();
      resolve();
    };
    for (const p of providers) {
      if (p.view().version >= version) continue;
      waiting++;
      const off = p.onChange((v: MembershipView) => {
        if (v.version < version) return;
        off();
        if (--waiting === 0) done();
      });
      offs.push(off);
    }
    if (waiting === 0) done();
  });
}

interface SiloFigures {
  readonly silos: number;
  /** Heartbeats per silo per second actually run (≈ 1000 / (heartbeatMs + a round trip)). */
  readonly beatsPerSiloS: number;
  readonly innerPerBeat: number;
  readonly bytesInPerBeat: number;
  readonly bytesOutPerBeat: number;
  readonly redisCpuUsPerBeat: number;
  /** One view change (median of joins and leaves). */
  readonly readsPerChange: number;
  readonly kibOutPerChange: number;
  readonly redisCpuMsPerChange: number;
  readonly startKiBOut: number;
  readonly errors: number;
}

let counter = 0;

async function measure(url: string, admin: Redis, n: number, counts: Counts, ctx: BenchContext): Promise<SiloFigures> {
  const cluster = `bench-${process.pid}-${++counter}`;
  const errors: unknown[] = [];
  const make = () =>
    redisMembership({
      url,
      cluster,
      heartbeatMs: HEARTBEAT_MS,
      // One process hosts every silo here: see the header.
      deadAfterMs: 600_000,
      pruneAfterMs: 6_000_000,
      onError: (e) => errors.push(e),
    });
  const providers: MembershipProvider[] = [];
  let seq = 0;
  const join = async (p: MembershipProvider) => {
    const i = seq++;
    // Ids and addresses as long as real ones ("silo-" + 8 hex digits, a pod IP): the view's size depends on them.
    const view = await p.join({
      id: `silo-${i.toString(16).padStart(8, "0")}`,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:7100`,
      startedAt: Date.now(),
    });
    return view.version;
  };
  try {
    ctx.log(`redis-membership: ${n} silos joining`);
    const s0 = await snapshot(admin);
    for (let i = 0; i < n; i += 50) {
      const batch = Array.from({ length: Math.min(50, n - i) }, make);
      providers.push(...batch);
      await Promise.all(batch.map(join));
    }
    const lastVersion = Math.max(...providers.map((p) => p.view().version), 0);
    await converged(providers, lastVersion);
    const s1 = await snapshot(admin);
    const start = delta(s0, s1);

    ctx.log(`redis-membership: ${n} silos, steady state for ${counts.windowMs} ms`);
    const a = await snapshot(admin);
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, counts.windowMs));
    const b = await snapshot(admin);
    const seconds = (performance.now() - t0) / 1000;
    const steady = delta(a, b);
    const beats = steady.evalsha;

    ctx.log(`redis-membership: ${n} silos, ${counts.changes} joins and leaves`);
    const reads: number[] = [];
    const kib: number[] = [];
    const cpu: number[] = [];
    const bytesPerS = steady.netOut / seconds;
    const cpuPerS = steady.cpuS / seconds;
    const hgetallPerS = steady.hgetall / seconds;
    const change = async (what: () => Promise<number>, size: number) => {
      const x = await snapshot(admin);
      const c0 = performance.now();
      const version = await what();
      await converged(providers.slice(0, size), version);
      const y = await snapshot(admin);
      const s = (performance.now() - c0) / 1000;
      const d = delta(x, y);
      // Each silo's view read is one script with two HGETALLs; heartbeats in between add none.
      reads.push((d.hgetall - hgetallPerS * s) / 2);
      kib.push(Math.max(0, d.netOut - bytesPerS * s) / 1024);
      cpu.push(Math.max(0, d.cpuS - cpuPerS * s) * 1000);
    };
    for (let r = 0; r < counts.changes; r++) {
      const extra = make();
      providers.push(extra);
      await change(() => join(extra), providers.length);
      providers.pop();
      // leave() makes two versions (leaving, then gone); the second is the one every silo ends on.
      await change(async () => {
        await extra.leave();
        return extra.view().version;
      }, providers.length);
      await extra.close();
    }
    return {
      silos: n,
      beatsPerSiloS: beats / n / seconds,
      innerPerBeat: steady.inner / beats,
      bytesInPerBeat: steady.netIn / beats,
      bytesOutPerBeat: steady.netOut / beats,
      redisCpuUsPerBeat: (steady.cpuS * 1e6) / beats,
      readsPerChange: median(reads),
      kibOutPerChange: median(kib),
      redisCpuMsPerChange: median(cpu),
      startKiBOut: start.netOut / 1024,
      errors: errors.length,
    };
  } finally {
    await Promise.all(providers.map((p) => p.close()));
    await admin.flushall();
  }
}

function round(x: number, digits = 2): number {
  return Number(x.toFixed(digits));
}

/** Least-squares line y = a + b·x. */
function fit(xs: readonly number[], ys: readonly number[]): { a: number; b: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    sxx += ((xs[i] as number) - mx) ** 2;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const counts = COUNTS[ctx.profile];
  const redis = await startRedisServer();
  const admin = new Redis(redis.url, { connectionName: "bench-admin" });
  const measured: SiloFigures[] = [];
  try {
    // Room for 2 connections per silo, and the server's own view of the bench's commands only.
    await admin.config("SET", "maxclients", "10000");
    for (const n of counts.silos) measured.push(await measure(redis.url, admin, n, counts, ctx));
  } finally {
    admin.disconnect();
    await redis.stop();
  }

  const rows: Row[] = measured.map((f) => ({
    silos: f.silos,
    "beats/s per silo": round(f.beatsPerSiloS),
    "commands in Redis per beat": round(f.innerPerBeat, 1),
    "bytes in/out per beat": `${Math.round(f.bytesInPerBeat)} / ${Math.round(f.bytesOutPerBeat)}`,
    "Redis CPU µs per beat": round(f.redisCpuUsPerBeat, 1),
    "view reads per change": round(f.readsPerChange, 1),
    "KiB out per change": round(f.kibOutPerChange, 1),
    "Redis CPU ms per change": round(f.redisCpuMsPerChange, 1),
    "KiB out, all joining": Math.round(f.startKiBOut),
    "background errors": f.errors,
  }));

  // Per-change bytes ∝ reads × view size ≈ N × (c·N): fit KiB/N against N and extrapolate.
  const perSiloKiB = fit(
    measured.map((f) => f.silos),
    measured.map((f) => f.kibOutPerChange / f.silos),
  );
  const perSiloCpu = fit(
    measured.map((f) => f.silos),
    measured.map((f) => f.redisCpuMsPerChange / f.silos),
  );
  // Redis's own background work (its cron, our INFO calls) is in every window: the cost of a beat
  // is the slope of CPU per second against beats per second, not the ratio at one size.
  const cpuFit = fit(
    measured.map((f) => f.beatsPerSiloS * f.silos),
    measured.map((f) => (f.redisCpuUsPerBeat * f.beatsPerSiloS * f.silos) / 1e6),
  );
  const beatCpuUs =
    measured.length > 1 && cpuFit.b > 0 ? cpuFit.b * 1e6 : median(measured.map((f) => f.redisCpuUsPerBeat));
  const innerPerBeat = median(measured.map((f) => f.innerPerBeat));
  const beatOut = median(measured.map((f) => f.bytesOutPerBeat));
  const beatIn = median(measured.map((f) => f.bytesInPerBeat));
  const perS = 1000 / HEARTBEAT_MS;
  const maxMeasured = Math.max(...measured.map((f) => f.silos));
  const scale: Row[] = QUOTED.map((n) => {
    const m = measured.find((f) => f.silos === n);
    const kibPerChange = m?.kibOutPerChange ?? n * (perSiloKiB.a + perSiloKiB.b * n);
    const cpuPerChange = m?.redisCpuMsPerChange ?? n * (perSiloCpu.a + perSiloCpu.b * n);
    return {
      silos: n,
      source: m !== undefined ? "measured" : `extrapolated from ≤ ${maxMeasured}`,
      "client ops/s per silo": round(perS + 1000 / REMINDER_REFRESH_MS, 2),
      "Redis commands/s per silo": round(perS * (1 + innerPerBeat) + 1000 / REMINDER_REFRESH_MS, 1),
      "cluster client ops/s": Math.round(n * (perS + 1000 / REMINDER_REFRESH_MS)),
      "steady Redis CPU %": round((n * perS * beatCpuUs) / 1e4, 2),
      "steady KiB/s in+out": round((n * perS * (beatIn + beatOut)) / 1024, 1),
      "per view change: reads": n,
      "per view change: KiB out": round(kibPerChange, 1),
      "per view change: Redis CPU ms": round(cpuPerChange, 1),
      "rolling upgrade (2N changes): MiB out": round((2 * n * kibPerChange) / 1024, 1),
      connections: 3 * n,
    };
  });
  const at = (n: number, col: string) => scale.find((r) => r.silos === n)?.[col] ?? Number.NaN;
  return {
    tables: [
      {
        title: "Redis membership, measured at the server (INFO): N providers at the default 500 ms heartbeat",
        rows,
        notes: [
          "beat = one heartbeat: one EVALSHA from the silo; the commands it runs inside Redis (TIME, HGET, ZSCORE, ZADD, 2 × ZRANGEBYSCORE, GET)",
          "view change = one silo joins or leaves: a PUBLISH, then every silo reads the whole view (GET + 2 × HGETALL of N entries)",
          "per-change figures have the steady heartbeat traffic of the same interval subtracted; CPU = the redis-server process (user + sys)",
          `all providers run in this one process, "dead after" raised to 600 s so a stall of this process is not a crash (counts do not depend on it)`,
        ],
      },
      {
        title: "Redis load by cluster size, at the default schedule (heartbeat 500 ms, reminder refresh 10 s)",
        rows: scale,
        notes: [
          "client ops/s per silo = 2 heartbeats + 0.1 reminder listings (HGETALL of the cluster's reminder hash, whose size is the number of reminders)",
          "steady figures scale linearly: N silos × per-beat cost (bytes: median over the sizes measured; CPU: slope of Redis CPU/s against beats/s)",
          `view-change bytes and CPU grow with N² (N silos each read N entries): fitted per silo as a + b·N over the sizes measured, ×N`,
          "connections: 2 for membership (commands, pub/sub) + 1 for reminders per silo; + 1 with --storage redis",
        ],
      },
    ],
    summary: {
      heartbeatCommandsInRedis: round(innerPerBeat, 1),
      redisCpuUsPerBeat: round(beatCpuUs, 1),
      steadyRedisCpuPct1000: at(1000, "steady Redis CPU %"),
      clientOpsPerSiloS: at(10, "client ops/s per silo"),
      kibPerViewChange100: at(100, "per view change: KiB out"),
      kibPerViewChange1000: at(1000, "per view change: KiB out"),
      rollingUpgradeMiB1000: at(1000, "rolling upgrade (2N changes): MiB out"),
    },
  };
}

export const redisMembershipLoad: Suite = {
  name: "redis-membership",
  description:
    "Redis membership load at the server: commands, bytes and CPU per silo and per view change, 10…1000 silos",
  run,
};
