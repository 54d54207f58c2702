import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import {
  DEFAULT_STORE_TIMEOUT_MS,
  InvalidArgumentError,
  type OptionSpec,
  Options,
  readOption,
} from "@praas/core/internal";

export interface S3StorageOptions {
  /** The bucket holding the state objects (it must exist). */
  readonly bucket: string;
  /** Key prefix, e.g. "prod/praas/" (a missing trailing "/" is added). Default: none. */
  readonly prefix?: string;
  /** Endpoint URL for S3-compatible servers: MinIO (`http://minio:9000`), R2 (`https://<account>.r2.cloudflarestorage.com`). */
  readonly endpoint?: string;
  /** Region (default: the SDK's chain, e.g. `AWS_REGION`; "us-east-1" when an endpoint is given; "auto" for R2). */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by MinIO and most local servers. Default false. */
  readonly forcePathStyle?: boolean;
  /** Static credentials or a provider; default: the SDK's default chain (env, profile, instance role…). */
  readonly credentials?: S3ClientConfig["credentials"];
  /** Use this client instead of building one (then endpoint/region/credentials/forcePathStyle must be omitted). Not destroyed by `close()`. */
  readonly client?: S3Client;
  /**
   * Writes (saves and deletes of different actors) in flight at once; more wait
   * their turn. Default 32. A client the store builds gets a socket pool this size;
   * give your own `client` at least as many sockets.
   */
  readonly writeConcurrency?: number;
  /**
   * How long one operation (a read with its body, a write, a delete) may take, in ms, before the
   * store gives up on it with the retryable `StoreTimeoutError` (`STORE_TIMEOUT`). Without it a
   * request black-holed by the network would hold its actor's writes, and the actor, for ever.
   * A write given up on may or may not have been stored. Default 10,000.
   */
  readonly requestTimeoutMs?: number;
}

/** Options checked and defaults applied. */
export interface ResolvedS3Options {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** True when the store built the client and must destroy it on close. */
  readonly ownsClient: boolean;
  readonly writeConcurrency: number;
  readonly requestTimeoutMs: number;
  /** The socket pools of a client the store built (none for a client given to it). */
  readonly agents: readonly HttpAgent[];
}

export const DEFAULT_WRITE_CONCURRENCY = 32;

/**
 * The S3 store's plain-value options described once (default, check, help);
 * `praas start` builds its --s3-* settings from these. `credentials` and
 * `client` are objects and checked as such.
 */
export const S3_OPTIONS = {
  bucket: {
    expected: "a bucket name (letters, digits, . _ -; 2–255 chars)",
    doc: "the bucket (required; it must exist)",
    default: undefined,
    accept: (v: unknown) => (typeof v === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/.test(v) ? v : undefined),
  } satisfies OptionSpec<string>,
  prefix: {
    expected: "a string",
    doc: "key prefix (a missing trailing / is added)",
    default: undefined,
    accept: (v: unknown) => (typeof v === "string" ? v : undefined),
  } satisfies OptionSpec<string>,
  endpoint: Options.url(["http:", "https:"], { doc: "S3-compatible server (MinIO, R2, …)", defaultText: "AWS" }),
  region: Options.text({ doc: "region", defaultText: "AWS SDK chain, us-east-1 with an endpoint" }),
  forcePathStyle: Options.flag({ doc: "path-style URLs (MinIO and most local servers)", defaultText: "false" }),
  writeConcurrency: Options.integer({
    doc: "writes of different actors in flight at once",
    min: 1,
    max: 1024,
    default: DEFAULT_WRITE_CONCURRENCY,
  }),
  requestTimeoutMs: Options.integer({
    doc: "ms one S3 request may take before it fails with STORE_TIMEOUT",
    min: 1,
    max: 600_000,
    default: DEFAULT_STORE_TIMEOUT_MS,
  }),
} as const;

const read = <T>(spec: OptionSpec<T>, name: string, value: unknown): T | undefined =>
  readOption(spec, name, value, `S3 option ${name}`);

/** Validate `options`; every problem is an InvalidArgumentError (an OptionError for plain values) that names the option. */
export function resolveS3Options(options: S3StorageOptions): ResolvedS3Options {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError("S3 storage needs an options object with at least { bucket }");
  }
  const { credentials, client } = options;
  const writeConcurrency = read(S3_OPTIONS.writeConcurrency, "writeConcurrency", options.writeConcurrency) as number;
  const requestTimeoutMs = read(S3_OPTIONS.requestTimeoutMs, "requestTimeoutMs", options.requestTimeoutMs) as number;
  const bucket = read(S3_OPTIONS.bucket, "bucket", options.bucket ?? "") as string;
  const prefix = read(S3_OPTIONS.prefix, "prefix", options.prefix);
  const endpoint = read(S3_OPTIONS.endpoint, "endpoint", options.endpoint);
  const region = read(S3_OPTIONS.region, "region", options.region);
  const forcePathStyle = read(S3_OPTIONS.forcePathStyle, "forcePathStyle", options.forcePathStyle);
  if (credentials !== undefined && !isCredentials(credentials)) {
    throw new InvalidArgumentError(
      "S3 option credentials must be { accessKeyId, secretAccessKey, sessionToken? } or a credential provider function",
    );
  }
  const normalizedPrefix = normalizePrefix(prefix ?? "");
  if (client !== undefined) {
    if (typeof (client as { send?: unknown })?.send !== "function") {
      throw new InvalidArgumentError("S3 option client must be an S3Client");
    }
    const clash = (["endpoint", "region", "forcePathStyle", "credentials"] as const).filter(
      (k) => options[k] !== undefined,
    );
    if (clash.length > 0) {
      throw new InvalidArgumentError(
        `S3 option client cannot be combined with ${clash.join(", ")}: configure the client`,
      );
    }
    return {
      bucket,
      prefix: normalizedPrefix,
      client,
      ownsClient: false,
      writeConcurrency,
      requestTimeoutMs,
      agents: [],
    };
  }
  const config: S3ClientConfig = {
    // Checksums only where an operation requires them: with the SDK defaults
    // some S3-compatible servers store streamed uploads corrupted.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
  if (endpoint !== undefined) config.endpoint = endpoint;
  const r = region ?? (endpoint !== undefined && process.env.AWS_REGION === undefined ? "us-east-1" : undefined);
  if (r !== undefined) config.region = r;
  if (forcePathStyle !== undefined) config.forcePathStyle = forcePathStyle;
  if (credentials !== undefined) config.credentials = credentials;
  // Sockets for every write of the window plus reads beside them (the SDK's default pool is 50).
  // The store keeps the pools, so that abandonWrites can reset the sockets of writes in flight.
  const pool = { maxSockets: writeConcurrency + 32, keepAlive: true };
  const httpAgent = new HttpAgent(pool);
  const httpsAgent = new HttpsAgent(pool);
  config.requestHandler = { httpAgent, httpsAgent };
  return {
    bucket,
    prefix: normalizedPrefix,
    client: new S3Client(config),
    ownsClient: true,
    writeConcurrency,
    requestTimeoutMs,
    agents: [httpAgent, httpsAgent],
  };
}

function isCredentials(value: unknown): boolean {
  if (typeof value === "function") return true;
  if (typeof value !== "object" || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.accessKeyId === "string" &&
    c.accessKeyId.length > 0 &&
    typeof c.secretAccessKey === "string" &&
    (c.sessionToken === undefined || typeof c.sessionToken === "string")
  );
}

/** "a/b" → "a/b/", "/a/" → "a/", "" → "": keys never start with "/" and the prefix is a folder. */
function normalizePrefix(prefix: string): string {
  const p = prefix.replace(/^\/+/, "");
  return p.length === 0 || p.endsWith("/") ? p : `${p}/`;
}
