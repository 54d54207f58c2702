import type { ComparisonOptions, ComparisonReport } from "./comparison.js";
import { PAPER_FIGURES, PAPER_PLATFORM } from "./driver.js";

type Counts = Omit<ComparisonOptions, "log">;

/** Seconds, for a quick look (the CLI default and `npm run bench -- latex`). */
export const QUICK_COUNTS: Counts = { rounds: 2, getFile: 30, compileNoChange: 10, getPdf: 10, edits: 1 };
/** A minute or two: enough sessions for stable medians of the multi-second rebuilds. */
export const FULL_COUNTS: Counts = { rounds: 5, getFile: 200, compileNoChange: 30, getPdf: 30, edits: 3 };

export type Cell = number | string;

export interface ComparisonTable {
  readonly title: string;
  readonly rows: readonly Record<string, Cell>[];
  readonly notes: readonly string[];
}

/**
 * The comparison as a table: per operation, the median of each backend, the
 * ratio stateless ÷ PraaS for each PraaS backend, and the paper's figures
 * beside them (marked as a different platform).
 */
export function comparisonTable(report: ComparisonReport): ComparisonTable {
  const praas = report.backends.filter((b) => b.kind === "praas").map((b) => b.name);
  const stateless = report.backends.find((b) => b.kind === "stateless")?.name ?? "stateless";
  const rows = report.rows.map((r) => {
    const row: Record<string, Cell> = { operation: r.operation, calls: r.calls };
    // A missing figure is left out (not "–"), so the column stays numeric and right-aligned.
    for (const b of report.backends) {
      const ms = r.medianMs[b.name];
      if (ms !== undefined) row[`${b.name} p50 ms`] = ms;
    }
    for (const p of praas) {
      const x = r.ratio[p];
      if (x !== undefined) row[`${stateless}/${p} ×`] = x;
    }
    const paper = PAPER_FIGURES[r.operation];
    row["paper PraaS"] = paper?.praas ?? "";
    row["paper Lambda"] = paper?.lambda ?? "";
    row["paper ratio"] = paper?.ratio ?? "";
    return row;
  });
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  return {
    title: "LaTeX microservice: PraaS actor vs stateless S3 baseline (median ms per call)",
    rows,
    notes: [
      `paper columns: ${PAPER_PLATFORM}; they ran Lambda against PraaS on Fargate, we run both here`,
      `project ${kb(report.projectBytes)} in 5 files (main.tex, two sections, refs.bib, a PNG); PDF ${kb(report.pdfBytes)} (paper: 585 KB)`,
      `pdflatex builds: ${report.compilerRuns} (expected ${report.expectedCompilerRuns}: first compile + one per edit per session, warm-up included; every other compile came from a cache)`,
      "swap-in + compile-no-change: PraaS loads the swapped project from S3 and answers from its cache; its ratio is against the stateless compile-no-change",
      ...report.notes,
    ],
  };
}

/** Plain-text rendering for the CLI. */
export function formatComparison(report: ComparisonReport): string {
  const t = comparisonTable(report);
  const columns = [...new Set(t.rows.flatMap((r) => Object.keys(r)))];
  const show = (v: Cell | undefined): string =>
    v === undefined
      ? ""
      : typeof v !== "number"
        ? v
        : Number.isInteger(v) || v >= 100
          ? v.toFixed(0)
          : v >= 10
            ? v.toFixed(1)
            : v >= 0.1
              ? v.toFixed(2)
              : v.toPrecision(2);
  const cells = t.rows.map((r) => columns.map((c) => show(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (parts: string[]): string =>
    parts
      .map((p, i) => p.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd();
  return [
    t.title,
    line(columns),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map(line),
    ...t.notes.map((n) => `  · ${n}`),
  ].join("\n");
}
