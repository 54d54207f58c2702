/**
 * The bench runner: `npm run bench [-- [--full] [--list] [NAME…]]`.
 *
 * Runs the chosen suites one after another (never in parallel: they would
 * measure each other), forcing a GC between them, prints their tables and
 * writes bench/results/<suite>.json plus bench/results/latest.json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { describeMachine, type MachineDescription, machineLine } from "./machine.js";
import { forceGc } from "./stats.js";
import type { BenchContext, Profile, Suite, SuiteResult } from "./suite.js";
import * as registered from "./suites/index.js";
import { formatNumber, formatTable } from "./table.js";

const RESULTS_DIR = new URL("../results/", import.meta.url);

const USAGE = `usage: npm run bench -- [--full] [--list] [NAME…]
  (no NAME)  run every suite
  NAME…      run only these suites, in the order given
  --full     the full profile (bigger counts, minutes); default: quick (seconds)
  --list     list the suites and exit`;

/** Thrown for a bad command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

function isSuite(value: unknown): value is Suite {
  if (typeof value !== "object" || value === null) return false;
  const s = value as Partial<Suite>;
  return typeof s.name === "string" && typeof s.run === "function";
}

/** Every Suite exported by suites/index.ts, by name (the module namespace is alphabetical). */
function collectSuites(): Map<string, Suite> {
  const suites = new Map<string, Suite>();
  for (const value of Object.values(registered)) {
    if (!isSuite(value)) continue;
    if (suites.has(value.name)) throw new Error(`Two suites are named "${value.name}"`);
    suites.set(value.name, value);
  }
  return suites;
}

interface Args {
  readonly profile: Profile;
  readonly list: boolean;
  readonly names: readonly string[];
}

function parseArgs(argv: readonly string[]): Args {
  let profile: Profile = "quick";
  let list = false;
  const names: string[] = [];
  for (const arg of argv) {
    if (arg === "--full") profile = "full";
    else if (arg === "--quick") profile = "quick";
    else if (arg === "--list") list = true;
    else if (arg === "--help" || arg === "-h") throw new UsageError("");
    else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    else if (!names.includes(arg)) names.push(arg);
  }
  return { profile, list, names };
}

function select(all: Map<string, Suite>, names: readonly string[]): Suite[] {
  if (names.length === 0) return [...all.values()];
  const unknown = names.filter((n) => !all.has(n));
  if (unknown.length > 0) {
    const valid = [...all.keys()].join(", ") || "(none registered)";
    throw new UsageError(`unknown suite${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; valid names: ${valid}`);
  }
  return names.map((n) => all.get(n) as Suite);
}

interface SuiteRecord extends SuiteResult {
  readonly suite: string;
  readonly description: string;
  readonly machine: MachineDescription;
  readonly durationMs: number;
}

async function runOne(suite: Suite, profile: Profile): Promise<SuiteRecord> {
  const ctx: BenchContext = {
    profile,
    log: (message) => process.stderr.write(`  [${suite.name}] ${message}\n`),
  };
  forceGc(); // start every suite from a collected heap, whatever ran before
  const machine = describeMachine(profile);
  const t0 = performance.now();
  const result = await suite.run(ctx);
  const durationMs = performance.now() - t0;
  return { suite: suite.name, description: suite.description, machine, durationMs, ...result };
}

function printResult(record: SuiteRecord): void {
  const header = `## ${record.suite} — ${record.description} (${(record.durationMs / 1000).toFixed(1)} s)`;
  process.stdout.write(`\n${header}\n\n`);
  for (const table of record.tables) process.stdout.write(`${formatTable(table)}\n\n`);
  const summary = Object.entries(record.summary ?? {});
  if (summary.length > 0) {
    process.stdout.write("summary:\n");
    for (const [k, v] of summary) process.stdout.write(`  ${k}: ${typeof v === "number" ? formatNumber(v) : v}\n`);
  }
}

async function writeJson(name: string, value: unknown): Promise<string> {
  const url = new URL(`${name}.json`, RESULTS_DIR);
  await writeFile(url, `${JSON.stringify(value, null, 2)}\n`);
  return url.pathname;
}

async function main(argv: readonly string[]): Promise<number> {
  const all = collectSuites();
  const args = parseArgs(argv);
  if (args.list) {
    const width = Math.max(0, ...[...all.keys()].map((n) => n.length));
    for (const s of all.values()) process.stdout.write(`${s.name.padEnd(width)}  ${s.description}\n`);
    return 0;
  }
  const chosen = select(all, args.names);
  const machine = describeMachine(args.profile);
  process.stdout.write(`${machineLine(machine)}\n`);
  await mkdir(RESULTS_DIR, { recursive: true });

  const records: Record<string, SuiteRecord> = {};
  const failed: Record<string, string> = {};
  for (const suite of chosen) {
    process.stderr.write(`▶ ${suite.name} (${args.profile})\n`);
    try {
      const record = await runOne(suite, args.profile);
      records[suite.name] = record;
      printResult(record);
      const path = await writeJson(suite.name, record);
      process.stderr.write(`  wrote ${path}\n`);
    } catch (err) {
      // One broken suite must not cost the figures of the others.
      failed[suite.name] = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`✗ ${suite.name} failed: ${failed[suite.name]}\n`);
    }
  }
  const latest = await writeJson("latest", { machine, suites: records, failed });
  process.stderr.write(`wrote ${latest}\n`);
  return Object.keys(failed).length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      if (err.message !== "") process.stderr.write(`bench: ${err.message}\n`);
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = err.message === "" ? 0 : 2;
      return;
    }
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
