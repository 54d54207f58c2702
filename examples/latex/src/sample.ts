import { readFile } from "node:fs/promises";
import { crc32, deflateSync } from "node:zlib";

/** The text files of the sample project, in examples/latex/sample/ (one level up from src/ and dist/). */
const SAMPLE_DIR = new URL("../sample/", import.meta.url);
const TEXT_FILES = ["main.tex", "sections/introduction.tex", "sections/results.tex", "refs.bib"] as const;

/** The file an edit in the benchmark session touches, and the one get-file reads. */
export const SAMPLE_SECTION = "sections/introduction.tex";
export const SAMPLE_IMAGE = "figures/noise.png";

/**
 * The sample project: main.tex, two sections, a bibliography, and an image.
 * The image is generated (no binary file in the repository): random pixels
 * do not compress, and at 396×396 the PDF comes out near the 585 KB of the
 * paper's evaluation, so "get the PDF" moves a comparable amount of data.
 */
export async function loadSampleProject(imageSide = 396): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const path of TEXT_FILES) files.set(path, new Uint8Array(await readFile(new URL(path, SAMPLE_DIR))));
  files.set(SAMPLE_IMAGE, noisePng(imageSide, imageSide, 0x9e3779b9));
  return files;
}

/** `bytes` (a .tex file) with one more sentence at the end: a real edit, so the PDF must be rebuilt. */
export function appendSentence(bytes: Uint8Array, n: number): Uint8Array {
  return new Uint8Array(Buffer.concat([bytes, Buffer.from(`\nThis sentence was added by edit number ${n}.\n`)]));
}

/** A truecolor PNG of deterministic noise (xorshift32 from `seed`). */
export function noisePng(width: number, height: number, seed: number): Uint8Array {
  const row = 1 + width * 3;
  const raw = Buffer.alloc(row * height);
  let x = seed >>> 0 || 1;
  for (let y = 0; y < height; y++) {
    raw[y * row] = 0; // filter type "None" for every scanline
    for (let i = 1; i < row; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      raw[y * row + i] = x & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, adaptive filtering, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  // A plain Uint8Array, not a Buffer: what comes back from storage compares equal to it.
  return new Uint8Array(
    Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]),
  );
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
