import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { InvalidArgumentError } from "@praas/core";
import { type CompileFailure, LatexCompileError, LatexTimeoutError } from "./errors.js";
import { firstError, readLogTail, wantsRerun } from "./latex-log.js";
import { validatePath } from "./paths.js";
import { runTool, type ToolRun } from "./run-tool.js";

/** What a successful compile produces. */
export interface CompileOutput {
  readonly pdf: Uint8Array;
  /** pdflatex's log of the last pass. */
  readonly log: string;
  /** pdflatex passes run (1 to 3). */
  readonly passes: number;
  /** Whether bibtex ran (the document has a \bibliography). */
  readonly bibtex: boolean;
}

/**
 * Turns a project's files into a PDF. The actor and the stateless baseline
 * take one as a parameter, so tests can wrap the real compiler and count how
 * often it runs.
 */
export interface LatexCompiler {
  /** Compile `main` (a path among `files`). Throws LatexCompileError / LatexTimeoutError. */
  compile(files: ReadonlyMap<string, Uint8Array>, main: string): Promise<CompileOutput>;
}

export interface PdflatexCompilerOptions {
  /** Time limit of a whole compile, all passes together (default 60 s). */
  readonly timeoutMs?: number;
  /** pdflatex binary (default `$PDFLATEX` or "pdflatex" on the PATH). */
  readonly pdflatex?: string;
  /** bibtex binary (default `$BIBTEX` or "bibtex" on the PATH). */
  readonly bibtex?: string;
  /** Parent of the per-compile build folders (default: the OS temp folder). */
  readonly tmpDir?: string;
}

/** At most this many pdflatex passes (1, or bibtex and two more, or reruns for references). */
const MAX_PASSES = 3;

/**
 * The real thing: pdflatex (plus bibtex when the document has a
 * bibliography) in a fresh temporary folder per compile, removed afterwards.
 *
 * Documents are untrusted input, so: no shell escape, kpathsea's paranoid
 * modes (`openin_any=p`, `openout_any=p`: no reading or writing outside the
 * build folder, e.g. `\input{/etc/passwd}`), stdin closed, and a time limit
 * after which the whole process group is killed (`\def\x{\x}\x` loops forever).
 */
export class PdflatexCompiler implements LatexCompiler {
  readonly timeoutMs: number;
  readonly #pdflatex: string;
  readonly #bibtex: string;
  readonly #tmpDir: string;
  /** Compiles that ran pdflatex (successful or not). */
  runs = 0;

  constructor(options: PdflatexCompilerOptions = {}) {
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!(typeof timeoutMs === "number" && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
      throw new InvalidArgumentError(`timeoutMs must be a positive number of ms, got ${String(timeoutMs)}`);
    }
    this.timeoutMs = timeoutMs;
    this.#pdflatex = options.pdflatex ?? process.env.PDFLATEX ?? "pdflatex";
    this.#bibtex = options.bibtex ?? process.env.BIBTEX ?? "bibtex";
    this.#tmpDir = options.tmpDir ?? tmpdir();
  }

  async compile(files: ReadonlyMap<string, Uint8Array>, main: string): Promise<CompileOutput> {
    validatePath(main);
    if (!main.endsWith(".tex")) throw new InvalidArgumentError(`The main file must be a .tex file, got "${main}"`);
    if (!files.has(main)) throw new InvalidArgumentError(`The main file "${main}" is not in the project`);
    const deadline = performance.now() + this.timeoutMs;
    const dir = await mkdtemp(join(this.#tmpDir, "praas-latex-"));
    this.runs++;
    try {
      const job = basename(main, ".tex");
      await writeProject(dir, files, `${job}.pdf`);
      return await this.#build(dir, main, job, deadline);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #build(dir: string, main: string, job: string, deadline: number): Promise<CompileOutput> {
    const env = {
      ...process.env,
      openin_any: "p",
      openout_any: "p",
      shell_escape: "f",
      // One log line per message instead of lines wrapped at 79 columns: easier to read and to parse.
      max_print_line: "10000",
    };
    const args = ["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", main];
    const latex = async (): Promise<string> => {
      const run = await runTool(this.#pdflatex, args, dir, env, deadline);
      const log = (await readLogTail(join(dir, `${job}.log`))) ?? run.output;
      this.#check("pdflatex", run, log);
      return log;
    };
    let log = await latex();
    let passes = 1;
    const aux = (await readLogTail(join(dir, `${job}.aux`))) ?? "";
    const bibtex = aux.includes("\\bibdata{");
    if (bibtex) {
      const run = await runTool(this.#bibtex, [job], dir, env, deadline);
      // bibtex exits 1 for warnings (an unused entry): only 2 and up are errors.
      if (run.timedOut || run.exitCode === null || run.exitCode >= 2) {
        const blg = (await readLogTail(join(dir, `${job}.blg`))) ?? run.output;
        this.#check("bibtex", { ...run, exitCode: run.exitCode ?? 2 }, blg, true);
      }
      log = await latex();
      passes++;
    }
    // After bibtex one more pass resolves the citations; otherwise rerun only when LaTeX asks.
    while ((bibtex || wantsRerun(log)) && passes < MAX_PASSES) {
      log = await latex();
      passes++;
    }
    let pdf: Buffer;
    try {
      pdf = await readFile(join(dir, `${job}.pdf`));
    } catch {
      throw new LatexCompileError({ log, tool: "pdflatex", exitCode: 0, error: "pdflatex produced no PDF" });
    }
    return { pdf: new Uint8Array(pdf.buffer, pdf.byteOffset, pdf.byteLength), log, passes, bibtex };
  }

  /** Throw the typed error a failed pass deserves. */
  #check(tool: string, run: ToolRun, log: string, failed = false): void {
    const base: CompileFailure = { log, tool, exitCode: run.exitCode, ...firstError(log) };
    if (run.timedOut) throw new LatexTimeoutError(this.timeoutMs, base);
    if (failed || run.exitCode !== 0) throw new LatexCompileError(base);
  }
}

/**
 * Write the files into the build folder. A file named like the output PDF is
 * left out: pdflatex would overwrite it, and if pdflatex failed before
 * writing, we would mistake the upload for its output.
 */
async function writeProject(dir: string, files: ReadonlyMap<string, Uint8Array>, output: string): Promise<void> {
  const folders = new Set<string>();
  // Paths were checked on the way in; checked again because a stateless caller reads them from storage.
  for (const path of files.keys()) folders.add(dirname(validatePath(path)));
  for (const f of folders) if (f !== ".") await mkdir(join(dir, f), { recursive: true });
  await Promise.all(
    [...files].filter(([path]) => path !== output).map(([path, bytes]) => writeFile(join(dir, path), bytes)),
  );
}
