import type { TestProject } from "vitest/node";
// Imported by path, not as "@praas/testing/vitest": vitest loads a global
// setup's package imports natively (from dist, possibly stale or unbuilt),
// whereas a relative import goes through vite and runs the current source.
import { provideTestServers } from "../packages/testing/src/vitest.js";

/**
 * Runs once per `vitest run`: one private redis-server and one local S3 server
 * (s3rver with conditional writes) for all test files, stopped at the end.
 * Test files reach them with `redisUrl()` / `s3Server()` from
 * `@praas/testing/vitest` and isolate themselves by key prefix or bucket.
 */
export default function setup(project: TestProject): Promise<() => Promise<void>> {
  return provideTestServers(project);
}
