import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidArgumentError, type OptionSpec, Options, PraasError, readOption } from "@praas/core/internal";
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

/**
 * The gateway's plain-value options described once (default, check, help);
 * `praas start` builds its --host, --port and --token from these. The hooks
 * (authenticate, authorize, fallback) are functions and checked as such.
 */
export const GATEWAY_OPTIONS = {
  host: Options.text({ doc: "interface to listen on", default: "127.0.0.1" }),
  port: Options.integer({ doc: "port; 0 picks a free one", min: 0, max: 65_535, default: 7070 }),
  token: {
    expected: "a string of at least 8 characters",
    doc: "require this bearer token",
    default: undefined,
    defaultText: "none: loopback only",
    accept: (v: unknown) => (typeof v === "string" && v.length >= 8 ? v : undefined),
    // A refused token is not echoed: it may be a real one, mistyped.
    show: () => "(hidden)",
  } satisfies OptionSpec<string>,
  wsPath: {
    expected: 'a path starting with "/"',
    doc: "path of the WebSocket endpoint",
    default: "/ws",
    accept: (v: unknown) => (typeof v === "string" && v.startsWith("/") ? v : undefined),
  } satisfies OptionSpec<string>,
  metrics: Options.flag({ doc: "serve /metrics and record call metrics", default: true }),
  insecure: Options.flag({ doc: "allow listening beyond loopback without authentication", default: false }),
} as const;

const read = <T>(spec: OptionSpec<T>, name: string, value: unknown): T | undefined =>
  readOption(spec, name, value, `Gateway option ${name}`);

/** Check every option; a bad one is an OptionError (an InvalidArgumentError) naming it. */
export function resolveGatewayOptions<P>(options: GatewayOptions<P> | undefined): ResolvedGatewayOptions<P> {
  const o = options ?? {};
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("Gateway options must be an object");
  for (const name of Object.keys(o)) {
    if (!KNOWN.has(name)) throw new InvalidArgumentError(`Unknown gateway option "${name}"`);
  }
  const host = read(GATEWAY_OPTIONS.host, "host", o.host) as string;
  const port = read(GATEWAY_OPTIONS.port, "port", o.port) as number;
  const token = read(GATEWAY_OPTIONS.token, "token", o.token);
  const insecure = read(GATEWAY_OPTIONS.insecure, "insecure", o.insecure) as boolean;
  const metrics = read(GATEWAY_OPTIONS.metrics, "metrics", o.metrics) as boolean;
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
  const wsPath = read(GATEWAY_OPTIONS.wsPath, "wsPath", o.wsPath) as string;
  if (!isLoopback(host) && token === undefined && o.authenticate === undefined && !insecure) {
    throw new InsecureBindError(host);
  }
  return {
    host,
    port,
    token,
    authenticate: o.authenticate,
    authorize: o.authorize,
    limits: resolveLimits(o.limits),
    metrics,
    wsPath,
    fallback: o.fallback,
  };
}
