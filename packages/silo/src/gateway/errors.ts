import { PraasError } from "@praas/core/internal";

/** No such HTTP route. */
export class RouteNotFoundError extends PraasError {
  constructor(method: string, path: string) {
    super("NOT_FOUND", `No route ${method} ${path}`);
  }
}

/** The route exists, but not for this HTTP method. */
export class MethodNotAllowedError extends PraasError {
  readonly allow: readonly string[];
  constructor(method: string, path: string, allow: readonly string[]) {
    super("METHOD_NOT_ALLOWED", `${method} is not allowed on ${path}; use ${allow.join(" or ")}`);
    this.allow = allow;
  }
}

/**
 * HTTP status for an error code. Codes are stable (errors.ts, client-protocol.ts);
 * anything not listed is an error of the actor's own code: 500.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  PROTOCOL_ERROR: 400,
  INVALID_ARGUMENT: 400,
  CODEC: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ACTOR_TYPE_NOT_FOUND: 404,
  METHOD_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  DEADLOCK: 409,
  STATE_CONFLICT: 409,
  STALE_ACTIVATION: 409,
  PAYLOAD_TOO_LARGE: 413,
  OVERLOADED: 429,
  SILO_STOPPED: 503,
  SILO_UNAVAILABLE: 503,
  DEACTIVATED: 503,
  STORE_WRITE_ABANDONED: 503,
  STORE_WRITE_FENCED: 503,
  TIMEOUT: 504,
  STORE_TIMEOUT: 504,
};

export function httpStatusOf(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}
