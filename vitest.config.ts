import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests import workspace packages from source, so no stale dist can hide a change.
    conditions: ["source"],
  },
  // Test files run in vite's server (SSR) environment, which ignores the
  // top-level `resolve.conditions`: without this they would load dist. The rest
  // is vitest's own default ("module" left out, as vitest does).
  ssr: { resolve: { conditions: ["source", ...defaultServerConditions.filter((c) => c !== "module")] } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    globalSetup: ["./test/global-setup.ts"],
    // The AWS SDK warns once per process that its releases after January 2027 need Node ≥ 22: with
    // a dozen test processes creating S3 clients that is a dozen copies of one notice (the README
    // states the Node requirement). The SDK's own switch turns off that one warning, nothing else;
    // child processes the tests start inherit it.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep file-level parallelism modest so multi-process tests are not starved.
    maxWorkers: 2,
    // The default report, then one plain "N passed, N failed" line for CI logs.
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
