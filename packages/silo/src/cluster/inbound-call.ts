/**
 * A call that arrived from another silo. It runs (or is forwarded) like any
 * call; its answer goes back as a reply envelope on the connection it came
 * in on instead of through a promise someone awaits.
 */
import { type ChainLink, type DeadlineQueue, serializeError } from "@praas/core/internal";
import { Call, type CallObserver } from "../call.js";
import type { PeerConnection } from "./peer-connection.js";

function ignore(): void {}

export class InboundCall extends Call {
  /**
   * Set just before rejecting when no actor ran the call (forwarding refused
   * it), so the original caller may send it again.
   */
  notRun = false;

  constructor(
    idString: string,
    type: string,
    key: string,
    method: string,
    args: readonly unknown[],
    chain: readonly ChainLink[],
    interleave: boolean,
    timeoutMs: number,
    deadlines: DeadlineQueue,
    observer: CallObserver | undefined,
    startedAt: number,
    /** Connection to answer on, and the request id to answer. */
    readonly origin: PeerConnection,
    readonly originId: number,
    /** Times this call has been forwarded so far. */
    readonly hops: number,
  ) {
    super(idString, type, key, method, args, chain, interleave, timeoutMs, deadlines, observer, startedAt);
    // Nobody awaits the promise: the reply envelope carries the outcome.
    this.promise.catch(ignore);
  }

  override resolve(value: unknown): void {
    if (this.done) return;
    super.resolve(value);
    this.origin.reply(this.originId, value);
  }

  override reject(error: unknown): void {
    if (this.done) return;
    super.reject(error);
    this.origin.replyError(this.originId, serializeError(error), this.notRun);
  }

  override expire(reason?: unknown): void {
    if (this.done) return;
    super.expire(reason);
    this.origin.replyError(this.originId, serializeError(reason ?? this.timeoutError()), false);
  }
}
