import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidArgumentError, PraasError } from "@praas/core/internal";
import { type AuthenticateHook, type AuthorizeHook, isLoopback } from "./auth.js";
import { type GatewayLimits, resolveLimits } from "./limits.js";

export interface GatewayOptions<P = unknown> {
  /** Interface to listen on (default "127.0.0.1"). Others need `authenticate` or `token`, or `insecure: true`. */
  readonly host?: string;
  /** Port (default 7070; 0 picks a free one, see `gateway.port`). */
  readonly port?: number;
  /** Shared bearer token: `Authorization: Bearer <token>`, or `?token=` on the WebSocket URL. */
  readonly token?: string;
  /** Decide who calls, from the HTTP request or the WebSocket upgrade request. */
  readonly authenticate?: AuthenticateHook<P>;
  /** Decide per operation what the principal may do. */
  readonly authorize?: AuthorizeHook<P>;
  /** Allow listening beyond loopback without authentication (you said so). */
  readonly insecure?: boolean;
  readonly limits?: Partial<GatewayLimits>;
  /** Serve /metrics and record call metrics (default true). */
  readonly metrics?: boolean;
  /** Path of the WebSocket endpoint (default "/ws"). */
  readonly wsPath?: string;
  /**
   * Serves HTTP requests that match no gateway route (e.g. a web page next to
   * the API); return false to let the gateway answer 404. No authentication is
   * applied: the handler decides.
   */
  readonly fallback?: HttpFallback;
}

/** Extra HTTP routes; true when it handled the request. */
export type HttpFallback = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/** Listening on a non-loopback interface without authentication was refused. */
export class InsecureBindError extends PraasError {
  constructor(host: string) {
    super(
      "INSECURE_BIND",
      `Refusing to listen on ${host} without authentication: give a token or an authenticate hook, or set insecure: true if anyone who can reach ${host} may call every actor`,
    );
  }
}

export interface ResolvedGatewayOptions<P> {
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly authenticate: AuthenticateHook<P> | undefined;
  readonly authorize: AuthorizeHook<P> | undefined;
  readonly limits: GatewayLimits;
  readonly metrics: boolean;
  readonly wsPath: string;
  readonly fallback: HttpFallback | undefined;
}

const KNOWN = new Set([
  "host",
  "port",
  "token",
  "authenticate",
  "authorize",
  "insecure",
  "limits",
  "metrics",
  "wsPath",
  "fallback",
]);

/** Check every option; a bad one is an InvalidArgumentError naming it. */
export function resolveGatewayOptions<P>(options: GatewayOptions<P> | undefined): ResolvedGatewayOptions<P> {
  const o = options ?? {};
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("Gateway options must be an object");
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name)) throw new InvalidArgumentError(`Unknown gateway option "${name}"`);
  }
  const host = o.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0)
    throw new InvalidArgumentError("Gateway option host must be a string");
  const port = o.port ?? 7070;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`Gateway option port must be an integer 0…65535, got ${JSON.stringify(port)}`);
  }
  if (o.token !== undefined && (typeof o.token !== "string" || o.token.length < 8)) {
    throw new InvalidArgumentError("Gateway option token must be a string of at least 8 characters");
  }
  if (o.token !== undefined && o.authenticate !== undefined) {
    throw new InvalidArgumentError(
      "Give either a token or an authenticate hook, not both (check the token in the hook)",
    );
  }
  for (const name of ["authenticate", "authorize", "fallback"] as const) {
    if (o[name] !== undefined && typeof o[name] !== "function") {
      throw new InvalidArgumentError(`Gateway option ${name} must be a function`);
    }
  }
  const wsPath = o.wsPath ?? "/ws";
  if (typeof wsPath !== "string" || !wsPath.startsWith("/")) {
    throw new InvalidArgumentError('Gateway option wsPath must start with "/"');
  }
  if (!isLoopback(host) && o.token === undefined && o.authenticate === undefined && o.insecure !== true) {
    throw new InsecureBindError(host);
  }
  return {
    host,
    port,
    token: o.token,
    authenticate: o.authenticate,
    authorize: o.authorize,
    limits: resolveLimits(o.limits),
    metrics: o.metrics ?? true,
    wsPath,
    fallback: o.fallback,
  };
}
