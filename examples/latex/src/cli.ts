/**
 * `npm run session -w @praas/example-latex [-- --full]`: the benchmark
 * session of the LaTeX service, PraaS actor vs stateless S3 baseline, on a
 * local S3 server. The same run is `npm run bench -- latex` in the bench runner
 * (which also writes JSON for the charts); this entry needs nothing but the
 * example.
 */
import { runComparison } from "./comparison.js";
import { FULL_COUNTS, formatComparison, QUICK_COUNTS } from "./report-text.js";

const full = process.argv.includes("--full");
const counts = full ? FULL_COUNTS : QUICK_COUNTS;
const report = await runComparison({ ...counts, log: (m) => process.stderr.write(`  ${m}\n`) });
process.stdout.write(`${formatComparison(report)}\n`);
