/**
 * Requests addressed to a silo itself rather than to an actor: one silo asks
 * another for something only that silo knows (the dashboard's per-silo
 * statistics, what it knows of an activation it hosts). They travel as an
 * ordinary call envelope of the reserved type {@link SILO_TYPE} (no actor
 * type can start with "#"; the hand-over question of handover.ts is its
 * "released" method) whose key is the id of the silo asked, so a request
 * meant for an older incarnation is refused instead of answered by the wrong
 * one. They are never routed, forwarded or retried, and they run no turn: the
 * receiving node hands them straight to the handler registered for the method.
 */
import {
  type ChainLink,
  type Clock,
  deserializeError,
  PraasError,
  type SerializedError,
  SiloUnavailableError,
  TimeoutError,
} from "@praas/core/internal";
import { SILO_TYPE } from "./handover.js";
import type { OutboundCall } from "./peer-connection.js";

export const SILO_REQUEST_TYPE = SILO_TYPE;

/** Answers one kind of silo request; its value travels as CBOR. */
export type SiloRequestHandler = (args: readonly unknown[]) => unknown;

/** No handler for this silo request here (the silo runs no gateway, or an older version). */
export class SiloRequestNotHandledError extends PraasError {
  constructor(method: string) {
    super("SILO_REQUEST_NOT_HANDLED", `This silo does not answer ${JSON.stringify(method)} requests`);
  }
}

/** The handlers this silo answers other silos' requests with, by method. */
export class SiloRequests {
  readonly #handlers = new Map<string, SiloRequestHandler>();

  /** Answer `method` with `handler` (replacing any other); returns the function that removes it. */
  handle(method: string, handler: SiloRequestHandler): () => void {
    this.#handlers.set(method, handler);
    return () => {
      if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
    };
  }

  async answer(method: string, args: readonly unknown[]): Promise<unknown> {
    const handler = this.#handlers.get(method);
    if (handler === undefined) throw new SiloRequestNotHandledError(method);
    return await handler(args);
  }
}

const NO_CHAIN: readonly ChainLink[] = [];

/** A silo request on its way to a peer, settled by the reply or by its own deadline. */
export class OutboundSiloRequest implements OutboundCall {
  readonly type = SILO_REQUEST_TYPE;
  readonly chain = NO_CHAIN;
  readonly hops = 0;
  readonly deadline: number;
  readonly promise: Promise<unknown>;
  done = false;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(
    /** The silo asked. */
    readonly key: string,
    readonly method: string,
    readonly args: readonly unknown[],
    clock: Clock,
    timeoutMs: number,
  ) {
    this.deadline = clock.now() + timeoutMs;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#timer = setTimeout(
      () => this.#settle(false, new TimeoutError(`Silo ${key} did not answer ${method} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.#timer.unref();
  }

  replied(ok: boolean, value: unknown): void {
    this.#settle(ok, ok ? value : deserializeError(value as SerializedError));
  }

  refused(error: PraasError): void {
    this.#settle(false, error);
  }

  lost(error: PraasError): void {
    this.#settle(false, error);
  }

  #settle(ok: boolean, value: unknown): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.#timer);
    if (ok) this.#resolve(value);
    else this.#reject(value);
  }
}

/** The error for a request addressed to an incarnation that is not this one. */
export function wrongSilo(asked: string, self: string): SiloUnavailableError {
  return new SiloUnavailableError(`Silo request for ${asked} reached ${self}`);
}
