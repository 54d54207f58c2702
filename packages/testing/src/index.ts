export * from "./fault-schedule.js";
export * from "./faulty-store.js";
export * from "./free-port.js";
export {
  type CheckOptions,
  type CheckResult,
  checkHistory,
  describe as describeOp,
  type FaultMark,
  type FinalObservation,
  History,
  type KeySummary,
  type Op,
  type OpKind,
  type Outcome,
  type PendingOp,
  type Violation,
  type ViolationKind,
} from "./history.js";
export * from "./linearizability.js";
export * from "./prng.js";
export * from "./redis-server.js";
export * from "./s3-server.js";
export * from "./sim-clock.js";
export * from "./sim-network.js";
export * from "./tcp-proxy.js";
export * from "./test-cluster.js";
