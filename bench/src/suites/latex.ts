/**
 * `latex`: the seed application. The same session (upload a small paper,
 * get-file ×N, compile with no change, get the PDF, edit + recompile, and for
 * PraaS a compile right after a swap-out) against the LatexProject actor and
 * against the stateless FaaS-style baseline that keeps everything in S3, both
 * on a local S3 server and the real pdflatex. Reports medians and the ratio
 * stateless ÷ PraaS beside the paper's figures (a different platform).
 */
import { comparisonTable, FULL_COUNTS, QUICK_COUNTS, runComparison } from "@praas/example-latex/bench";
import type { BenchContext, Suite, SuiteResult } from "../suite.js";

export const latex: Suite = {
  name: "latex",
  description:
    "LaTeX microservice: PraaS actor vs stateless S3 baseline (paper: get-file 26–34×, compile-no-change 1.9×)",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const counts = ctx.profile === "full" ? FULL_COUNTS : QUICK_COUNTS;
    const report = await runComparison({ ...counts, log: ctx.log });
    const table = comparisonTable(report);
    const summary: Record<string, number | string> = {
      pdfBytes: report.pdfBytes,
      pdflatexBuilds: report.compilerRuns,
      expectedBuilds: report.expectedCompilerRuns,
    };
    for (const row of report.rows) {
      for (const [backend, r] of Object.entries(row.ratio)) summary[`${row.operation} stateless/${backend} ×`] = r;
    }
    return { tables: [table], summary };
  },
};
