import { comparisonTable, OPERATIONS, runComparison } from "@praas/example-latex/bench";
import { describe, expect, it } from "vitest";

describe("benchmark driver", () => {
  it("runs the same checked session against the actor (ref and WebSocket client) and the stateless baseline", async () => {
    const report = await runComparison({ rounds: 1, getFile: 3, compileNoChange: 2, getPdf: 2, edits: 1 });
    expect(report.backends.map((b) => b.name)).toEqual(["praas-ref", "praas-client", "stateless"]);
    // The caches held: one build per session for the first compile and one per edit, no more.
    expect(report.compilerRuns).toBe(report.expectedCompilerRuns);
    // 3 backends × (1 timed session × (first compile + 1 edit) + 1 warm-up session × first compile).
    expect(report.expectedCompilerRuns).toBe(9);
    expect(report.rows.map((r) => r.operation)).toEqual([...OPERATIONS]);
    const getFile = report.rows.find((r) => r.operation === "get-file");
    expect(getFile?.calls).toBe(3);
    expect(getFile?.medianMs["praas-ref"]).toBeGreaterThan(0);
    expect(getFile?.medianMs.stateless).toBeGreaterThan(0);
    expect(getFile?.medianMs["praas-client"]).toBeGreaterThan(0);
    expect(getFile?.ratio["praas-ref"]).toBeGreaterThan(0);
    expect(getFile?.ratio["praas-client"]).toBeGreaterThan(0);
    // Swapping is PraaS-only; its ratio is against the stateless compile-no-change.
    const swap = report.rows.find((r) => r.operation === "swap-in + compile-no-change");
    expect(swap?.medianMs.stateless).toBeUndefined();
    expect(swap?.ratio["praas-ref"]).toBeGreaterThan(0);
    expect(report.pdfBytes).toBeGreaterThan(100_000);
    const table = comparisonTable(report);
    expect(table.rows[0]).toMatchObject({ operation: "upload project" });
    expect(table.rows.find((r) => r.operation === "get-file")).toMatchObject({ "paper ratio": "26–34×" });
  });
});
