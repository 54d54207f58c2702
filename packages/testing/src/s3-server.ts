import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { makePutsAtomic, preconditionMiddleware } from "./s3-preconditions.js";

/** How to reach a local S3 server: everything an S3 client needs. */
export interface S3Endpoint {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

export interface S3TestServer extends S3Endpoint {
  /** Buckets created at start. */
  readonly buckets: readonly string[];
  /** Stop the server and delete everything it stored. */
  stop(): Promise<void>;
}

export interface S3ServerOptions {
  /** Buckets to create at start (default: ["praas-test"]). */
  readonly buckets?: readonly string[];
  /** Address to listen on, also the endpoint's host (default 127.0.0.1; e.g. a network namespace's own address). */
  readonly host?: string;
  /** Port to listen on (default 0: a free one). */
  readonly port?: number;
}

/** s3rver checks SigV4 signatures against this fixed key pair. */
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/**
 * Start a local S3 server (s3rver) on a free loopback port (or where `host`
 * and `port` say), with conditional
 * writes answered as AWS S3 and MinIO answer them (see s3-preconditions.ts).
 * Data lives in a temp folder removed by `stop()`.
 */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3TestServer> {
  const buckets = [...(options.buckets ?? ["praas-test"])];
  const base = await mkdtemp(join(tmpdir(), "praas-s3-"));
  const data = join(base, "data");
  const tmp = join(base, "tmp");
  await mkdir(data);
  await mkdir(tmp);
  const host = options.host ?? "127.0.0.1";
  const server = new S3rver({
    address: host,
    port: options.port ?? 0,
    silent: true,
    directory: data,
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  // Run before s3rver's router (the last middleware), after its URL rewriting.
  const routerIndex = server.middleware.length - 1;
  if (routerIndex < 1) throw new Error("s3rver's middleware stack is not what @praas/testing expects");
  server.middleware.splice(routerIndex, 0, preconditionMiddleware() as (typeof server.middleware)[number]);
  makePutsAtomic(server.store as Parameters<typeof makePutsAtomic>[0], tmp);
  let address: { port: number };
  try {
    address = await server.run();
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://${host}:${address.port}`,
    region: "us-east-1",
    credentials: CREDENTIALS,
    buckets,
    stop: async () => {
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(base, { recursive: true, force: true });
    },
  };
}

/**
 * SDK settings for a local S3 server: path-style URLs, and checksums only when
 * an operation requires them (with the SDK's defaults s3rver stores streamed
 * uploads corrupted).
 */
export function s3ClientConfig(server: S3Endpoint): S3ClientConfig {
  return {
    endpoint: server.endpoint,
    region: server.region,
    credentials: { ...server.credentials },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  };
}

/** Create a bucket over the S3 protocol (works from any process, e.g. a test worker). */
export async function createS3Bucket(server: S3Endpoint, bucket: string): Promise<void> {
  const client = new S3Client(s3ClientConfig(server));
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}
