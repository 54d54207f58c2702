/** The bench report keeps what it has no new results for: one suite can be rerun and reported alone. */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { MachineDescription } from "../../bench/src/machine.js";
import {
  earlierReport,
  MARK_END,
  MARK_START,
  resultsMarkdown,
  type SuiteRecord,
  writeReport,
} from "../../bench/src/report.js";

const machine: MachineDescription = {
  cpuModel: "Test CPU",
  cores: 2,
  nodeVersion: "v20.0.0",
  v8Version: "11.3",
  platform: "linux",
  arch: "x64",
  totalMemoryBytes: 2 ** 33,
  loadAverage1m: 0.5,
  gcExposed: true,
  date: "2026-11-30T00:00:00.000Z",
  profile: "quick",
};

function record(suite: string, value: number): SuiteRecord {
  return {
    suite,
    description: `the ${suite} suite`,
    machine,
    tables: [{ title: `${suite} table`, rows: [{ variant: "x", "p50 ms": value }] }],
    summary: { figure: value },
  };
}

function docWith(block: string): string {
  return `# Benchmarks\n\nIntro.\n\n${MARK_START}\n${block}\n${MARK_END}\n\nOutro.\n`;
}

const EARLIER = docWith(
  [
    "_Generated…_",
    "",
    "### Charts",
    "",
    "![Swap time by state size](img/swap.svg)",
    "",
    "![Other chart](img/other.svg)",
    "",
    "### alpha — the alpha suite",
    "",
    "_run 2026-11-01_",
    "",
    "| a | b |",
    "| - | - |",
    "| 1 | 2 |",
    "",
    "### beta — the beta suite",
    "",
    "old beta figures",
    "",
    "### gamma — the gamma suite",
    "",
    "gamma, kept",
  ].join("\n"),
);

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("bench report", () => {
  it("reads an earlier report's suite sections and chart lines", () => {
    const earlier = earlierReport(EARLIER);
    expect([...earlier.sections.keys()]).toEqual(["alpha", "beta", "gamma"]);
    expect(earlier.sections.get("alpha")).toBe(
      "### alpha — the alpha suite\n\n_run 2026-11-01_\n\n| a | b |\n| - | - |\n| 1 | 2 |",
    );
    expect(earlier.charts).toEqual([
      { title: "Swap time by state size", file: "img/swap.svg" },
      { title: "Other chart", file: "img/other.svg" },
    ]);
    expect(earlierReport("# no block here").sections.size).toBe(0);
  });

  it("replaces the sections it has results for and keeps the others as they were, in name order", () => {
    const md = resultsMarkdown(new Map([["beta", record("beta", 42)]]), [], earlierReport(EARLIER).sections);
    const order = [...md.matchAll(/^### (\S+)/gm)].map((m) => m[1]);
    expect(order).toEqual(["alpha", "beta", "gamma"]);
    expect(md).toContain("| 1 | 2 |");
    expect(md).toContain("gamma, kept");
    expect(md).not.toContain("old beta figures");
    expect(md).toContain("- figure: 42");
    expect(md).toContain(
      "**Kept from an earlier report** (no results file for them in this one; each gives its own run date): alpha, gamma.",
    );
  });

  it("rewrites only the block; with no results at all it leaves the doc as it is", async () => {
    const dir = await mkdtemp(join(tmpdir(), "praas-report-"));
    dirs.push(dir);
    const doc = join(dir, "benchmarks.md");
    const results = join(dir, "results");
    await writeFile(doc, EARLIER);
    expect((await writeReport(join(dir, "none"), doc)).suites).toEqual([]);
    expect(await readFile(doc, "utf8")).toBe(EARLIER);

    await mkdir(results);
    await writeFile(join(results, "beta.json"), JSON.stringify(record("beta", 7)));
    const outcome = await writeReport(results, doc);
    expect(outcome.suites).toEqual(["beta"]);
    // No data for any chart: the earlier pictures stay listed (their files are left alone).
    expect(outcome.charts).toEqual(["img/swap.svg"]);
    const written = await readFile(doc, "utf8");
    expect(written.startsWith("# Benchmarks\n\nIntro.\n\n")).toBe(true);
    expect(written.endsWith(`${MARK_END}\n\nOutro.\n`)).toBe(true);
    expect(written).toContain("![Swap time by state size](img/swap.svg)");
    expect(written).toContain("gamma, kept");
    expect(written).toContain("- figure: 7");
  });
});
