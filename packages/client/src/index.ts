/** The public API of @praas/client: exactly what README.md documents. */
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
} from "@praas/core/internal";
export { Client, type ClientEvents, connect } from "./client.js";
export type { ClientState } from "./connection.js";
export { ClientClosedError, ConnectionFailedError } from "./errors.js";
export type { ClientOptions, ClientSendOptions, ReconnectOptions } from "./options.js";
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
