import { Actor, InvalidArgumentError } from "@praas/core";
import { type LatexCompiler, PdflatexCompiler } from "./compiler.js";
import { FileNotFoundError, NoPdfError } from "./errors.js";
import { checkProjectFits, validateContent, validatePath, validateProjectId } from "./paths.js";

/** The last successful build: the PDF and the revision of the files it was built from. */
export interface Build {
  readonly revision: number;
  readonly main: string;
  readonly pdf: Uint8Array;
  readonly log: string;
}

/**
 * Everything a project is, kept in memory while the actor is active and
 * written to the store (CBOR: Maps and bytes as they are) when it is swapped
 * out. The cache is part of the state, so it survives swapping.
 */
export interface ProjectState {
  /** path → content. A Map, so that a path can never collide with an object's own properties. */
  files: Map<string, Uint8Array>;
  /** Bumped on every change to the files; a build is current when its revision equals this. */
  revision: number;
  build: Build | null;
}

export interface PutResult {
  readonly revision: number;
  /** False when the file already had exactly these bytes (the cached PDF stays valid). */
  readonly changed: boolean;
}

export interface FileInfo {
  readonly path: string;
  readonly size: number;
}

export interface CompileResult {
  readonly pdf: Uint8Array;
  readonly log: string;
  /** True when the PDF came from the cache, without running LaTeX. */
  readonly cached: boolean;
  /** The revision of the files the PDF was built from. */
  readonly revision: number;
}

export interface ProjectStatus {
  readonly files: number;
  readonly bytes: number;
  readonly revision: number;
  /** Revision of the last successful build, or null if there is none. */
  readonly pdfRevision: number | null;
  readonly upToDate: boolean;
}

/** The main file compiled when none is named. */
export const DEFAULT_MAIN = "main.tex";

/**
 * A LaTeX project as a PraaS process (key = project id). Its files and last
 * PDF live in the actor's state, so "is the cache up to date?" is a
 * comparison of two numbers in memory, where a stateless function must ask
 * storage on every call (see stateless.ts).
 *
 * Reads interleave with a running compile (a compile awaits pdflatex for
 * seconds; a get-file need not wait behind it). Writes and compiles take
 * turns, so a compile always sees one consistent revision of the files.
 */
export class LatexProject extends Actor<ProjectState> {
  static readonly actorType: string = "LatexProject";
  static readonly interleave: readonly string[] = ["getFile", "listFiles", "getPdf", "status"];
  /** The compiler every LatexProject on this process uses; see {@link LatexProject.withCompiler}. */
  static compiler: LatexCompiler = new PdflatexCompiler();

  static initialState(): ProjectState {
    return { files: new Map(), revision: 0, build: null };
  }

  /**
   * The same actor type with another compiler (a different time limit, or a
   * wrapper that counts runs in tests). Register the returned class instead of
   * LatexProject; stored state is shared, the type name is the same.
   */
  static withCompiler(compiler: LatexCompiler): typeof LatexProject {
    return class extends LatexProject {
      static override compiler = compiler;
    };
  }

  override onActivate(): void {
    // The key names temporary folders and storage objects: refuse odd ones up front.
    validateProjectId(this.key);
  }

  /** Create or replace a file. Storing identical bytes changes nothing (and keeps the cached PDF). */
  putFile(path: string, bytes: Uint8Array): PutResult {
    validatePath(path);
    validateContent(path, bytes);
    const { files } = this.state;
    const old = files.get(path);
    if (old !== undefined && sameBytes(old, bytes)) return { revision: this.state.revision, changed: false };
    checkProjectFits(path, bytes.byteLength, { files: files.size, bytes: totalBytes(files), oldSize: old?.byteLength });
    // Copy: an in-process caller may reuse its buffer, and the state must not change under us.
    files.set(path, new Uint8Array(bytes));
    this.state.revision++;
    return { revision: this.state.revision, changed: true };
  }

  /** Remove a file; false if there was none. */
  deleteFile(path: string): boolean {
    validatePath(path);
    if (!this.state.files.delete(path)) return false;
    this.state.revision++;
    return true;
  }

  getFile(path: string): Uint8Array {
    validatePath(path);
    const bytes = this.state.files.get(path);
    if (bytes === undefined) throw new FileNotFoundError(this.key, path);
    // A copy (`new Uint8Array(x)` always copies; a Buffer's slice() would not), so that
    // an in-process caller cannot edit the project behind the actor's back.
    return new Uint8Array(bytes);
  }

  listFiles(): FileInfo[] {
    return [...this.state.files]
      .map(([path, bytes]) => ({ path, size: bytes.byteLength }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * The PDF of the files as they are now: from the cache when nothing changed
   * since the last successful build, else by running LaTeX. A LaTeX error
   * rejects with LatexCompileError (code LATEX_COMPILE_FAILED, the log in
   * `data.log`) and leaves the previous PDF in place.
   */
  async compile(main: string = DEFAULT_MAIN): Promise<CompileResult> {
    checkMain(main);
    const { build, revision } = this.state;
    if (build !== null && build.revision === revision && build.main === main) {
      return { pdf: new Uint8Array(build.pdf), log: build.log, cached: true, revision };
    }
    if (!this.state.files.has(main)) throw new FileNotFoundError(this.key, main);
    const compiler = (this.constructor as typeof LatexProject).compiler;
    const out = await compiler.compile(this.state.files, main);
    // No write could run during the compile (writes take turns), so `revision` is what was built.
    this.state.build = { revision, main, pdf: out.pdf, log: out.log };
    return { pdf: new Uint8Array(out.pdf), log: out.log, cached: false, revision };
  }

  /** The PDF of the last successful build (possibly older than the files: see status()). */
  getPdf(): Uint8Array {
    const build = this.state.build;
    if (build === null) throw new NoPdfError(this.key);
    return new Uint8Array(build.pdf);
  }

  status(): ProjectStatus {
    const { files, revision, build } = this.state;
    return {
      files: files.size,
      bytes: totalBytes(files),
      revision,
      pdfRevision: build?.revision ?? null,
      upToDate: build !== null && build.revision === revision,
    };
  }
}

function totalBytes(files: ReadonlyMap<string, Uint8Array>): number {
  let n = 0;
  for (const b of files.values()) n += b.byteLength;
  return n;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** For callers that take a main file name from outside. */
export function checkMain(main: unknown): string {
  const path = validatePath(main);
  if (!path.endsWith(".tex")) throw new InvalidArgumentError(`The main file must be a .tex file, got "${path}"`);
  return path;
}
