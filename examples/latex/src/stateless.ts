import { createHash } from "node:crypto";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CorruptStateError, StateConflictError } from "@praas/core";
import type { CompileResult, FileInfo, PutResult } from "./actor.js";
import { checkMain, DEFAULT_MAIN } from "./actor.js";
import { type LatexCompiler, PdflatexCompiler } from "./compiler.js";
import { FileNotFoundError, NoPdfError } from "./errors.js";
import { checkProjectFits, validateContent, validatePath, validateProjectId } from "./paths.js";

export interface StatelessLatexOptions {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Key prefix of all projects (default "latex/"). */
  readonly prefix?: string;
  readonly compiler?: LatexCompiler;
  /** Attempts of a read-modify-write that loses a race with another writer (default 5). */
  readonly maxAttempts?: number;
}

/**
 * The project's index, one JSON object per project. Files are a list, not an
 * object keyed by path, so that no path can collide with an object property.
 */
interface Manifest {
  revision: number;
  files: { path: string; size: number; sha256: string }[];
  /** The last successful build: the revision it was built from, and where its PDF and log are. */
  build: { revision: number; main: string } | null;
}

interface LoadedManifest {
  readonly manifest: Manifest;
  /** ETag to make the write-back conditional; null when the project has no manifest yet. */
  readonly etag: string | null;
}

/**
 * The same LaTeX service written the FaaS way, as one writes it for Lambda:
 * a handler keeps nothing between calls (the next call may land on another
 * instance), so every call asks S3 what the project looks like, loads what
 * it needs, works, and writes back.
 *
 * S3 layout under `<prefix><project>/`: `manifest.json` (revision, file list
 * with hashes, last build), `files/<path>`, and `build/<revision>.pdf` /
 * `.log`. Builds are keyed by revision and the manifest is written with
 * `If-Match`, so a compile racing an edit can never label an old PDF as
 * current. Written to be as quick as the model allows: one GET where one
 * suffices (getFile), parallel GETs and PUTs elsewhere.
 */
export class StatelessLatexService {
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #compiler: LatexCompiler;
  readonly #maxAttempts: number;

  constructor(options: StatelessLatexOptions) {
    this.#s3 = options.s3;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "latex/";
    this.#compiler = options.compiler ?? new PdflatexCompiler();
    this.#maxAttempts = options.maxAttempts ?? 5;
  }

  async putFile(project: string, path: string, bytes: Uint8Array): Promise<PutResult> {
    const base = this.#base(project);
    validatePath(path);
    validateContent(path, bytes);
    const sha256 = hash(bytes);
    return this.#update(project, async (m) => {
      const old = m.files.find((f) => f.path === path);
      if (old?.sha256 === sha256) return undefined;
      checkProjectFits(path, bytes.byteLength, {
        files: m.files.length,
        bytes: m.files.reduce((n, f) => n + f.size, 0),
        oldSize: old?.size,
      });
      await this.#put(`${base}files/${path}`, bytes);
      const entry = { path, size: bytes.byteLength, sha256 };
      return { ...m, revision: m.revision + 1, files: [...m.files.filter((f) => f.path !== path), entry] };
    });
  }

  async deleteFile(project: string, path: string): Promise<boolean> {
    const base = this.#base(project);
    validatePath(path);
    const { changed } = await this.#update(project, async (m) => {
      if (!m.files.some((f) => f.path === path)) return undefined;
      return { ...m, revision: m.revision + 1, files: m.files.filter((f) => f.path !== path) };
    });
    // The manifest no longer lists it; removing the object is cleanup, not correctness.
    if (changed) await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: `${base}files/${path}` }));
    return changed;
  }

  /** One GET: the file object itself is the answer (a missing one is FILE_NOT_FOUND). */
  async getFile(project: string, path: string): Promise<Uint8Array> {
    const base = this.#base(project);
    validatePath(path);
    const bytes = await this.#get(`${base}files/${path}`);
    if (bytes === undefined) throw new FileNotFoundError(project, path);
    return bytes;
  }

  async listFiles(project: string): Promise<FileInfo[]> {
    const { manifest } = await this.#loadManifest(project);
    return manifest.files
      .map(({ path, size }) => ({ path, size }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Ask S3 whether the cached PDF is current; if so fetch it, else fetch every
   * file, compile, store the PDF and log, and record the build in the manifest.
   */
  async compile(project: string, main: string = DEFAULT_MAIN): Promise<CompileResult> {
    const base = this.#base(project);
    checkMain(main);
    const { manifest, etag } = await this.#loadManifest(project);
    const { build, revision } = manifest;
    if (build !== null && build.revision === revision && build.main === main) {
      const [pdf, log] = await Promise.all([this.#get(pdfKey(base, build)), this.#get(logKey(base, build))]);
      if (pdf !== undefined && log !== undefined) {
        return { pdf, log: Buffer.from(log).toString("utf8"), cached: true, revision };
      }
      // The build's objects are gone (deleted by hand?): rebuild below.
    }
    if (!manifest.files.some((f) => f.path === main)) throw new FileNotFoundError(project, main);
    const files = new Map<string, Uint8Array>();
    await Promise.all(
      manifest.files.map(async (f) => {
        const bytes = await this.#get(`${base}files/${f.path}`);
        if (bytes === undefined)
          throw new CorruptStateError(`${base}files/${f.path}`, "listed in the manifest but missing");
        files.set(f.path, bytes);
      }),
    );
    const out = await this.#compiler.compile(files, main);
    const done = { revision, main };
    await Promise.all([this.#put(pdfKey(base, done), out.pdf), this.#put(logKey(base, done), Buffer.from(out.log))]);
    // Record the build only if no edit landed meanwhile; otherwise the PDF is
    // still the right answer for the files this call read, just not cached.
    const recorded = await this.#putManifest(project, { ...manifest, build: done }, etag);
    if (recorded && build !== null && build.revision !== revision) {
      await Promise.all([this.#delete(pdfKey(base, build)), this.#delete(logKey(base, build))]);
    }
    return { pdf: out.pdf, log: out.log, cached: false, revision };
  }

  /** The PDF of the last successful build: the manifest says which one, then one GET. */
  async getPdf(project: string): Promise<Uint8Array> {
    const base = this.#base(project);
    const { manifest } = await this.#loadManifest(project);
    const pdf = manifest.build === null ? undefined : await this.#get(pdfKey(base, manifest.build));
    if (pdf === undefined) throw new NoPdfError(project);
    return pdf;
  }

  // ---- S3 plumbing ----

  #base(project: string): string {
    return `${this.#prefix}${validateProjectId(project)}/`;
  }

  /**
   * Read the manifest, let `change` compute the next one (undefined: nothing
   * to do), write it back conditionally; start over when another call won the race.
   */
  async #update(project: string, change: (m: Manifest) => Promise<Manifest | undefined>): Promise<PutResult> {
    for (let attempt = 1; ; attempt++) {
      const { manifest, etag } = await this.#loadManifest(project);
      const next = await change(manifest);
      if (next === undefined) return { revision: manifest.revision, changed: false };
      if (await this.#putManifest(project, next, etag)) return { revision: next.revision, changed: true };
      // Retryable for the caller: the project is being changed by others right now.
      if (attempt >= this.#maxAttempts) throw new StateConflictError(`${this.#base(project)}manifest.json`, etag);
    }
  }

  async #loadManifest(project: string): Promise<LoadedManifest> {
    const key = `${this.#base(project)}manifest.json`;
    try {
      const res = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const text = (await res.Body?.transformToString("utf8")) ?? "";
      return { manifest: parseManifest(text, key), etag: res.ETag ?? null };
    } catch (err) {
      if (status(err) === 404) return { manifest: { revision: 0, files: [], build: null }, etag: null };
      throw err;
    }
  }

  /** Conditional write of the manifest; false when someone else wrote it first. */
  async #putManifest(project: string, m: Manifest, etag: string | null): Promise<boolean> {
    const key = `${this.#base(project)}manifest.json`;
    const cmd = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      Body: JSON.stringify(m),
      ContentType: "application/json",
      ...(etag === null ? { IfNoneMatch: "*" } : { IfMatch: etag }),
    });
    try {
      await this.#s3.send(cmd);
      return true;
    } catch (err) {
      const s = status(err);
      if (s === 412 || s === 409) return false;
      throw err;
    }
  }

  async #get(key: string): Promise<Uint8Array | undefined> {
    try {
      const res = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return res.Body === undefined ? new Uint8Array(0) : await res.Body.transformToByteArray();
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw err;
    }
  }

  async #put(key: string, bytes: Uint8Array): Promise<void> {
    await this.#s3.send(new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: bytes }));
  }

  async #delete(key: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
  }
}

function pdfKey(base: string, build: { revision: number }): string {
  return `${base}build/${build.revision}.pdf`;
}

function logKey(base: string, build: { revision: number }): string {
  return `${base}build/${build.revision}.log`;
}

function hash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Storage is outside input too: a manifest that does not parse or has the wrong shape is CORRUPT_STATE. */
function parseManifest(text: string, key: string): Manifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new CorruptStateError(key, "manifest is not JSON");
  }
  const m = v as Partial<Manifest> | null;
  const ok =
    m !== null &&
    typeof m === "object" &&
    Number.isInteger(m.revision) &&
    Array.isArray(m.files) &&
    m.files.every((f) => typeof f?.path === "string" && Number.isInteger(f.size) && typeof f.sha256 === "string") &&
    (m.build === null || (typeof m.build === "object" && Number.isInteger(m.build?.revision)));
  if (!ok) throw new CorruptStateError(key, "manifest has an unexpected shape");
  return m as Manifest;
}
