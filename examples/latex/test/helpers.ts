/** Small LaTeX projects for tests: quicker to build than the sample (no bibtex, no image). */
export function project(files: Record<string, string>): Map<string, Uint8Array> {
  return new Map(Object.entries(files).map(([path, text]) => [path, new TextEncoder().encode(text)]));
}

export const HELLO = "\\documentclass{article}\n\\begin{document}\nHello, \\LaTeX!\n\\end{document}\n";

/** A document with an undefined control sequence on line 3. */
export const BROKEN = "\\documentclass{article}\n\\begin{document}\n\\thiscommanddoesnotexist\n\\end{document}\n";

export function isPdf(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 5)).toString("latin1") === "%PDF-";
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
