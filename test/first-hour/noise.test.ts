/**
 * A test run prints what matters: the AWS SDK's notice about future Node
 * versions is turned off for the processes tests start, other warnings are not.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "./shell.js";

/** Run a script in a new Node process with this test's environment, as tests start silos; its stderr. */
function stderrOf(script: string): string {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: REPO_ROOT,
    env: process.env,
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr;
}

describe("warnings in test runs", () => {
  test("creating an S3 client prints no Node-version notice", () => {
    const err = stderrOf(
      'import { S3Client } from "@aws-sdk/client-s3"; new S3Client({ region: "us-east-1" }).destroy();',
    );
    expect(err).not.toMatch(/NodeVersionSupportWarning/);
  });

  test("other warnings still show", () => {
    expect(stderrOf('process.emitWarning("something else");')).toMatch(/Warning: something else/);
  });
});
