import { InvalidArgumentError } from "@praas/core";

/**
 * What a project may hold. Paths become file names in a build folder that
 * pdflatex runs in, so they are checked strictly here, once, for both the
 * actor and the stateless baseline: relative, no "..", no hidden files, a
 * portable character set (TeX itself handles spaces and quotes badly).
 */
export const LIMITS = {
  /** Bytes of one file. */
  maxFileBytes: 8 * 1024 * 1024,
  /** Bytes of all files of a project together. */
  maxProjectBytes: 32 * 1024 * 1024,
  maxFiles: 256,
  /** Characters of a whole path. */
  maxPathLength: 200,
  /** Folders deep. */
  maxDepth: 8,
} as const;

const SEGMENT = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/;

/** Check a project file path ("main.tex", "sections/intro.tex"); returns it unchanged. */
export function validatePath(path: unknown): string {
  if (typeof path !== "string") throw new InvalidArgumentError(`A file path must be a string, got ${typeof path}`);
  if (path.length === 0 || path.length > LIMITS.maxPathLength) {
    throw new InvalidArgumentError(`A file path must have 1 to ${LIMITS.maxPathLength} characters`);
  }
  if (path.startsWith("/")) throw new InvalidArgumentError(`File path "${path}" must be relative, not absolute`);
  const segments = path.split("/");
  if (segments.length > LIMITS.maxDepth) {
    throw new InvalidArgumentError(`File path "${path}" is nested deeper than ${LIMITS.maxDepth} folders`);
  }
  for (const s of segments) {
    if (s === "..") throw new InvalidArgumentError(`File path "${path}" must not contain ".."`);
    if (!SEGMENT.test(s)) {
      throw new InvalidArgumentError(
        `File path "${JSON.stringify(path).slice(1, -1)}" is not allowed: use letters, digits, "_", "-", "+" and ".", ` +
          `folders separated by "/", no empty parts, no part starting with "."`,
      );
    }
  }
  return path;
}

/** Check a file's content; returns it unchanged. */
export function validateContent(path: string, bytes: unknown): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError(`Content of "${path}" must be a Uint8Array (bytes), got ${describe(bytes)}`);
  }
  if (bytes.byteLength > LIMITS.maxFileBytes) {
    throw new InvalidArgumentError(
      `"${path}" has ${bytes.byteLength} bytes, more than the ${LIMITS.maxFileBytes} bytes a file may have`,
    );
  }
  return bytes;
}

/**
 * Check that a project still fits after `path` gets `size` bytes, given the
 * sizes it has now (undefined for a file that does not exist yet).
 */
export function checkProjectFits(
  path: string,
  size: number,
  current: { readonly files: number; readonly bytes: number; readonly oldSize: number | undefined },
): void {
  const files = current.files + (current.oldSize === undefined ? 1 : 0);
  if (files > LIMITS.maxFiles) {
    throw new InvalidArgumentError(`Adding "${path}" would give the project more than ${LIMITS.maxFiles} files`);
  }
  const bytes = current.bytes - (current.oldSize ?? 0) + size;
  if (bytes > LIMITS.maxProjectBytes) {
    throw new InvalidArgumentError(
      `Writing "${path}" would grow the project to ${bytes} bytes, more than its ${LIMITS.maxProjectBytes} bytes`,
    );
  }
}

/** Check a project id used as a key in S3 (the actor's key is checked by the silo). */
export function validateProjectId(id: unknown): string {
  if (typeof id !== "string" || !/^[A-Za-z0-9_.-]{1,128}$/.test(id) || id === "." || id === "..") {
    throw new InvalidArgumentError(
      `A project id must be 1 to 128 letters, digits, "_", "-" or "." (and not "." or ".."), got ${JSON.stringify(id)}`,
    );
  }
  return id;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}
