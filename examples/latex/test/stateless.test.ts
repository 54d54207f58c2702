import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  appendSentence,
  LatexCompileError,
  loadSampleProject,
  PdflatexCompiler,
  SAMPLE_SECTION,
  StatelessLatexService,
} from "@praas/example-latex";
import { s3ClientConfig } from "@praas/testing";
import { freshBucket, s3Server } from "@praas/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKEN, bytes, HELLO, isPdf } from "./helpers.js";

const compiler = new PdflatexCompiler();
let s3: S3Client;
let bucket: string;

/** A new service object per call: like a cold Lambda instance, it knows nothing but what S3 holds. */
function lambda(): StatelessLatexService {
  return new StatelessLatexService({ s3, bucket, compiler });
}

beforeAll(async () => {
  s3 = new S3Client(s3ClientConfig(s3Server()));
  bucket = await freshBucket("latex-stateless");
});
afterAll(() => {
  s3?.destroy();
});

describe("StatelessLatexService (FaaS-style baseline on S3)", () => {
  it("builds a valid PDF from the sample project", async () => {
    const files = await loadSampleProject();
    for (const [path, content] of files) await lambda().putFile("sample", path, content);
    expect((await lambda().listFiles("sample")).map((f) => f.path)).toEqual([...files.keys()].sort());
    expect(await lambda().getFile("sample", "refs.bib")).toEqual(files.get("refs.bib"));
    const out = await lambda().compile("sample");
    expect(out.cached).toBe(false);
    expect(isPdf(out.pdf)).toBe(true);
    expect(await lambda().getPdf("sample")).toEqual(out.pdf);
  });

  it("answers a compile with no change from the PDF cached in S3, without running pdflatex", async () => {
    await lambda().putFile("cache", "main.tex", bytes(HELLO));
    const first = await lambda().compile("cache");
    const runs = compiler.runs;
    const again = await lambda().compile("cache");
    expect(again.cached).toBe(true);
    expect(again.pdf).toEqual(first.pdf);
    expect(again.log).toBe(first.log);
    expect(compiler.runs).toBe(runs);
  });

  it("rebuilds after an edit, and only once", async () => {
    const files = await loadSampleProject();
    for (const [path, content] of files) await lambda().putFile("edit", path, content);
    const before = await lambda().compile("edit");
    const runs = compiler.runs;
    const put = await lambda().putFile("edit", SAMPLE_SECTION, appendSentence(files.get(SAMPLE_SECTION)!, 1));
    expect(put.changed).toBe(true);
    const after = await lambda().compile("edit");
    expect(after.cached).toBe(false);
    expect(after.revision).toBe(put.revision);
    expect(after.pdf).not.toEqual(before.pdf);
    expect(compiler.runs).toBe(runs + 1);
    expect((await lambda().compile("edit")).cached).toBe(true);
    expect(compiler.runs).toBe(runs + 1);
  });

  it("returns a LaTeX error as a typed error carrying the log", async () => {
    await lambda().putFile("broken", "main.tex", bytes(BROKEN));
    const err = await lambda()
      .compile("broken")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatexCompileError);
    expect((err as LatexCompileError).code).toBe("LATEX_COMPILE_FAILED");
    expect((err as LatexCompileError).data.log).toContain("! Undefined control sequence.");
    await expect(lambda().getPdf("broken")).rejects.toMatchObject({ code: "LATEX_NO_PDF" });
  });

  it("keeps every file when edits race (conditional manifest writes, retried)", async () => {
    const paths = ["a.tex", "b.tex", "c.tex", "d.tex", "e.tex"];
    await Promise.all(paths.map((p) => lambda().putFile("race", p, bytes(`% ${p}\n`))));
    expect((await lambda().listFiles("race")).map((f) => f.path)).toEqual(paths);
  });

  it("refuses bad input and unreadable storage with typed errors", async () => {
    const svc = lambda();
    await expect(svc.putFile("input", "../x.tex", bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(svc.putFile("../other", "x.tex", bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(svc.getFile("input", "missing.tex")).rejects.toMatchObject({ code: "LATEX_FILE_NOT_FOUND" });
    await expect(svc.compile("input")).rejects.toMatchObject({ code: "LATEX_FILE_NOT_FOUND" });
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "latex/corrupt/manifest.json", Body: "{nope" }));
    await expect(svc.listFiles("corrupt")).rejects.toMatchObject({ code: "CORRUPT_STATE" });
  });
});
