import type { CompileResult } from "./actor.js";
import { appendSentence, SAMPLE_SECTION } from "./sample.js";

/**
 * The benchmark session of the seed application, run the same way against
 * any implementation of the service: the PraaS actor through a reference
 * (in-process or over the WebSocket client) and the stateless S3 baseline.
 * Used by bench/src/suites/latex.ts and by the example's CLI (cli.ts).
 */

/** The service as a client sees it, whatever implements it. */
export interface LatexBackend {
  /** Unique, short: used in column names ("praas-ref", "stateless"). */
  readonly name: string;
  /** "praas" or "stateless": which side of the ratio it is on. */
  readonly kind: "praas" | "stateless";
  putFile(project: string, path: string, bytes: Uint8Array): Promise<unknown>;
  getFile(project: string, path: string): Promise<Uint8Array>;
  compile(project: string): Promise<CompileResult>;
  getPdf(project: string): Promise<Uint8Array>;
  /** Swap the project out (PraaS only): the next call swaps it back in from storage. */
  swapOut?(project: string): Promise<void>;
}

/** The operations of a session, in the order it runs them. */
export const OPERATIONS = [
  "upload project",
  "compile (first)",
  "get-file",
  "compile-no-change",
  "get-pdf",
  "update-file",
  "compile-after-change",
  "swap-in + compile-no-change",
] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface SessionCounts {
  /** get-file calls per session. */
  readonly getFile: number;
  readonly compileNoChange: number;
  readonly getPdf: number;
  /** Edits per session, each followed by a compile (a full rebuild). */
  readonly edits: number;
}

/** Milliseconds per call, per operation. */
export type Samples = Record<Operation, number[]>;

export function emptySamples(): Samples {
  return Object.fromEntries(OPERATIONS.map((op) => [op, [] as number[]])) as unknown as Samples;
}

/** A session did not behave as the service promises (wrong cache flag, not a PDF): its figures would lie. */
export class SessionCheckError extends Error {
  readonly code = "LATEX_SESSION_CHECK";
  constructor(backend: string, what: string) {
    super(`${backend}: ${what}`);
    this.name = "SessionCheckError";
  }
}

/**
 * One session on a fresh project: upload, first compile, get-file ×N,
 * compile with no change and get-pdf ×N (alternated), then edits each followed by a
 * compile; for PraaS also a compile right after a swap-out. Every result is
 * checked (a PDF, cached or not as expected), so a broken cache cannot pass
 * for a fast one. Appends to `into`.
 */
export async function runSession(
  backend: LatexBackend,
  project: string,
  files: ReadonlyMap<string, Uint8Array>,
  counts: SessionCounts,
  into: Samples,
): Promise<void> {
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new SessionCheckError(backend.name, what);
  };
  const isPdf = (b: Uint8Array): boolean => b.byteLength > 4 && Buffer.from(b.subarray(0, 5)).toString() === "%PDF-";
  const time = async <T>(op: Operation, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    into[op].push(performance.now() - t0);
    return out;
  };

  await time("upload project", async () => {
    for (const [path, bytes] of files) await backend.putFile(project, path, bytes);
  });
  const first = await time("compile (first)", () => backend.compile(project));
  check(!first.cached && isPdf(first.pdf), "the first compile must build a PDF");

  const section = files.get(SAMPLE_SECTION);
  check(section !== undefined, `the project has no ${SAMPLE_SECTION}`);
  for (let i = 0; i < counts.getFile; i++) {
    const got = await time("get-file", () => backend.getFile(project, SAMPLE_SECTION));
    if (i === 0) check(got.byteLength === section?.byteLength, "get-file returned other bytes than were stored");
  }
  // Alternated: both move the whole PDF, and whichever came first after the small get-file
  // calls would pay for the transport growing its buffers (measured: ~2× on the first batch).
  for (let i = 0; i < Math.max(counts.compileNoChange, counts.getPdf); i++) {
    if (i < counts.compileNoChange) {
      const r = await time("compile-no-change", () => backend.compile(project));
      check(r.cached && r.pdf.byteLength === first.pdf.byteLength, "compile with no change must return the cached PDF");
    }
    if (i < counts.getPdf) {
      const pdf = await time("get-pdf", () => backend.getPdf(project));
      check(pdf.byteLength === first.pdf.byteLength, "get-pdf must return the last PDF");
    }
  }
  let text = section as Uint8Array;
  for (let e = 1; e <= counts.edits; e++) {
    text = appendSentence(text, e);
    await time("update-file", () => backend.putFile(project, SAMPLE_SECTION, text));
    const r = await time("compile-after-change", () => backend.compile(project));
    check(!r.cached && isPdf(r.pdf), "a compile after an edit must rebuild the PDF");
  }
  if (backend.swapOut !== undefined) {
    await backend.swapOut(project);
    const r = await time("swap-in + compile-no-change", () => backend.compile(project));
    check(r.cached && isPdf(r.pdf), "a swapped-in project must come back with its cached PDF");
  }
}

/** The paper's figures (AWS Lambda vs PraaS on Fargate), for printing beside ours. */
export const PAPER_FIGURES: Partial<Record<Operation, { praas: string; lambda: string; ratio: string }>> = {
  "get-file": { praas: "1.1–1.4 ms", lambda: "35–39 ms", ratio: "26–34×" },
  "compile-no-change": { praas: "144.5 ms", lambda: "274 ms", ratio: "1.9×" },
  "get-pdf": { praas: "5.8 ms", lambda: "74–77 ms", ratio: "≈13×" },
  "compile-after-change": { praas: "4.2 s", lambda: "4.5 s", ratio: "≈1.08×" },
};

export const PAPER_PLATFORM = "AWS Lambda/Fargate (paper), different platform";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** One line of the comparison: medians of every backend for one operation. */
export interface ComparisonRow {
  readonly operation: Operation;
  readonly calls: number;
  /** Median ms per backend name. */
  readonly medianMs: Readonly<Record<string, number>>;
  /** stateless ÷ PraaS, per PraaS backend name (how many times faster PraaS is). */
  readonly ratio: Readonly<Record<string, number>>;
}

/** Medians per operation and backend, and the stateless/PraaS ratio for each PraaS backend. */
export function compare(backends: readonly LatexBackend[], samples: ReadonlyMap<string, Samples>): ComparisonRow[] {
  const stateless = backends.find((b) => b.kind === "stateless");
  return OPERATIONS.map((operation) => {
    const medianMs: Record<string, number> = {};
    const ratio: Record<string, number> = {};
    let calls = 0;
    for (const b of backends) {
      const s = samples.get(b.name)?.[operation] ?? [];
      calls = Math.max(calls, s.length);
      if (s.length > 0) medianMs[b.name] = median(s);
    }
    // After a swap-out the stateless service does what it always does: compare with its plain compile-no-change.
    const baselineOp: Operation = operation === "swap-in + compile-no-change" ? "compile-no-change" : operation;
    const base = stateless === undefined ? undefined : median(samples.get(stateless.name)?.[baselineOp] ?? []);
    for (const b of backends) {
      const own = medianMs[b.name];
      if (b.kind === "praas" && own !== undefined && base !== undefined && !Number.isNaN(base)) {
        ratio[b.name] = base / own;
      }
    }
    return { operation, calls, medianMs, ratio };
  });
}
