/**
 * The multi-host part of the chaos suite: Redis, the S3 server, three to five
 * `praas start` silos and a load generator, each on a host of its own
 * (network namespaces built and removed by this runner, see netns.ts), under
 * partitions and scale-out/in. Prints the chaos suite's tables, writes
 * bench/results/multihost-<profile>.json, exits non-zero when an invariant or
 * target fails.
 *
 *   npm run chaos -- multihost [--full] [--seed n] [--only partition,scale]
 *   node test/multihost/dist/run.js …          (the same, without the build)
 *
 * Needs root and `ip netns`. Exit codes: 0 every target met; 1 something
 * failed; 2 bad usage; 4 this machine cannot build network namespaces (said
 * why, and nothing was run).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertBuilt, ProcessRegistry } from "#chaos/processes.js";
import { formatReport, passed, writeJson } from "#chaos/report.js";
import type { ScenarioResult } from "#chaos/scenarios.js";
import { HOST_OCTETS, MultiHostCluster } from "./hosts.js";
import { Network, namespaceSupport, removeStale } from "./netns.js";
import { sharedClock } from "./protocol.js";
import { allScenarios, BASE_SILOS, MULTIHOST_PROFILES, type MultiHostEnv, runScenario } from "./scenarios.js";

export const EXIT_NO_NAMESPACES = 4;

const USAGE = `usage: node test/multihost/dist/run.js [--full] [--seed <n>] [--only <name>[,<name>…]] [--out <file.json>] [--history]
  --full     longer partitions (10 s and 30 s), a 15 s cut from Redis, 10 s scale phases; default: quick
  --seed     seed of the random choices (victims, keys); default: random, printed
  --only     run only the scenarios whose name contains one of these (partition, redis-partition, scale)
  --out      where to write the JSON report (default bench/results/multihost-<profile>.json)
  --history  keep every call of every key in the JSON report (default: only keys with violations)`;

interface Args {
  readonly full: boolean;
  readonly seed: number | undefined;
  readonly only: readonly string[];
  readonly out: string | undefined;
  readonly history: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let full = false;
  let seed: number | undefined;
  let only: string[] = [];
  let out: string | undefined;
  let history = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--full") full = true;
    else if (a === "--quick") full = false;
    else if (a === "--seed") {
      const v = value();
      if (!/^\d{1,9}$/.test(v)) throw new Error(`--seed must be a non-negative integer below 10^9, got ${v}`);
      seed = Number(v);
    } else if (a === "--only")
      only = value()
        .split(",")
        .filter((s) => s.length > 0);
    else if (a === "--out") out = value();
    else if (a === "--history") history = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`Unknown argument ${a}\n${USAGE}`);
  }
  return { full, seed, only, out, history };
}

// The agents read S3 through the AWS SDK, which warns about this Node version: not that one.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (!`${w.name} ${w.message}`.includes("NodeVersionSupportWarning"))
    process.stderr.write(`${w.name}: ${w.message}\n`);
});

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const profile = MULTIHOST_PROFILES[args.full ? "full" : "quick"];
  const scenarios = allScenarios(profile).filter(
    (s) => args.only.length === 0 || args.only.some((o) => s.name.includes(o)),
  );
  if (scenarios.length === 0) {
    const names = allScenarios(profile).map((s) => s.name);
    process.stderr.write(`--only ${args.only.join(",")} matches no multi-host scenario: ${names.join(", ")}\n`);
    return 2;
  }
  const support = await namespaceSupport();
  if (!support.ok) {
    process.stdout.write(`multihost: NOT RUN — this machine cannot build network namespaces: ${support.reason}\n`);
    return EXIT_NO_NAMESPACES;
  }
  assertBuilt();
  const base = process.hrtime.bigint();
  const now = sharedClock(base);
  const log = (line: string) => process.stdout.write(`[${(now() / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const seed = args.seed ?? Math.floor(Math.random() * 1e9);
  const stale = await removeStale();
  if (stale.length > 0) log(`removed ${stale.length} namespaces left by runs that are gone: ${stale.join(", ")}`);
  const workDir = await mkdtemp(join(tmpdir(), "praas-multihost-"));
  const registry = new ProcessRegistry();
  const network = await Network.create(HOST_OCTETS);
  const runLevel: string[] = [];
  const cleanUp = () => {
    registry.killAll();
    network.destroySync();
  };
  process.on("exit", cleanUp);
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`multihost: ${sig}: killing every process this run started, removing its namespaces\n`);
    cleanUp();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // Started by `npm run chaos`, which may die without a word (kill -9): then stop as if signalled.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) onSignal("SIGHUP");
  }, 1_000).unref();
  process.on("unhandledRejection", (reason) => {
    runLevel.push(`harness: unhandled rejection in the runner: ${String(reason).split("\n")[0]}`);
  });
  const watchdog = setTimeout(() => {
    process.stderr.write(
      `multihost: hard time limit (${profile.budgetMs / 1000 + 60} s) reached; killing everything\n`,
    );
    cleanUp();
    process.exit(3);
  }, profile.budgetMs + 60_000);
  watchdog.unref();

  log(
    `multi-host suite, ${profile.name} profile, seed ${seed}: ${scenarios.length} scenarios; hosts in ${network.subnet}.0/24: ${network.hosts.map((h) => `${h.name} ${h.ip}`).join(", ")}; work dir ${workDir}`,
  );
  const results: ScenarioResult[] = [];
  let cluster: MultiHostCluster | undefined;
  try {
    cluster = await MultiHostCluster.start({ network, workDir, registry, base, now, log }, BASE_SILOS);
    log(
      `cluster ${cluster.name}: ${BASE_SILOS.length} silos up, Redis ${cluster.redis?.url}, S3 ${cluster.s3?.info.endpoint}`,
    );
    const env: MultiHostEnv = {
      profile,
      seed,
      workDir,
      cluster,
      now,
      deadline: profile.budgetMs,
      fullHistory: args.history,
      log,
    };
    for (const [i, spec] of scenarios.entries()) {
      if (env.deadline - now() < 25_000) {
        runLevel.push(`time budget: ${spec.name} not run`);
        continue;
      }
      const r = await runScenario(env, spec, i);
      results.push(r);
      log(`${spec.name}: ${passed(r) ? "PASS" : `FAIL (${r.targetsMissed.length} targets missed)`}`);
      // The next scenario starts from 3 ready silos that agree.
      const down = BASE_SILOS.filter((s) => !cluster?.silo(s).slot.alive);
      if (down.length > 0 || !(await cluster.settle(5_000))) {
        log(`restarting ${down.length > 0 ? down.join(", ") : "every silo"} before the next scenario`);
        for (const s of down.length > 0 ? down : BASE_SILOS) await cluster.restart(s).catch(() => {});
        await cluster.settle(20_000);
      }
    }
  } catch (err) {
    runLevel.push(`harness error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await cluster?.close().catch(() => {});
    registry.killAll();
    await network.destroy();
  }
  const wallMs = now();
  if (wallMs > profile.budgetMs) {
    runLevel.push(`time budget: the run took ${(wallMs / 1000).toFixed(0)} s > ${profile.budgetMs / 1000} s`);
  }
  if (results.length > 0) process.stdout.write(`\n${formatReport(results, profile, seed, "Multi-host suite")}\n`);
  const out =
    args.out ?? fileURLToPath(new URL(`../../../bench/results/multihost-${profile.name}.json`, import.meta.url));
  await writeJson(out, results, profile, seed, wallMs, "multihost");
  const ok = results.length > 0 && results.every(passed) && runLevel.length === 0;
  process.stdout.write(
    `\nwall time ${(wallMs / 1000).toFixed(0)} s (budget ${profile.budgetMs / 1000} s); JSON: ${out}\n`,
  );
  for (const t of runLevel) process.stdout.write(`✗ ${t}\n`);
  if (ok) {
    await rm(workDir, { recursive: true, force: true });
    process.stdout.write("multihost: every invariant held and every target was met\n");
  } else {
    const failed = results.filter((r) => !passed(r)).map((r) => r.name);
    process.stdout.write(
      `multihost: FAILED — ${failed.length > 0 ? `scenarios ${failed.join(", ")}` : "run-level targets"}; rerun with --seed ${seed}; logs kept in ${workDir}\n`,
    );
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => exit(code),
  (err: unknown) => {
    process.stderr.write(`multihost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exit(1);
  },
);

/** Exit with `code` once stdout is flushed, even if a socket of a killed silo still lingers. */
function exit(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
}
