/**
 * `npm run bench:report` (node bench/dist/report.js [RESULTS_DIR] [DOC]):
 * turns the JSON the bench runner wrote (bench/results/<suite>.json) into
 * SVG charts in docs/img/ — one per figure of the paper we reproduce — and
 * regenerates the results section of docs/benchmarks.md, between
 * `<!-- results:start -->` and `<!-- results:end -->`. A suite whose JSON is
 * missing keeps the section an earlier report gave it (and a chart without
 * data keeps its earlier picture), so one suite can be rerun and reported
 * alone; everything else in the doc is kept.
 *
 * Suites are read by column names, not by position, so a suite can add
 * columns freely. What a chart needs (see docs/benchmarks.md, "Result
 * format"): a size column named payload/size/state size (values like
 * "1 KiB" or a number of bytes) and latency columns whose name has
 * "p50"/"median" and a unit (ms or µs); series come from a variant column
 * (variant/mode/backend/transport/store/via) and/or the latency column names.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { MachineDescription } from "./machine.js";
import type { Row, Table } from "./suite.js";
import { type ChartSpec, renderChart, type Series } from "./svg-chart.js";
import { columnsOf, formatNumber } from "./table.js";

/** What the runner writes per suite (bench/src/run.ts). */
export interface SuiteRecord {
  readonly suite: string;
  readonly description?: string;
  readonly machine?: MachineDescription;
  readonly durationMs?: number;
  readonly tables: readonly Table[];
  readonly summary?: Record<string, number | string>;
}

export const MARK_START = "<!-- results:start -->";
export const MARK_END = "<!-- results:end -->";
export const PAPER_LABEL = "AWS Lambda/Fargate (paper), different platform";

/** A results file or the doc is not what the report expects: the message says which and why. */
export class ReportError extends Error {
  readonly code = "BENCH_REPORT";
  constructor(message: string) {
    super(message);
    this.name = "ReportError";
  }
}

// ---- the paper's figures (medians from the authors' artifact; ms) ----

const KiB = 1024;
const MiB = 1024 * 1024;
type PaperSeries = { readonly name: string; readonly points: readonly (readonly [number, number])[] };
const PAYLOADS = [10, KiB, 100 * KiB, MiB, 5 * MiB];
const zip = (values: readonly number[], sizes = PAYLOADS): [number, number][] =>
  values.map((v, i) => [sizes[i] as number, v]);

const PAPER = {
  invocation: [
    { name: "Lambda", points: zip([13.76, 12.63, 18.17, 75.59, 369.97]) },
    { name: "PraaS remote", points: zip([0.793, 0.84, 1.588, 12.71, 116.12]) },
    { name: "PraaS local", points: zip([0.073, 0.074, 0.35, 4.19, 21.33]) },
    { name: "raw TCP", points: zip([0.725, 0.742, 1.314, 12.93, 95.81]) },
  ],
  ipc: [
    { name: "PraaS send/recv", points: zip([0.196, 0.242, 0.834, 7.37, 61.36]) },
    { name: "Redis", points: zip([2.89, 1.56, 3.52, 12.14, 113.87]) },
    { name: "S3", points: zip([33.26, 51.6, 71.59, 138.9, 268.6]) },
  ],
  swap: [
    {
      name: "swap-out to S3",
      points: zip([98, 173, 232, 908, 1719, 3480], [MiB, 5 * MiB, 10 * MiB, 50 * MiB, 100 * MiB, 200 * MiB]),
    },
    { name: "swap-out to disk (old prototype)", points: zip([0.16, 1.69, 39], [4 * KiB, MiB, 10 * MiB]) },
  ],
  /** Operation → [PraaS, Lambda]; ranges in the paper are given by their midpoints. */
  latex: {
    "get-file": [1.25, 37],
    "compile-no-change": [144.5, 274],
    "get-pdf": [5.8, 75.5],
    "compile-after-change": [4200, 4500],
  } as Record<string, readonly [number, number]>,
} satisfies Record<string, unknown>;

// ---- reading results ----

/** Every `<suite>.json` in `dir` (not latest.json), by suite name. Unreadable files are reported, not fatal. */
export async function readResults(
  dir: string,
  warn: (m: string) => void = () => {},
): Promise<Map<string, SuiteRecord>> {
  const out = new Map<string, SuiteRecord>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out;
    throw err;
  }
  for (const name of names.sort()) {
    if (!name.endsWith(".json") || name === "latest.json") continue;
    try {
      const record = JSON.parse(await readFile(join(dir, name), "utf8")) as SuiteRecord;
      if (typeof record.suite !== "string" || !Array.isArray(record.tables)) throw new Error("not a suite record");
      out.set(record.suite, record);
    } catch (err) {
      warn(`skipping ${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

// ---- turning tables into series ----

/** "10 B", "1 KiB", "100KB", "5 MiB", 1024 → bytes; undefined when it is not a size. */
export function parseSize(v: number | string | undefined, column = ""): number | undefined {
  if (typeof v === "number") {
    const unit = /MiB|MB/.test(column) ? MiB : /KiB|KB/.test(column) ? KiB : 1;
    return v * unit;
  }
  if (typeof v !== "string") return undefined;
  const m = /^\s*([\d.]+)\s*(B|bytes?|KiB|KB|k|MiB|MB|M|GiB|GB|G)?\s*$/i.exec(v);
  if (m === null) return undefined;
  const unit = (m[2] ?? "B").toLowerCase();
  const mult = unit.startsWith("g") ? 1024 * MiB : unit.startsWith("m") ? MiB : unit.startsWith("k") ? KiB : 1;
  return Number(m[1]) * mult;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= MiB && bytes % (MiB / 4) === 0) return `${formatNumber(bytes / MiB)} MiB`;
  if (bytes >= KiB && bytes % (KiB / 4) === 0) return `${formatNumber(bytes / KiB)} KiB`;
  return `${bytes} B`;
}

const SIZE_COLUMN = /^(payload|size|state size|state|message size|message|bytes)\b/i;
const LABEL_COLUMN = /^(variant|mode|backend|transport|store|via|path|kind|system|series)\b/i;
const MEDIAN_COLUMN = /(p50|median)/i;
const TIME_COLUMN = /(^|[\s(])(ms|µs|us)\b/;
const OTHER_STATISTIC = /\b(p\d+(\.\d+)?|mean|avg|max|min|stddev)\b/i;
const NOT_A_FIGURE = /target|×|ratio|paper|status|aws|reference/i;

/** ms from a latency cell whose column names its unit. */
function toMs(v: unknown, column: string): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v)) return undefined;
  if (/µs|us\b/.test(column)) return v / 1000;
  if (/\bns\b/.test(column)) return v / 1e6;
  if (/\bs\b/.test(column) && !/ms/.test(column)) return v * 1000;
  return v;
}

/** Series name → (bytes → ms), from every table of `record` that has a size column. */
export function sizeSeries(record: SuiteRecord, only?: RegExp): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const table of record.tables) {
    const cols = columnsOf(table.rows);
    const x = cols.find((c) => SIZE_COLUMN.test(c));
    if (x === undefined) continue;
    // Latency columns: the medians when the table names them, else every time column but other statistics.
    const times = cols.filter(
      (c) => TIME_COLUMN.test(c) && !NOT_A_FIGURE.test(c) && (only === undefined || only.test(c)),
    );
    const medians = times.filter((c) => MEDIAN_COLUMN.test(c));
    const ys = medians.length > 0 ? medians : times.filter((c) => !OTHER_STATISTIC.test(c));
    if (ys.length === 0) continue;
    const label =
      cols.find((c) => c !== x && LABEL_COLUMN.test(c)) ??
      cols.find((c) => c !== x && !ys.includes(c) && table.rows.every((r) => typeof r[c] !== "number"));
    for (const row of table.rows) {
      const bytes = parseSize(row[x], x);
      if (bytes === undefined) continue;
      for (const y of ys) {
        const ms = toMs(row[y], y);
        if (ms === undefined) continue;
        const parts: string[] = [];
        if (label !== undefined && row[label] !== undefined) parts.push(String(row[label]));
        if (ys.length > 1 || parts.length === 0)
          parts.push(y.replace(MEDIAN_COLUMN, "").replace(/\(?(ms|µs|us)\)?/, ""));
        const name =
          parts
            .map((p) => p.trim())
            .filter((p) => p !== "")
            .join(" ") || table.title;
        let s = out.get(name);
        if (s === undefined) out.set(name, (s = new Map()));
        s.set(bytes, ms);
      }
    }
  }
  return out;
}

/** A line chart of latency by size: our series from `suites`, the paper's dashed. */
export function sizeChart(
  title: string,
  xLabel: string,
  records: ReadonlyMap<string, SuiteRecord>,
  suites: readonly string[],
  paper: readonly PaperSeries[],
  only?: RegExp,
): ChartSpec | undefined {
  const ours: { name: string; points: Map<number, number> }[] = [];
  const present = suites.filter((s) => records.has(s));
  for (const suite of present) {
    for (const [name, points] of sizeSeries(records.get(suite) as SuiteRecord, only)) {
      ours.push({ name: present.length > 1 ? `${suite}: ${name}` : name, points });
    }
  }
  if (ours.length === 0) return undefined;
  const sizes = new Set<number>();
  for (const s of ours) for (const b of s.points.keys()) sizes.add(b);
  for (const s of paper) for (const [b] of s.points) sizes.add(b);
  const xs = [...sizes].sort((a, b) => a - b);
  const series: Series[] = [
    ...ours.map((s) => ({ name: s.name, style: "ours" as const, values: xs.map((b) => s.points.get(b)) })),
    ...paper.map((s) => {
      const m = new Map(s.points);
      return { name: `paper: ${s.name}`, style: "paper" as const, values: xs.map((b) => m.get(b)) };
    }),
  ];
  return {
    kind: "line",
    title,
    subtitle: `solid: this project (${present.join(", ")}) · dashed: ${PAPER_LABEL}`,
    xLabel,
    yLabel: "median latency, ms",
    categories: xs.map(sizeLabel),
    series,
    logY: true,
  };
}

/** Grouped bars per LaTeX operation: each backend of ours, then the paper's PraaS and Lambda. */
export function latexChart(record: SuiteRecord | undefined): ChartSpec | undefined {
  const table = record?.tables.find((t) => t.rows.some((r) => typeof r.operation === "string"));
  if (table === undefined) return undefined;
  const backends = columnsOf(table.rows)
    .map((c) => /^(.+) p50 ms$/.exec(c)?.[1])
    .filter((b): b is string => b !== undefined);
  const rows = table.rows.filter((r) => backends.some((b) => typeof r[`${b} p50 ms`] === "number"));
  const ops = rows.map((r) => String(r.operation));
  const series: Series[] = backends.map((b) => ({
    name: b,
    style: "ours",
    values: rows.map((r) => (typeof r[`${b} p50 ms`] === "number" ? (r[`${b} p50 ms`] as number) : undefined)),
  }));
  series.push(
    { name: "paper: PraaS", style: "paper", values: ops.map((op) => PAPER.latex[op]?.[0]) },
    { name: "paper: Lambda", style: "paper", values: ops.map((op) => PAPER.latex[op]?.[1]) },
  );
  return {
    kind: "bar",
    title: "LaTeX microservice: PraaS actor vs stateless S3 baseline",
    subtitle: `solid: this project · hatched: ${PAPER_LABEL} (ranges at their midpoint)`,
    xLabel: "operation",
    yLabel: "median latency, ms",
    categories: ops,
    series,
    logY: true,
  };
}

// ---- markdown ----

function cell(v: number | string | undefined): string {
  if (v === undefined) return "";
  return (typeof v === "number" ? formatNumber(v) : v).replace(/\|/g, "\\|");
}

/** A markdown table, padded the way the repository's formatter (biome) writes one, so `biome check` stays clean. */
export function markdownTable(table: Table): string {
  const cols = columnsOf(table.rows);
  const out = [`**${table.title}**`, ""];
  if (cols.length > 0) {
    const right = cols.map((c) => table.rows.every((r: Row) => typeof r[c] !== "string"));
    const heads = cols.map((c) => cell(c));
    const body = table.rows.map((r) => cols.map((c) => cell(r[c])));
    const widths = heads.map((h, i) => Math.max(3, h.length, ...body.map((r) => (r[i] as string).length)));
    const pad = (v: string, i: number): string =>
      right[i] ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number);
    const line = (cells: readonly string[]): string => `| ${cells.map(pad).join(" | ")} |`;
    out.push(line(heads));
    out.push(`| ${widths.map((w, i) => (right[i] ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`);
    for (const r of body) out.push(line(r));
  }
  const notes = table.notes ?? [];
  if (notes.length > 0) out.push("", ...notes.map((n) => `- ${n}`));
  return out.join("\n");
}

export function machineText(m: MachineDescription): string {
  const gib = (m.totalMemoryBytes / 2 ** 30).toFixed(1);
  return `${m.cpuModel}, ${m.cores} cores, ${gib} GiB RAM, ${m.platform}/${m.arch}, Node ${m.nodeVersion} (V8 ${m.v8Version})`;
}

export interface ChartFile {
  readonly file: string;
  readonly title: string;
}

/** What an earlier report wrote in a doc's results block: each suite's section, and the charts it listed. */
export interface EarlierReport {
  /** Suite name → its whole section (`### <suite> — …` up to the next suite), in the doc's order. */
  readonly sections: ReadonlyMap<string, string>;
  readonly charts: readonly ChartFile[];
}

/** The suite sections and chart lines of `doc`'s results block (none when it has no block). */
export function earlierReport(doc: string): EarlierReport {
  const sections = new Map<string, string>();
  const charts: ChartFile[] = [];
  const a = doc.indexOf(MARK_START);
  const b = doc.indexOf(MARK_END);
  if (a < 0 || b < a) return { sections, charts };
  for (const part of doc.slice(a + MARK_START.length, b).split(/^(?=### )/m)) {
    const name = /^### (\S+)/.exec(part)?.[1];
    if (name === undefined) continue;
    if (name === "Charts") {
      for (const m of part.matchAll(/^!\[([^\]\n]*)\]\(([^)\s]+)\)$/gm)) {
        charts.push({ title: m[1] as string, file: m[2] as string });
      }
    } else sections.set(name, part.trimEnd());
  }
  return { sections, charts };
}

/**
 * The generated section: machine, charts, then every suite's tables. A suite
 * in `earlier` but not in `records` keeps its earlier section, as it was.
 */
export function resultsMarkdown(
  records: ReadonlyMap<string, SuiteRecord>,
  charts: readonly ChartFile[],
  earlier: ReadonlyMap<string, string> = new Map(),
): string {
  const out: string[] = [
    "_Generated by `npm run bench:report` from bench/results/*.json; edit outside the markers._",
    "",
  ];
  const list = [...records.values()];
  const kept = [...earlier.keys()].filter((name) => !records.has(name));
  if (list.length === 0 && kept.length === 0) {
    out.push("No results yet: run `npm run bench` (or `npm run bench -- --full`), then `npm run bench:report`.");
    return out.join("\n");
  }
  const machines = new Map<string, string[]>();
  for (const r of list) {
    if (r.machine === undefined) continue;
    const key = machineText(r.machine);
    machines.set(key, [...(machines.get(key) ?? []), r.suite]);
  }
  const dates = list
    .map((r) => r.machine?.date)
    .filter((d): d is string => d !== undefined)
    .sort();
  out.push(`**Machine:** ${[...machines.keys()].join("; ") || "not recorded"}`);
  if (machines.size > 1) {
    out.push("", "Suites ran on different machines:");
    for (const [m, suites] of machines) out.push(`- ${m}: ${suites.join(", ")}`);
  }
  const profiles = [...new Set(list.map((r) => r.machine?.profile).filter((p) => p !== undefined))];
  out.push(
    "",
    `**Runs:** ${dates[0] ?? "?"}${dates.length > 1 && dates.at(-1) !== dates[0] ? ` to ${dates.at(-1)}` : ""} · profile ${profiles.join(", ") || "?"} · suites: ${list.map((r) => r.suite).join(", ")}`,
    "",
    `Reference figures from the paper are ${PAPER_LABEL}: compare ratios, not absolute numbers.`,
  );
  if (kept.length > 0) {
    out.push(
      "",
      `**Kept from an earlier report** (no results file for them in this one; each gives its own run date): ${kept.join(", ")}.`,
    );
  }
  if (charts.length > 0) {
    out.push("", "### Charts", "");
    for (const c of charts) out.push(`![${c.title}](${c.file})`, "");
  }
  // Every suite in name order, fresh or kept, as a report of all of them would list them.
  const fresh = new Map(list.map((r) => [r.suite, r]));
  for (const name of [...new Set([...fresh.keys(), ...kept])].sort()) {
    const r = fresh.get(name);
    if (r === undefined) {
      out.push("", earlier.get(name) as string, "");
      continue;
    }
    out.push("", `### ${r.suite}${r.description === undefined ? "" : ` — ${r.description}`}`, "");
    const meta: string[] = [];
    if (r.machine?.date !== undefined) meta.push(`run ${r.machine.date}`);
    if (r.machine?.profile !== undefined) meta.push(`profile ${r.machine.profile}`);
    if (r.durationMs !== undefined) meta.push(`${(r.durationMs / 1000).toFixed(1)} s`);
    if (r.machine !== undefined) meta.push(`load ${r.machine.loadAverage1m.toFixed(2)} at start`);
    if (meta.length > 0) out.push(`_${meta.join(" · ")}_`, "");
    for (const t of r.tables) out.push(markdownTable(t), "");
    const summary = Object.entries(r.summary ?? {});
    if (summary.length > 0) {
      out.push("Summary:", "");
      for (const [k, v] of summary) out.push(`- ${k}: ${cell(v)}`);
      out.push("");
    }
  }
  return out
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd();
}

/** `doc` with the text between the markers replaced by `section`. */
export function replaceResults(doc: string, section: string, docPath = "the doc"): string {
  const a = doc.indexOf(MARK_START);
  const b = doc.indexOf(MARK_END);
  if (a < 0 || b < 0 || b < a) {
    throw new ReportError(`${docPath} has no "${MARK_START}" … "${MARK_END}" block to fill in`);
  }
  return `${doc.slice(0, a + MARK_START.length)}\n${section}\n${doc.slice(b)}`;
}

// ---- the whole report ----

export interface ReportOutcome {
  readonly suites: readonly string[];
  readonly charts: readonly string[];
}

/** Write the charts next to `docsPath` (in img/) and regenerate its results block. */
export async function writeReport(
  resultsDir: string,
  docsPath: string,
  warn: (m: string) => void = () => {},
): Promise<ReportOutcome> {
  const doc = await readFile(docsPath, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new ReportError(`cannot read ${docsPath}: ${err.message}`);
  });
  const records = await readResults(resultsDir, warn);
  if (records.size === 0) {
    // Nothing new to say: the doc keeps what an earlier report wrote (not "no results yet").
    warn(`no results in ${resultsDir}: ${docsPath} left as it is`);
    return { suites: [], charts: [] };
  }
  const earlier = earlierReport(doc);
  const imgDir = join(dirname(docsPath), "img");
  const specs: { name: string; spec: ChartSpec | undefined }[] = [
    {
      name: "invocation-latency",
      spec: sizeChart(
        "Invocation latency by payload",
        "payload",
        records,
        ["remote-call", "client", "local"],
        PAPER.invocation,
      ),
    },
    {
      name: "ipc",
      spec: sizeChart(
        "Inter-process messages: PraaS vs Redis vs S3 (one way)",
        "message size",
        records,
        ["ipc"],
        PAPER.ipc,
      ),
    },
    {
      name: "swap",
      // Only the swap columns: the suite's raw put/get baselines would double the lines.
      spec: sizeChart("Swap time by state size", "state size", records, ["swap"], PAPER.swap, /swap/i),
    },
    { name: "latex", spec: latexChart(records.get("latex")) },
  ];
  const charts: ChartFile[] = [];
  for (const { name, spec } of specs) {
    if (spec === undefined) {
      // Its picture from an earlier report stays on disk, and in the list.
      const kept = earlier.charts.find((c) => c.file === `img/${name}.svg`);
      if (kept !== undefined) charts.push(kept);
      warn(`no data for the ${name} chart: ${kept !== undefined ? "kept the earlier one" : "skipped"}`);
      continue;
    }
    await mkdir(imgDir, { recursive: true });
    const file = join(imgDir, `${name}.svg`);
    await writeFile(file, renderChart(spec));
    charts.push({ file: relative(dirname(docsPath), file), title: spec.title });
  }
  await writeFile(docsPath, replaceResults(doc, resultsMarkdown(records, charts, earlier.sections), docsPath));
  return { suites: [...records.keys()], charts: charts.map((c) => c.file) };
}

// CLI: only when run directly, not when imported (tests, other tools).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const here = dirname(fileURLToPath(import.meta.url));
  const resultsDir = process.argv[2] ?? join(here, "..", "results");
  const docsPath = process.argv[3] ?? join(here, "..", "..", "docs", "benchmarks.md");
  writeReport(resultsDir, docsPath, (m) => process.stderr.write(`bench:report: ${m}\n`)).then(
    (r) => {
      process.stdout.write(`wrote ${docsPath} (${r.suites.length} suites) and ${r.charts.length} charts\n`);
    },
    (err: unknown) => {
      process.stderr.write(`bench:report: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
