import { S3Client } from "@aws-sdk/client-s3";
import {
  appendSentence,
  LatexCompileError,
  LatexProject,
  loadSampleProject,
  PdflatexCompiler,
  SAMPLE_SECTION,
} from "@praas/example-latex";
import { Silo } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { s3ClientConfig } from "@praas/testing";
import { freshBucket, s3Server } from "@praas/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BROKEN, bytes, HELLO, isPdf } from "./helpers.js";

// The real compiler: its run counter is how the tests see whether pdflatex ran.
const compiler = new PdflatexCompiler();
const Project = LatexProject.withCompiler(compiler);
let s3: S3Client;
let bucket: string;
let silo: Silo;

async function startSilo(): Promise<Silo> {
  return Silo.start({ actors: [Project], storage: new S3StateStore({ client: s3, bucket }) });
}

beforeAll(async () => {
  s3 = new S3Client(s3ClientConfig(s3Server()));
  bucket = await freshBucket("latex-actor");
  silo = await startSilo();
});
afterAll(async () => {
  await silo?.stop();
  s3?.destroy();
});

async function upload(key: string): Promise<Map<string, Uint8Array>> {
  const files = await loadSampleProject();
  const ref = silo.ref(Project, key);
  for (const [path, content] of files) await ref.putFile(path, content);
  return files;
}

describe("LatexProject actor", () => {
  it("stores files and builds a valid PDF from the sample project", async () => {
    const files = await upload("sample");
    const ref = silo.ref(Project, "sample");
    expect((await ref.listFiles()).map((f) => f.path)).toEqual([...files.keys()].sort());
    expect(await ref.getFile("refs.bib")).toEqual(files.get("refs.bib"));
    const out = await ref.compile();
    expect(out.cached).toBe(false);
    expect(isPdf(out.pdf)).toBe(true);
    expect(out.log).toContain("Output written on main.pdf");
    expect(await ref.getPdf()).toEqual(out.pdf);
  });

  it("answers a compile with no change from the cache, without running pdflatex", async () => {
    const ref = silo.ref(Project, "cache");
    await ref.putFile("main.tex", bytes(HELLO));
    const first = await ref.compile();
    const runs = compiler.runs;
    const again = await ref.compile();
    const third = await ref.compile();
    expect(compiler.runs).toBe(runs);
    expect(again.cached && third.cached).toBe(true);
    expect(again.pdf).toEqual(first.pdf);
    expect(again.log).toBe(first.log);
    // Re-uploading identical bytes is not a change either.
    expect((await ref.putFile("main.tex", bytes(HELLO))).changed).toBe(false);
    expect((await ref.compile()).cached).toBe(true);
    expect(compiler.runs).toBe(runs);
  });

  it("rebuilds after an edit, and only once", async () => {
    await upload("edit");
    const ref = silo.ref(Project, "edit");
    const before = await ref.compile();
    const runs = compiler.runs;
    const section = await ref.getFile(SAMPLE_SECTION);
    const put = await ref.putFile(SAMPLE_SECTION, appendSentence(section, 1));
    expect(put.changed).toBe(true);
    expect((await ref.status()).upToDate).toBe(false);
    const after = await ref.compile();
    expect(after.cached).toBe(false);
    expect(compiler.runs).toBe(runs + 1);
    expect(after.revision).toBe(put.revision);
    expect(after.pdf).not.toEqual(before.pdf);
    expect((await ref.compile()).cached).toBe(true);
    expect(compiler.runs).toBe(runs + 1);
    // Deleting a file is a change too.
    expect(await ref.deleteFile("sections/results.tex")).toBe(true);
    expect((await ref.status()).upToDate).toBe(false);
  });

  it("returns a LaTeX error to the caller as a typed error carrying the log, and keeps the last PDF", async () => {
    const ref = silo.ref(Project, "broken");
    await ref.putFile("main.tex", bytes(HELLO));
    const good = await ref.compile();
    await ref.putFile("main.tex", bytes(BROKEN));
    const err = await ref.compile().catch((e: unknown) => e);
    // The error crossed the actor boundary (serialized, rebuilt): class, code and log survive.
    expect(err).toBeInstanceOf(LatexCompileError);
    const e = err as LatexCompileError;
    expect(e.code).toBe("LATEX_COMPILE_FAILED");
    expect(e.data.log).toContain("! Undefined control sequence.");
    expect(e.data.line).toMatch(/^l\.3/);
    expect(await ref.getPdf()).toEqual(good.pdf);
    expect((await ref.status()).upToDate).toBe(false);
  });

  it("survives swap-out and swap-in with its files and its cached PDF", async () => {
    const files = await upload("swap");
    const ref = silo.ref(Project, "swap");
    const built = await ref.compile();
    const runs = compiler.runs;
    await silo.deactivate(ref);
    expect(silo.isActive(ref)).toBe(false);
    // Swapped out means in S3: a brand-new silo on the same bucket sees it too.
    await silo.stop();
    silo = await startSilo();
    const back = silo.ref(Project, "swap");
    const again = await back.compile();
    expect(again.cached).toBe(true);
    expect(again.pdf).toEqual(built.pdf);
    expect(compiler.runs).toBe(runs);
    expect(await back.getFile("figures/noise.png")).toEqual(files.get("figures/noise.png"));
  });

  it("refuses bad input with typed errors", async () => {
    const ref = silo.ref(Project, "input");
    for (const path of ["../etc/passwd", "/abs.tex", "a//b.tex", ".hidden", "sp ace.tex", "a\\b.tex", ""]) {
      await expect(ref.putFile(path, bytes("x"))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
    await expect(ref.putFile("a.tex", "text" as unknown as Uint8Array)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(ref.putFile("big.bin", new Uint8Array(9 * 1024 * 1024))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(ref.getFile("missing.tex")).rejects.toMatchObject({ code: "LATEX_FILE_NOT_FOUND" });
    await expect(ref.getPdf()).rejects.toMatchObject({ code: "LATEX_NO_PDF" });
    await expect(ref.compile()).rejects.toMatchObject({ code: "LATEX_FILE_NOT_FOUND" });
    await expect(ref.compile("main.txt")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(silo.ref(Project, "bad key!").listFiles()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("hands out copies: editing a returned or uploaded buffer does not touch the project", async () => {
    const ref = silo.ref(Project, "copies");
    const content = bytes(HELLO);
    await ref.putFile("main.tex", content);
    content[0] = 0x21;
    const got = await ref.getFile("main.tex");
    expect(got[0]).toBe(0x5c);
    got[0] = 0x21;
    expect((await ref.getFile("main.tex"))[0]).toBe(0x5c);
  });
});
