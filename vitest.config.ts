import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Tests import workspace packages from source, so no stale dist can hide a change.
    conditions: ["source"],
  },
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
  },
});
