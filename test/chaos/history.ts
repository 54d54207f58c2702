/**
 * The history checker moved to `@praas/testing` (one checker for the chaos
 * runner, the multi-host suite, the seeded simulation and users' TestCluster
 * tests); this module keeps the chaos suite's imports working.
 */
export * from "@praas/testing/history";
