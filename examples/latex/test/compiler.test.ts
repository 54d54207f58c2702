import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LatexCompileError,
  LatexNotInstalledError,
  LatexTimeoutError,
  loadSampleProject,
  PdflatexCompiler,
} from "@praas/example-latex";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKEN, HELLO, isPdf, project } from "./helpers.js";

let scratch: string;
let compiler: PdflatexCompiler;

beforeAll(async () => {
  // Build folders go here, so each test can check that nothing is left behind.
  scratch = await mkdtemp(join(tmpdir(), "latex-compiler-test-"));
  compiler = new PdflatexCompiler({ tmpDir: scratch });
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function leftovers(): Promise<string[]> {
  return readdir(scratch);
}

describe("PdflatexCompiler", () => {
  it("builds the sample project (sections, image, bibtex) into a PDF and cleans up", async () => {
    const out = await compiler.compile(await loadSampleProject(), "main.tex");
    expect(isPdf(out.pdf)).toBe(true);
    expect(out.bibtex).toBe(true);
    expect(out.passes).toBe(3);
    // The citations were resolved: no "undefined" warning left in the last pass.
    expect(out.log).not.toMatch(/Citation .* undefined/);
    expect(out.log).toContain("Output written on main.pdf");
    expect(await leftovers()).toEqual([]);
  });

  it("runs one pass for a document without references", async () => {
    const out = await compiler.compile(project({ "main.tex": HELLO }), "main.tex");
    expect(isPdf(out.pdf)).toBe(true);
    expect(out.passes).toBe(1);
    expect(out.bibtex).toBe(false);
  });

  it("reports a LaTeX error as LatexCompileError carrying the log, the error and its line", async () => {
    const err = await compiler.compile(project({ "main.tex": BROKEN }), "main.tex").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexCompileError);
    const e = err as LatexCompileError;
    expect(e.code).toBe("LATEX_COMPILE_FAILED");
    expect(e.data.tool).toBe("pdflatex");
    expect(e.data.error).toBe("! Undefined control sequence.");
    expect(e.data.line).toMatch(/^l\.3 \\thiscommanddoesnotexist/);
    expect(e.data.log).toContain("This is pdfTeX");
    expect(e.message).toContain("Undefined control sequence");
    expect(await leftovers()).toEqual([]);
  });

  it("kills a compile that runs past its time limit (process group) and says so", async () => {
    const quick = new PdflatexCompiler({ tmpDir: scratch, timeoutMs: 1500 });
    const looping = "\\documentclass{article}\n\\begin{document}\n\\def\\x{\\x}\\x\n\\end{document}\n";
    const err = await quick.compile(project({ "main.tex": looping }), "main.tex").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexTimeoutError);
    expect((err as LatexTimeoutError).code).toBe("LATEX_TIMEOUT");
    expect((err as LatexTimeoutError).data.timeoutMs).toBe(1500);
    expect(await leftovers()).toEqual([]);
  });

  it("does not let a document read files outside its build folder", async () => {
    const evil = "\\documentclass{article}\n\\begin{document}\n\\input{/etc/hostname}\n\\end{document}\n";
    const err = await compiler.compile(project({ "main.tex": evil }), "main.tex").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexCompileError);
    expect((err as LatexCompileError).data.error).toContain("not found");
  });

  it("never takes an uploaded file for its output when pdflatex fails", async () => {
    const files = project({ "main.tex": BROKEN, "main.pdf": "%PDF-1.4 an upload, not a build" });
    await expect(compiler.compile(files, "main.tex")).rejects.toMatchObject({ code: "LATEX_COMPILE_FAILED" });
  });

  it("reports bibtex errors with bibtex's log", async () => {
    const files = project({
      "main.tex":
        "\\documentclass{article}\n\\begin{document}\n\\cite{a}\n\\bibliographystyle{nosuchstyle}\n\\bibliography{refs}\n\\end{document}\n",
      "refs.bib": "@misc{a, title={A}}\n",
    });
    const err = await compiler.compile(files, "main.tex").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexCompileError);
    expect((err as LatexCompileError).data.tool).toBe("bibtex");
    expect((err as LatexCompileError).data.log).toContain("nosuchstyle");
  });

  it("names the missing binary with a typed error", async () => {
    const none = new PdflatexCompiler({ tmpDir: scratch, pdflatex: "/nonexistent/pdflatex" });
    const err = await none.compile(project({ "main.tex": HELLO }), "main.tex").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexNotInstalledError);
    expect((err as LatexNotInstalledError).code).toBe("LATEX_NOT_INSTALLED");
    expect(await leftovers()).toEqual([]);
  });

  it("rejects a main file that is not in the project, or not .tex, or a bad time limit", async () => {
    await expect(compiler.compile(project({ "a.tex": HELLO }), "main.tex")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(compiler.compile(project({ "main.txt": HELLO }), "main.txt")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    expect(() => new PdflatexCompiler({ timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});
