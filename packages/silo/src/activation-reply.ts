/**
 * The reply step: the last checks before an answer leaves an activation. A
 * reply is where a read takes effect, so it may leave only while the silo may
 * serve (holds its membership lease) and the activation is not a stale copy;
 * a result must be encodable, and an error reaches the caller in its
 * serialized form even in-process, so callers see the same thing everywhere.
 * Kept apart so every path that answers a call (a turn, an inbox delivery, a
 * turn commit) applies the same rules.
 */
import {
  assertEncodable,
  deserializeError,
  type PraasError,
  StaleActivationError,
  serializeError,
} from "@praas/core/internal";
import type { ActivationHost } from "./activation-host.js";
import type { Call } from "./call.js";

/** What the reply step needs from its activation. */
export interface ReplyHost {
  readonly idString: string;
  /** True once a conditional write found newer state (or the silo dropped it): it may not answer. */
  readonly stale: boolean;
  readonly ctx: Pick<ActivationHost, "servingError">;
}

/** Turn an error into what the caller sees: always the serialized form, even in-process. */
export function toCallerError(err: unknown): PraasError {
  return deserializeError(serializeError(err));
}

/**
 * Why `a` must not run or answer a call now: it is stale (its state is not the
 * newest, so neither a read nor a write from it may be acknowledged), or the
 * silo may not serve (no membership lease).
 */
export function refusal(a: ReplyHost): PraasError | undefined {
  // Not serving first: a dropped activation (lost membership) is also stale, but the reason to give is the silo's.
  const notServing = a.ctx.servingError();
  if (notServing !== undefined) return toCallerError(notServing);
  return a.stale ? new StaleActivationError(a.idString) : undefined;
}

/** Answer `call` with its method's outcome, unless `a` may not answer now. */
export function settle(call: Call, ok: boolean, value: unknown, a: ReplyHost): void {
  // The reply is where a read takes effect: without a lease, or from a stale copy, it must not leave.
  const refused = a.ctx.servingError();
  if (refused !== undefined || a.stale) {
    call.reject(refused === undefined ? new StaleActivationError(a.idString) : toCallerError(refused));
    return;
  }
  if (!ok) {
    call.reject(toCallerError(value));
    return;
  }
  try {
    assertEncodable(value, `result of ${call.type}.${call.method}`);
  } catch (err) {
    call.reject(err);
    return;
  }
  call.resolve(value);
}
