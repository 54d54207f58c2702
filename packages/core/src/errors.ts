/**
 * Typed errors with stable codes. Every error that crosses an actor boundary is
 * turned into a plain {@link SerializedError} and rebuilt on the caller's side,
 * even for local calls, so that callers see the same thing whether the actor
 * runs in their process or on another silo.
 */
import { quoteValue } from "./excerpt.js";

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code: string;
  readonly retryable?: boolean;
  readonly data?: unknown;
}

/** Base class of every framework error. `code` is stable and safe to switch on. */
export class PraasError extends Error {
  readonly code: string;
  /** True when the same call may succeed if it is sent again. */
  readonly retryable: boolean;
  readonly data?: unknown;

  constructor(code: string, message: string, options?: { retryable?: boolean; cause?: unknown; data?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
    if (options?.data !== undefined) this.data = options.data;
  }
}

/** A call would wait on an activation already waiting on it (A→B→A). */
export class DeadlockError extends PraasError {
  readonly cycle: readonly string[];
  constructor(cycle: readonly string[]) {
    super("DEADLOCK", `Deadlock: call cycle ${cycle.join(" → ")}`, { data: cycle });
    this.cycle = cycle;
  }
}

/** The call's deadline passed before a reply arrived. */
export class TimeoutError extends PraasError {
  constructor(message: string) {
    super("TIMEOUT", message, { retryable: true });
  }
}

export class MethodNotFoundError extends PraasError {
  constructor(type: string, method: string) {
    super("METHOD_NOT_FOUND", `Actor type ${quoteValue(type)} has no callable method ${quoteValue(method)}`);
  }
}

export class ActorTypeNotFoundError extends PraasError {
  constructor(type: string) {
    super("ACTOR_TYPE_NOT_FOUND", `No actor type ${quoteValue(type)} is registered on this silo`);
  }
}

/** A value the codec cannot carry (function, symbol, class instance, cycle…). */
export class CodecError extends PraasError {
  constructor(message: string) {
    super("CODEC", message);
  }
}

/** A value from outside (network, config, caller) is malformed. */
export class InvalidArgumentError extends PraasError {
  constructor(message: string) {
    super("INVALID_ARGUMENT", message);
  }
}

/** Two actor classes claim the same type name. */
export class DuplicateActorTypeError extends PraasError {
  constructor(type: string) {
    super("DUPLICATE_ACTOR_TYPE", `Actor type "${type}" is registered twice`);
  }
}

/**
 * A state store did not answer in time (the S3 store's `requestTimeoutMs`, the
 * Redis store's `commandTimeoutMs`). The request was given up; a write or delete
 * may or may not have been applied (a `"turn"` activation whose write this was
 * is reset, and its next call loads what the store holds). Retryable.
 */
export class StoreTimeoutError extends PraasError {
  constructor(store: string, what: "read" | "write" | "delete", location: string, timeoutMs: number) {
    const outcome = what === "read" ? "" : "; it may or may not have been applied";
    super("STORE_TIMEOUT", `${store} did not answer the ${what} of ${location} within ${timeoutMs} ms${outcome}`, {
      retryable: true,
    });
  }
}

/** A conditional save found a different version than the one it expected. */
export class StateConflictError extends PraasError {
  /** The version the write was conditional on (null: nothing may be stored). */
  readonly expected: string | null;
  /**
   * The version the store found instead, when it knows it (null: nothing was
   * stored; undefined: the store cannot tell, e.g. S3 answers only 412).
   * Not carried across the wire: a conflict reaches callers as StaleActivationError.
   */
  readonly found?: string | null;
  constructor(location: string, expected: string | null, found?: string | null) {
    const want = expected === null ? "no object" : `version ${expected}`;
    const got = found === undefined ? "" : `, found ${found === null ? "no object" : `version ${found}`}`;
    super("STATE_CONFLICT", `State at ${location} changed since it was loaded (expected ${want}${got})`, {
      retryable: true,
    });
    this.expected = expected;
    if (found !== undefined) this.found = found;
  }
}

/**
 * The embedded store's folder is in use by another live process (or another
 * handle in this one). Two writers on one folder would silently overwrite each
 * other's acknowledged changes, so the second is refused. `data` names the
 * holder: `{ dir, pid, host, since }`.
 */
export class StateDirLockedError extends PraasError {
  constructor(dir: string, holder: { pid: number; host: string; since: string; mode?: string }, hint: string) {
    super(
      "STATE_DIR_LOCKED",
      `State folder ${dir} is in use by process ${holder.pid} on host ${holder.host} (since ${holder.since}${holder.mode === undefined ? "" : `, ${holder.mode}`}); ${hint}`,
      { data: { dir, pid: holder.pid, host: holder.host, since: holder.since } },
    );
  }
}

/**
 * This activation was dropped without writing again: it lost a fencing race
 * (another activation wrote newer state), or a "turn" write of its state
 * failed and it was reset. Retry the call (on a fresh activation).
 */
export class StaleActivationError extends PraasError {
  constructor(actor: string) {
    super(
      "STALE_ACTIVATION",
      `Activation of ${actor} was stale (newer state exists, or a write of its state failed); it was deactivated, retry`,
      {
        retryable: true,
      },
    );
  }
}

/** A stored object could not be decoded: corrupt, truncated, or not ours. */
export class CorruptStateError extends PraasError {
  constructor(location: string, reason: string) {
    super("CORRUPT_STATE", `Stored state at ${location} is unreadable: ${reason}`);
  }
}

/**
 * Stored state has a version the running code cannot read: newer than it knows
 * (code STATE_VERSION_TOO_NEW), or older with no `migrateState` to upgrade it
 * (code STATE_MIGRATION_MISSING).
 */
export class StateVersionError extends PraasError {
  constructor(actor: string, stored: number, known: number) {
    super(
      stored > known ? "STATE_VERSION_TOO_NEW" : "STATE_MIGRATION_MISSING",
      stored > known
        ? `State of ${actor} has version ${stored}, newer than version ${known} this code knows; refusing to misread it`
        : `State of ${actor} has version ${stored}, older than version ${known} of the code, and its class defines no static migrateState to upgrade it`,
    );
  }
}

/** The silo is stopping or stopped and takes no new calls. */
export class SiloStoppedError extends PraasError {
  constructor() {
    super("SILO_STOPPED", "The silo is stopping and accepts no new calls", { retryable: true });
  }
}

/**
 * A turn kept running long after its call's deadline: the activation was
 * abandoned (see docs/architecture.md, "Stuck turns"). Reported in `failure`
 * events, never returned to a caller (the caller already had its TimeoutError).
 */
export class StuckTurnError extends PraasError {
  constructor(actor: string, method: string, overrunMs: number) {
    super("TURN_STUCK", `${actor}: turn ${method} is stuck (still running ${overrunMs} ms after its deadline)`, {
      data: { actor, method, overrunMs },
    });
  }
}

/** The activation was deactivated while this operation was waiting (e.g. a pending recv). */
export class DeactivatedError extends PraasError {
  constructor(actor: string, what: string) {
    super("DEACTIVATED", `${actor} was deactivated while ${what}`, { retryable: true });
  }
}

/** A silo that owned the target became unreachable; the call may or may not have run. */
export class SiloUnavailableError extends PraasError {
  constructor(message: string) {
    super("SILO_UNAVAILABLE", message, { retryable: true });
  }
}

/** An error thrown by user code in an actor method, as the caller sees it. */
export class ActorError extends PraasError {
  /** `retryable`: the thrower said so (a PraasError of a package this process has not loaded, say a store's). */
  constructor(name: string, code: string, message: string, data?: unknown, retryable = false) {
    super(code, message, data === undefined ? { retryable } : { data, retryable });
    this.name = name;
  }
}

const frameworkClasses = new Map<string, { prototype: PraasError }>([
  ["DEADLOCK", DeadlockError],
  ["TIMEOUT", TimeoutError],
  ["METHOD_NOT_FOUND", MethodNotFoundError],
  ["ACTOR_TYPE_NOT_FOUND", ActorTypeNotFoundError],
  ["CODEC", CodecError],
  ["INVALID_ARGUMENT", InvalidArgumentError],
  ["DUPLICATE_ACTOR_TYPE", DuplicateActorTypeError],
  ["STATE_CONFLICT", StateConflictError],
  ["STORE_TIMEOUT", StoreTimeoutError],
  ["STALE_ACTIVATION", StaleActivationError],
  ["STATE_DIR_LOCKED", StateDirLockedError],
  ["CORRUPT_STATE", CorruptStateError],
  ["STATE_VERSION_TOO_NEW", StateVersionError],
  ["STATE_MIGRATION_MISSING", StateVersionError],
  ["SILO_STOPPED", SiloStoppedError],
  ["DEACTIVATED", DeactivatedError],
  ["SILO_UNAVAILABLE", SiloUnavailableError],
  ["TURN_STUCK", StuckTurnError],
]);

/** Register an error class of another package (e.g. the client) so it is rebuilt as itself. */
export function registerErrorClass(code: string, cls: { prototype: PraasError }): void {
  frameworkClasses.set(code, cls);
}

function plainCode(err: Error & { code?: unknown }): string {
  return typeof err.code === "string" && err.code.length > 0 ? err.code : "ACTOR_ERROR";
}

function isPlainData(v: unknown): boolean {
  return v === null || typeof v !== "object" || Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype;
}

/** Turn anything thrown into a serializable record. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof PraasError) {
    const out: { -readonly [K in keyof SerializedError]: SerializedError[K] } = {
      name: err.name,
      message: err.message,
      code: err.code,
    };
    if (err.retryable) out.retryable = true;
    if (err.data !== undefined && isPlainData(err.data)) out.data = err.data;
    return out;
  }
  if (err instanceof Error) {
    return { name: err.name, message: err.message, code: plainCode(err) };
  }
  return { name: "Error", message: typeof err === "string" ? err : "non-Error value thrown", code: "ACTOR_ERROR" };
}

/**
 * Rebuild an error on the caller's side. Framework errors come back as their own
 * class (so `instanceof DeadlockError` works across silos); user errors as
 * {@link ActorError} carrying the original name, message and code.
 */
export function deserializeError(e: SerializedError): PraasError {
  const cls = e.name === "ActorError" ? undefined : frameworkClasses.get(e.code);
  if (cls === undefined) return new ActorError(e.name, e.code, e.message, e.data, e.retryable === true);
  const err = new PraasError(e.code, e.message, { retryable: e.retryable ?? false, data: e.data });
  Object.setPrototypeOf(err, cls.prototype);
  err.name = e.name;
  if (e.code === "DEADLOCK") (err as { cycle?: unknown }).cycle = Array.isArray(e.data) ? e.data : [];
  return err;
}

/** Check that an unknown value has the shape of a SerializedError (for frames from the network). */
export function isSerializedError(v: unknown): v is SerializedError {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.name === "string" && typeof r.message === "string" && typeof r.code === "string";
}
