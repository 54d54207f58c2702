/**
 * The chaos run's report: plain-text tables for the terminal (one summary row
 * per scenario, then each scenario's faults and violations) and a JSON file.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { describe as describeOp, type Op } from "./history.js";
import type { Profile, ScenarioResult } from "./scenarios.js";

type Cell = string | number;

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(title: string, header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map((c) => (typeof c === "number" ? c.toLocaleString("en-US") : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === "number"));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  return [title, "=".repeat(title.length), line(header), widths.map((w) => "-".repeat(w)).join("  "), ...text.map(line)]
    .join("\n")
    .concat("\n");
}

function errorsText(errors: Readonly<Record<string, number>>): string {
  const parts = Object.entries(errors)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${n}`);
  return parts.length === 0 ? "–" : parts.join(", ");
}

function ms(v: number | undefined): string {
  return v === undefined ? "none" : `${Math.round(v)}`;
}

function violationCount(r: ScenarioResult): number {
  return Object.values(r.check.counts).reduce((a, b) => a + (b ?? 0), 0);
}

export function passed(r: ScenarioResult): boolean {
  return r.targetsMissed.length === 0;
}

/** `title`: the suite's name in the summary table's title (the multi-host suite reuses this report). */
export function formatReport(
  results: readonly ScenarioResult[],
  profile: Pick<Profile, "name">,
  seed: number,
  title = "Chaos suite",
): string {
  const out: string[] = [];
  out.push(
    table(
      `${title} (${profile.name} profile, seed ${seed})`,
      [
        "scenario",
        "calls",
        "acks",
        "errors by code",
        "violations",
        "faults",
        "worst recovery ms",
        "manual",
        "log problems",
        "result",
      ],
      results.map((r) => {
        const rec = r.faults.map((f) => f.recoveryMs);
        const worst =
          rec.length === 0 ? "–" : rec.some((x) => x === undefined) ? "none" : ms(Math.max(...(rec as number[])));
        return [
          r.name,
          r.calls,
          r.acks,
          errorsText(r.errorsByCode),
          violationCount(r),
          r.faults.length,
          worst,
          r.manualActions.length,
          r.logProblems.length,
          passed(r) ? "PASS" : "FAIL",
        ];
      }),
    ),
  );
  for (const r of results) {
    out.push(`\n${r.name}: ${r.description}`);
    out.push(
      `  ${(r.durationMs / 1000).toFixed(1)} s, ${r.calls} calls (${r.durationMs > 0 ? (r.calls / (r.durationMs / 1000)).toFixed(0) : 0}/s), ${r.acks} acks (latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms), errors: ${errorsText(r.errorsByCode)}; silo log lines ${r.logLines}; restarts by the supervisor ${r.supervisorRestarts}; exits allowed ${r.allowedExits}`,
    );
    for (const [k, v] of Object.entries(r.extra)) out.push(`  ${k}: ${v}`);
    if (r.faults.length > 0) {
      out.push(
        table(
          `faults of ${r.name}`,
          [
            "#",
            "at s",
            "fault",
            "recovery ms",
            "after restart ms",
            "slowest key: failures meanwhile",
            "detection ms",
            "woken silo",
            "manual action",
          ],
          r.faults.map((f, i) => [
            i + 1,
            (f.at / 1000).toFixed(1),
            f.label,
            ms(f.recoveryMs),
            f.restartedAt === undefined || f.recoveryMs === undefined ? "–" : ms(f.recoveryMs - (f.restartedAt - f.at)),
            f.slowest ?? "–",
            f.detectionMs === undefined ? "–" : ms(f.detectionMs),
            f.zombie ?? "–",
            f.manual ?? "–",
          ]),
        ),
      );
    }
    const counts = Object.entries(r.check.counts);
    if (counts.length > 0) {
      out.push(`  violations: ${counts.map(([k, n]) => `${k} ${n}`).join(", ")}`);
      for (const v of r.check.violations.slice(0, 12)) {
        out.push(`   - [${v.kind}] ${v.key}: ${v.message}`);
      }
      if (r.check.violations.length > 12) out.push(`   … ${r.check.violations.length - 12} more in the JSON report`);
    }
    for (const p of r.logProblems.slice(0, 5)) {
      out.push(`  log [${p.kind}] ${p.slot} (${p.siloId}) at ${(p.at / 1000).toFixed(1)} s: ${p.line}`);
    }
    if (r.logProblems.length > 5) out.push(`  … ${r.logProblems.length - 5} more forbidden log lines`);
    for (const n of r.notes) out.push(`  note: ${n}`);
    if (r.targetsMissed.length > 0) {
      out.push("  TARGETS MISSED:");
      for (const t of r.targetsMissed) out.push(`   ✗ ${t}`);
      out.push(`  silo logs: ${r.logDir}`);
    } else out.push("  all targets met");
  }
  return out.join("\n");
}

/** The JSON report: everything in the tables plus violation details and the histories of the keys involved. */
export async function writeJson(
  path: string,
  results: readonly ScenarioResult[],
  profile: Pick<Profile, "name" | "budgetMs">,
  seed: number,
  wallMs: number,
  suite = "chaos",
): Promise<void> {
  const opText = (o: Op) => describeOp(o);
  const body = {
    suite,
    profile: profile.name,
    seed,
    wallMs: Math.round(wallMs),
    budgetMs: profile.budgetMs,
    when: new Date().toISOString(),
    passed: results.every(passed),
    scenarios: results.map((r) => ({
      name: r.name,
      store: r.store,
      description: r.description,
      durationMs: Math.round(r.durationMs),
      calls: r.calls,
      acks: r.acks,
      latencyMs: r.latencyMs,
      errorsByCode: r.errorsByCode,
      violations: r.check.counts,
      violationDetails: r.check.violations.map((v) => ({
        kind: v.kind,
        key: v.key,
        message: v.message,
        ops: v.ops.map(opText),
      })),
      keys: r.check.keys,
      faults: r.faults,
      manualActions: r.manualActions,
      logProblems: r.logProblems,
      unexpectedExits: r.unexpectedExits,
      allowedExits: r.allowedExits,
      supervisorRestarts: r.supervisorRestarts,
      logLines: r.logLines,
      extra: r.extra,
      notes: r.notes,
      targetsMissed: r.targetsMissed,
      error: r.error,
      history: r.history,
    })),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(body, null, 1)}\n`);
}
