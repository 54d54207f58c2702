/**
 * `npm run chaos` — the chaos suite: real `praas start` processes, a private
 * redis-server and the S3 test server, under load from the WebSocket client,
 * with kill -9, SIGSTOP, Redis restarts and idle swap-out. Prints a table per
 * scenario, writes bench/results/chaos-<profile>.json, and exits non-zero
 * when any invariant is violated or any target missed.
 *
 *   npm run chaos                        quick profile (≤ 3 min)
 *   npm run chaos -- --full              full profile (≤ 10 min)
 *   npm run chaos -- --seed 42 --only kill-loop,sigstop/s3
 *   npm run chaos -- multihost           only the multi-host part (test/multihost)
 *
 * The multi-host part (hosts in network namespaces: partitions, scale-out/in)
 * runs alongside the local campaigns when the machine allows namespaces (root,
 * `ip netns`); when it does not, the run says so, and fails in CI.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inCi, type MultihostOutcome, type MultihostPart, startMultihost } from "./multihost.js";
import { assertBuilt, ProcessRegistry, startS3Process } from "./processes.js";
import { formatReport, passed, writeJson } from "./report.js";
import { allCampaigns, PROFILES, type RunEnv, runCampaign, type ScenarioResult } from "./scenarios.js";

const USAGE = `usage: npm run chaos [-- [multihost] [--full] [--seed <n>] [--only <name>[,<name>…]] [--out <file.json>] [--history] [--sequential]]
  multihost      only the multi-host part (hosts in network namespaces; needs root and ip netns)
  --full    the full profile (≥ 20 kills per store, 3 SIGSTOPs, 30 s soaks; ≤ 10 min); default: quick (≤ 3 min)
  --seed    seed of the random choices (keys, victims, delays); default: random, printed
  --only    run only the scenarios whose name contains one of these (e.g. kill-loop, sigstop/s3, redis)
  --out     where to write the JSON report (default bench/results/chaos-<profile>.json)
  --history keep every call of every key in the JSON report (default: only keys with violations)
  --sequential   run the multi-host part after the local campaigns instead of alongside them
  The multi-host part writes bench/results/multihost-<profile>.json; --only applies to its scenarios too
  (partition-…, redis-partition, scale-out-in).`;

interface Args {
  /** "multihost": only the multi-host part. */
  readonly part: "all" | "multihost";
  readonly sequential: boolean;
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
  let part: Args["part"] = "all";
  let sequential = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "multihost") part = "multihost";
    else if (a === "--sequential") sequential = true;
    else if (a === "--full") full = true;
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
  return { part, sequential, full, seed, only, out, history };
}

// The runner reads S3 through the AWS SDK, which warns about this Node version on every run:
// print every other warning, not that one.
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
  assertBuilt();
  const profile = PROFILES[args.full ? "full" : "quick"];
  const seed = args.seed ?? Math.floor(Math.random() * 1e9);
  const selected = (name: string) => args.only.length === 0 || args.only.some((o) => name.includes(o));
  const campaigns = allCampaigns()
    .map((c) => ({
      ...c,
      scenarios: c.scenarios.filter(
        (s) => args.part === "all" && selected(s.name) && (args.full || s.fullOnly !== true),
      ),
    }))
    .filter((c) => c.scenarios.length > 0);
  const count = campaigns.reduce((n, c) => n + c.scenarios.length, 0);
  const t0 = performance.now();
  const log = (line: string) =>
    process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  const workDir = await mkdtemp(join(tmpdir(), "praas-chaos-"));
  const registry = new ProcessRegistry();
  const runLevel: string[] = [];
  const multihostArgs = [
    ...(args.full ? ["--full"] : []),
    ...["--seed", String(seed)],
    ...(args.only.length > 0 ? ["--only", args.only.join(",")] : []),
    ...(args.history ? ["--history"] : []),
  ];
  const multihostProgress = (line: string) => process.stdout.write(`multihost ${line}\n`);
  let multihost: MultihostPart | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`chaos: ${sig}: killing every process this run started\n`);
    multihost?.stop();
    registry.killAll();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => registry.killAll());
  process.on("unhandledRejection", (reason) => {
    runLevel.push(`harness: unhandled rejection in the runner: ${String(reason).split("\n")[0]}`);
  });
  // Last resort: whatever hangs, the run ends a minute after its budget.
  const watchdog = setTimeout(() => {
    process.stderr.write(`chaos: hard time limit (${profile.budgetMs / 1000 + 60} s) reached; killing everything\n`);
    multihost?.stop();
    registry.killAll();
    process.exit(3);
  }, profile.budgetMs + 60_000);
  watchdog.unref();

  if (!args.sequential || count === 0) multihost = startMultihost(multihostArgs, multihostProgress);
  if (count > 0) {
    log(
      `chaos suite, ${profile.name} profile, seed ${seed}: ${count} scenarios, ${profile.keys} keys, ${profile.workers} callers, ${profile.ratePerSec} calls/s; work dir ${workDir}${multihost === undefined ? "" : "; the multi-host part runs alongside (lines prefixed multihost)"}`,
    );
  } else log(`chaos suite, ${profile.name} profile, seed ${seed}: the multi-host part only`);
  const results: ScenarioResult[] = [];
  if (count > 0) {
    const s3 = await startS3Process(registry);
    const env: RunEnv = {
      profile,
      seed,
      workDir,
      s3: s3.info,
      s3Server: s3,
      registry,
      fullHistory: args.history,
      deadline: t0 + profile.budgetMs,
      log,
    };
    try {
      for (const [i, campaign] of campaigns.entries()) {
        if (env.deadline - performance.now() < 25_000) {
          runLevel.push(`time budget: ${campaign.scenarios.map((s) => s.name).join(", ")} not run`);
          continue;
        }
        results.push(...(await runCampaign(env, campaign, i)));
      }
    } finally {
      await s3.stop().catch(() => {});
      registry.killAll();
    }
  }
  multihost ??= startMultihost(multihostArgs, multihostProgress);
  const multi = await multihost.done;
  const wallMs = performance.now() - t0;
  if (wallMs > profile.budgetMs) {
    runLevel.push(`time budget: the run took ${(wallMs / 1000).toFixed(0)} s > ${profile.budgetMs / 1000} s`);
  }
  if (count === 0 && multi.kind === "unselected") {
    const names = allCampaigns().flatMap((c) => c.scenarios.map((s) => s.name));
    process.stderr.write(`--only ${args.only.join(",")} matches no scenario: ${names.join(", ")}\n${multi.report}`);
    return 2;
  }
  const out = args.out ?? fileURLToPath(new URL(`../../../bench/results/chaos-${profile.name}.json`, import.meta.url));
  if (count > 0) {
    process.stdout.write(`\n${formatReport(results, profile, seed)}\n`);
    await writeJson(out, results, profile, seed, wallMs);
  }
  runLevel.push(...reportMultihost(multi, args.part === "multihost"));
  const ok = results.every(passed) && runLevel.length === 0;
  process.stdout.write(
    `\nwall time ${(wallMs / 1000).toFixed(0)} s (budget ${profile.budgetMs / 1000} s)${count > 0 ? `; JSON: ${out}` : ""}\n`,
  );
  for (const t of runLevel) process.stdout.write(`✗ ${t}\n`);
  if (ok || count === 0) await rm(workDir, { recursive: true, force: true });
  if (ok) {
    process.stdout.write("chaos: every invariant held and every target was met\n");
  } else {
    const failed = results.filter((r) => !passed(r)).map((r) => r.name);
    process.stdout.write(
      `chaos: FAILED — ${failed.length > 0 ? `scenarios ${failed.join(", ")}` : "run-level targets"}; rerun with --seed ${seed}${count > 0 ? `; silo logs kept in ${workDir}` : ""}\n`,
    );
  }
  return ok ? 0 : 1;
}

/**
 * Print the multi-host part's report; returns its run-level failures. Not
 * runnable here (no root or no `ip netns`) is said plainly, and is a failure
 * in CI or when the multi-host part was asked for by name.
 */
function reportMultihost(m: MultihostOutcome, asked: boolean): string[] {
  if (m.kind === "unselected") return [];
  if (m.kind === "unavailable") {
    process.stdout.write(`\n${m.report.trim()}\n`);
    if (inCi()) return ["the multi-host part could not run, and CI requires it (run as root with ip netns)"];
    if (asked) return ["the multi-host part could not run on this machine"];
    process.stdout.write(
      "chaos: the multi-host part (partitions across hosts) was NOT RUN on this machine; the local campaigns were\n",
    );
    return [];
  }
  process.stdout.write(`\n${m.report.trim()}\n`);
  return m.kind === "passed" ? [] : ["the multi-host part failed (see its report above)"];
}

main().then(
  (code) => exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exit(1);
  },
);

/** Exit with `code` once stdout is flushed, even if some socket of a killed silo still lingers. */
function exit(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
}
