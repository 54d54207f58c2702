export type {
  ActorDetails,
  BusyActor,
  CallRow,
  ClusterSnapshot,
  ReminderCounts,
  SiloRow,
  StuckTurn,
} from "../stats/snapshot.js";
export type { AuthenticateHook, AuthorizeHook, BuiltinPrincipal } from "./auth.js";
export { MethodNotAllowedError, RouteNotFoundError } from "./errors.js";
export { describeTypes, type TypeDescription } from "./http-routes.js";
export { DEFAULT_LIMITS, type GatewayLimits, LIMIT_OPTIONS } from "./limits.js";
export { GATEWAY_OPTIONS, type GatewayOptions, type HttpFallback, InsecureBindError } from "./options.js";
export { type Gateway, startGateway } from "./server.js";
