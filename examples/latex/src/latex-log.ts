import { open } from "node:fs/promises";

/** Largest log handed back to a caller: a runaway document can write megabytes, the error is at the end. */
export const MAX_LOG_CHARS = 256 * 1024;

/**
 * The text of a log file, or its last {@link MAX_LOG_CHARS} bytes (marked as
 * cut) when it is longer; undefined when there is no such file. TeX logs are
 * 8-bit, so they are read as latin1: never a decoding error.
 */
export async function readLogTail(file: string, max = MAX_LOG_CHARS): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, max);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const text = buf.toString("latin1");
    return size > max ? `[… first ${size - max} bytes of the log cut …]\n${text}` : text;
  } finally {
    await handle.close();
  }
}

export interface LogError {
  /** "! Undefined control sequence." */
  readonly error?: string;
  /** "l.12 \\foo" */
  readonly line?: string;
}

/**
 * The first TeX error of a log: the line starting with "! " and the "l.N …"
 * line that follows it. The first error is the one to fix; the later ones
 * are usually its consequences.
 */
export function firstError(log: string): LogError {
  const lines = log.split(/\r?\n/);
  const at = lines.findIndex((l) => l.startsWith("! "));
  if (at < 0) return {};
  const error = (lines[at] as string).trim();
  for (let i = at + 1; i < Math.min(lines.length, at + 30); i++) {
    const l = lines[i] as string;
    if (/^l\.\d+/.test(l)) return { error, line: l.trim() };
  }
  return { error };
}

/**
 * Does pdflatex ask for another pass (cross-references, table of contents,
 * citations)? Not on "There were undefined references": a reference to a
 * missing label stays undefined however often one reruns.
 */
export function wantsRerun(log: string): boolean {
  return /Rerun to get|Label\(s\) may have changed/.test(log);
}
