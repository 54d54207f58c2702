export {
  DEFAULT_FAULT_KINDS,
  describeSchedule,
  type FaultEpisode,
  type FaultKind,
  type FaultScheduleOptions,
  faultSchedule,
  playSchedule,
} from "./fault-schedule.js";
export { FaultyStore, StorageFaultError, type StoreFaults, type StoreStats } from "./faulty-store.js";
export { freePort } from "./free-port.js";
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
export {
  type CounterInput,
  checkCounterLinearizable,
  checkLinearizable,
  counterModel,
  type LinearizabilityResult,
  type LinOp,
  type Model,
  type RegisterInput,
  registerModel,
} from "./linearizability.js";
export { Prng, seedFromEnv } from "./prng.js";
export {
  RedisServerNotFoundError,
  type RedisServerOptions,
  type RedisTestServer,
  startRedisServer,
} from "./redis-server.js";
export {
  createS3Bucket,
  type S3Endpoint,
  type S3ServerOptions,
  type S3TestServer,
  s3ClientConfig,
  startS3Server,
} from "./s3-server.js";
export { SimClock } from "./sim-clock.js";
export type { LinkFaults } from "./sim-network.js";
export { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export {
  type NodeState,
  SiloNotRunningError,
  TestCluster,
  type TestClusterOptions,
  type TestRefOptions,
  type TestStorage,
} from "./test-cluster.js";
