export * from "./membership.js";
export * from "./redis-state-store.js";
