/**
 * Everything @praas/core's modules export, for the sibling packages of this
 * repository (@praas/silo, @praas/client, @praas/redis, …). Not a public API:
 * it changes without notice. Applications import "@praas/core" (index.ts).
 */
export * from "./actor.js";
export * from "./call-chain.js";
export * from "./cbor-check.js";
export * from "./client-protocol.js";
export * from "./clock.js";
export * from "./codec.js";
export * from "./deadlines.js";
export * from "./deque.js";
export * from "./errors.js";
export * from "./excerpt.js";
export * from "./group-commit.js";
export * from "./hash-ring.js";
export * from "./ids.js";
export * from "./log.js";
export * from "./mailbox.js";
export * from "./membership.js";
export * from "./membership-listeners.js";
export * from "./memory-membership.js";
export * from "./memory-store.js";
export * from "./messages.js";
export * from "./options.js";
export * from "./refs.js";
export * from "./reminders.js";
export * from "./retry.js";
export * from "./state-record.js";
export * from "./state-store.js";
export * from "./tracing.js";
