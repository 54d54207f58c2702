/**
 * The contract between the bench runner (run.ts) and a suite (suites/NAME.ts).
 * A suite measures something AND its baseline in the same run, and reports
 * rows; the runner prints them as a table and writes JSON to bench/results/.
 */
export type Profile = "quick" | "full";

export interface BenchContext {
  /** "quick" (default for `npm run bench`): small counts, finishes in seconds. "full": `--full`. */
  readonly profile: Profile;
  /** Print a progress line (goes to stderr, not into the table). */
  log(message: string): void;
}

/** One measured row; values are numbers (times in ms or µs as the column name says) or strings. */
export type Row = Record<string, number | string>;

export interface Table {
  readonly title: string;
  readonly rows: readonly Row[];
  /** Free text under the table: targets, reference figures, caveats. */
  readonly notes?: readonly string[];
}

export interface SuiteResult {
  readonly tables: readonly Table[];
  /** Named headline numbers (e.g. "pipelinedCallsPerSec") for docs and charts. */
  readonly summary?: Record<string, number | string>;
}

export interface Suite {
  /** Name used on the command line: `npm run bench -- NAME`. */
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<SuiteResult>;
}
