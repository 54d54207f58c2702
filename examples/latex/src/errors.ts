import { PraasError, registerErrorClass } from "@praas/core";

/**
 * Errors of the LaTeX service. Each carries a stable `code`; whatever the
 * caller needs (the LaTeX log above all) goes into `data` as plain data,
 * because an error crossing an actor call is serialized to
 * { name, message, code, data } and rebuilt on the caller's side: a field
 * of its own would not survive the trip.
 */

/** What a failed or timed-out compile reports. */
export interface CompileFailure {
  /** The LaTeX log (pdflatex's `.log`, plus bibtex's `.blg` when bibtex failed); its tail if it was huge. */
  readonly log: string;
  /** The pass that failed: "pdflatex" or "bibtex". */
  readonly tool: string;
  /** The tool's exit code, or null when it was killed. */
  readonly exitCode: number | null;
  /** The first LaTeX error line ("! Undefined control sequence."), when the log has one. */
  readonly error?: string;
  /** The source line the error points at ("l.12 \\foo"), when the log has one. */
  readonly line?: string;
}

/** pdflatex (or bibtex) stopped with an error; `data.log` is the LaTeX log. */
export class LatexCompileError extends PraasError {
  declare readonly data: CompileFailure;
  constructor(failure: CompileFailure) {
    const where = failure.line === undefined ? "" : ` at ${failure.line}`;
    const what = failure.error ?? `${failure.tool} exited with code ${String(failure.exitCode)}`;
    super("LATEX_COMPILE_FAILED", `LaTeX compile failed: ${what}${where} (see error.data.log)`, { data: failure });
  }
}

/** The compile ran past its time limit and was killed; `data.log` is what the log held by then. */
export class LatexTimeoutError extends PraasError {
  declare readonly data: CompileFailure & { readonly timeoutMs: number };
  constructor(timeoutMs: number, failure: CompileFailure) {
    super("LATEX_TIMEOUT", `LaTeX compile killed after its ${timeoutMs} ms time limit (a loop in the document?)`, {
      data: { ...failure, timeoutMs },
    });
  }
}

/** The TeX binaries are not installed on this machine. */
export class LatexNotInstalledError extends PraasError {
  constructor(binary: string) {
    super(
      "LATEX_NOT_INSTALLED",
      `"${binary}" was not found: install TeX with \`apt-get install texlive-latex-base\` ` +
        "(or point the compiler's pdflatex/bibtex options at the binaries)",
    );
  }
}

/** The project has no file at the given path. */
export class FileNotFoundError extends PraasError {
  constructor(project: string, path: string) {
    super("LATEX_FILE_NOT_FOUND", `Project "${project}" has no file "${path}"`, { data: { project, path } });
  }
}

/** getPdf() before any successful compile. */
export class NoPdfError extends PraasError {
  constructor(project: string) {
    super("LATEX_NO_PDF", `Project "${project}" has no PDF yet: call compile() first`, { data: { project } });
  }
}

// Rebuild these as themselves on the caller's side of an actor call, so that
// `err instanceof LatexCompileError` holds there too (otherwise a caller sees
// an ActorError with the same code and data).
registerErrorClass("LATEX_COMPILE_FAILED", LatexCompileError);
registerErrorClass("LATEX_TIMEOUT", LatexTimeoutError);
registerErrorClass("LATEX_NOT_INSTALLED", LatexNotInstalledError);
registerErrorClass("LATEX_FILE_NOT_FOUND", FileNotFoundError);
registerErrorClass("LATEX_NO_PDF", NoPdfError);
