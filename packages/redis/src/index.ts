export * from "./redis-state-store.js";
