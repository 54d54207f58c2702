// The benchmark side of the example (a local S3 server, a silo, the session
// driver): a separate entry point, so that users of the actor do not load
// the test servers.
export * from "./comparison.js";
export * from "./driver.js";
export * from "./report-text.js";
