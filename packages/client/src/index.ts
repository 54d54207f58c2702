export {
  ActorError,
  type ActorRef,
  ConnectionLostError,
  ForbiddenError,
  InvalidArgumentError,
  OverloadedError,
  PayloadTooLargeError,
  PraasError,
  ProtocolError,
  TimeoutError,
  UnauthenticatedError,
} from "@praas/core";
export type { ReconnectOptions } from "./backoff.js";
export {
  Client,
  type ClientEvents,
  type ClientOptions,
  type ClientSendOptions,
  connect,
} from "./client.js";
export type { ClientState } from "./connection.js";
export { ClientClosedError, ConnectionFailedError } from "./errors.js";
export type {
  ClientRef,
  EventInfo,
  EventListener,
  EventMap,
  Gap,
  InvokeCall,
  InvokeResult,
  OnOptions,
  Subscription,
  WorkerInstance,
} from "./ref.js";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.js";
