import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { ForbiddenError, PraasError, UnauthenticatedError } from "@praas/core/internal";

/** Decides who is calling from the request (HTTP or WebSocket upgrade); `undefined` rejects it (401). */
export type AuthenticateHook<P> = (request: IncomingMessage) => P | undefined | Promise<P | undefined>;

/**
 * May `principal` do `method` on `actorType/key`? Besides actor methods, `method`
 * is one of "@subscribe", "@status", "@deactivate", "@deleteState" for the
 * matching operations, or "@send:<channel>" for a message to the actor's inbox.
 * Calls to a stateless worker type pass `key` "". Return false (or throw
 * ForbiddenError) to refuse (403).
 */
export type AuthorizeHook<P> = (
  principal: P,
  actorType: string,
  key: string,
  method: string,
) => boolean | Promise<boolean>;

/** The principal when no authenticate hook is set (no auth, or the shared token). */
export interface BuiltinPrincipal {
  readonly kind: "anonymous" | "token";
}

const ANONYMOUS: BuiltinPrincipal = { kind: "anonymous" };
const TOKEN: BuiltinPrincipal = { kind: "token" };

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/** The bearer token of a request: `Authorization: Bearer …`, or `?token=` on upgrades (browsers cannot set headers on a WebSocket). */
function presentedToken(request: IncomingMessage, allowQuery: boolean): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.startsWith("Bearer ")) return header.slice(7).trim();
  if (!allowQuery) return undefined;
  const q = (request.url ?? "").indexOf("?");
  if (q < 0) return undefined;
  return new URLSearchParams((request.url ?? "").slice(q + 1)).get("token") ?? undefined;
}

/** Authentication (once per HTTP request or WebSocket upgrade) and authorization (per operation). */
export class Authenticator<P> {
  readonly #hook: AuthenticateHook<P> | undefined;
  readonly #authorize: AuthorizeHook<P> | undefined;
  // Compare digests so the comparison takes the same time whatever the token's length.
  readonly #tokenDigest: Buffer | undefined;

  constructor(options: { authenticate?: AuthenticateHook<P>; authorize?: AuthorizeHook<P>; token?: string }) {
    this.#hook = options.authenticate;
    this.#authorize = options.authorize;
    this.#tokenDigest = options.token === undefined ? undefined : digest(options.token);
  }

  /**
   * Resolve the principal or throw UnauthenticatedError. Without a hook the
   * answer is immediate (no promise), which keeps the HTTP hot path cheap.
   */
  authenticate(request: IncomingMessage, isUpgrade: boolean): P | Promise<P> {
    if (this.#tokenDigest !== undefined) {
      const token = presentedToken(request, isUpgrade);
      if (token === undefined) throw new UnauthenticatedError("A bearer token is required");
      if (!timingSafeEqual(digest(token), this.#tokenDigest)) throw new UnauthenticatedError("Invalid token");
      return TOKEN as P;
    }
    if (this.#hook === undefined) return ANONYMOUS as P;
    return this.#runHook(request);
  }

  async #runHook(request: IncomingMessage): Promise<P> {
    let principal: P | undefined;
    try {
      principal = await (this.#hook as AuthenticateHook<P>)(request);
    } catch (err) {
      if (err instanceof PraasError && (err.code === "UNAUTHENTICATED" || err.code === "FORBIDDEN")) throw err;
      // A failing hook must not leak its internals to an unauthenticated caller.
      throw new UnauthenticatedError("Authentication failed");
    }
    if (principal === undefined || principal === null) throw new UnauthenticatedError();
    return principal;
  }

  /**
   * Throw ForbiddenError unless allowed. Returns undefined when decided
   * synchronously (the common case, so calls pay no extra promise), else a promise.
   */
  authorize(principal: P, type: string, key: string, method: string): Promise<void> | undefined {
    if (this.#authorize === undefined) return undefined;
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.#authorize(principal, type, key, method);
    } catch (err) {
      return Promise.reject(forbidden(err, type, key, method));
    }
    if (verdict === true) return undefined;
    if (verdict === false) return Promise.reject(forbidden(undefined, type, key, method));
    return Promise.resolve(verdict).then(
      (ok) => {
        if (ok !== true) throw forbidden(undefined, type, key, method);
      },
      (err) => {
        throw forbidden(err, type, key, method);
      },
    );
  }
}

function forbidden(err: unknown, type: string, key: string, method: string): PraasError {
  if (err instanceof PraasError && err.code === "FORBIDDEN") return err;
  return new ForbiddenError(`Not allowed: ${method} on ${type}/${key}`);
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);

/** Is `host` reachable only from this machine? */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}
