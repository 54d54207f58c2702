import { randomBytes } from "node:crypto";
import { inject, onTestFailed, onTestFinished } from "vitest";
import type { TestProject } from "vitest/node";
import { type RedisTestServer, startRedisServer } from "./redis-server.js";
import { createS3Bucket, type S3Endpoint, type S3TestServer, startS3Server } from "./s3-server.js";
import { TestCluster, type TestClusterOptions } from "./test-cluster.js";

/**
 * vitest glue for the shared test servers: `provideTestServers` runs in a
 * globalSetup (once per run, main process); the other helpers run in test
 * files and read what it provided.
 */
declare module "vitest" {
  interface ProvidedContext {
    /** URL of this run's redis-server ("" if it could not start; then `redisError` says why). */
    redisUrl: string;
    redisError: string;
    /** This run's local S3 server (null if it could not start; then `s3Error` says why). */
    s3: S3Endpoint | null;
    s3Error: string;
  }
}

/**
 * Start one redis-server and one S3 server, provide their addresses, and
 * return the teardown that stops them. A server that cannot start does not
 * stop the run: the files that need it fail with the reason (e.g. how to
 * install redis-server), the others run.
 */
export async function provideTestServers(project: TestProject): Promise<() => Promise<void>> {
  const [redis, s3] = await Promise.allSettled([startRedisServer(), startS3Server({ buckets: [] })]);
  project.provide("redisUrl", redis.status === "fulfilled" ? redis.value.url : "");
  project.provide("redisError", redis.status === "rejected" ? errorText(redis.reason) : "");
  project.provide("s3", s3.status === "fulfilled" ? endpointOf(s3.value) : null);
  project.provide("s3Error", s3.status === "rejected" ? errorText(s3.reason) : "");
  return async () => {
    const servers: (RedisTestServer | S3TestServer)[] = [];
    if (redis.status === "fulfilled") servers.push(redis.value);
    if (s3.status === "fulfilled") servers.push(s3.value);
    await Promise.all(servers.map((s) => s.stop()));
  };
}

/** The run's redis-server URL; throws the reason if it is not running. */
export function redisUrl(): string {
  const url = inject("redisUrl");
  if (url === "") throw new Error(`The test redis-server is not running: ${inject("redisError")}`);
  return url;
}

/** The run's S3 server; throws the reason if it is not running. */
export function s3Server(): S3Endpoint {
  const s3 = inject("s3");
  if (s3 === null) throw new Error(`The test S3 server is not running: ${inject("s3Error")}`);
  return s3;
}

/** A name no other test uses (key prefixes, buckets). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

/** A new empty bucket on the run's S3 server. */
export async function freshBucket(prefix = "praas"): Promise<string> {
  const bucket = uniqueName(prefix).toLowerCase();
  await createS3Bucket(s3Server(), bucket);
  return bucket;
}

function endpointOf(server: S3TestServer): S3Endpoint {
  return { endpoint: server.endpoint, region: server.region, credentials: { ...server.credentials } };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Start a TestCluster for the current test: if the test fails, its
 * `failureReport()` (seed, faults, last log lines) goes to stderr; when the
 * test ends, the cluster stops. Rerun a failure with `PRAAS_SEED=<seed>`.
 */
export async function startTestCluster(options: TestClusterOptions): Promise<TestCluster> {
  const cluster = await TestCluster.start(options);
  onTestFailed(() => {
    console.error(cluster.failureReport());
  });
  onTestFinished(() => cluster.stop());
  return cluster;
}
