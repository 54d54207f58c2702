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
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep file-level parallelism modest so multi-process tests are not starved.
    maxWorkers: 2,
    // The default report, then one plain "N passed, N failed" line for CI logs.
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
