/**
 * A call on its way to another silo: adapts a {@link Call} (whose deadline
 * stays in this silo's deadline queue) to what a connection needs to send it
 * and to report how it ended.
 */
import {
  type ChainLink,
  deserializeError,
  type PraasError,
  type SerializedError,
  type TraceCarrier,
} from "@praas/core/internal";
import type { Call } from "../call.js";
import { endHop, type HopTrace } from "../tracing.js";
import type { OutboundCall } from "./peer-connection.js";

/** What a remote request needs from the router that sent it: what happens to a call that came back unrun. */
export interface RemoteRequestHost {
  /** The owner refused it before any actor ran it: it may be sent again. */
  notRun(call: Call, error: PraasError): void;
}

export class RemoteRequest implements OutboundCall {
  constructor(
    readonly call: Call,
    readonly hops: number,
    readonly host: RemoteRequestHost,
    /** This hop's span, when the call is traced. */
    readonly hop?: HopTrace,
  ) {}

  get trace(): TraceCarrier | undefined {
    return this.hop?.carrier;
  }

  get done(): boolean {
    return this.call.done;
  }
  get deadline(): number {
    return this.call.deadline;
  }
  get type(): string {
    return this.call.type;
  }
  get key(): string {
    return this.call.key;
  }
  get method(): string {
    return this.call.method;
  }
  get args(): readonly unknown[] {
    return this.call.args;
  }
  get chain(): readonly ChainLink[] {
    return this.call.chain;
  }

  replied(ok: boolean, value: unknown, notRun: boolean): void {
    if (this.hop !== undefined) endHop(this.hop, ok ? undefined : deserializeError(value as SerializedError));
    if (ok) {
      this.call.resolve(value);
      return;
    }
    const error = deserializeError(value as SerializedError);
    if (notRun) this.host.notRun(this.call, error);
    else this.call.reject(error);
  }

  refused(error: PraasError): void {
    endHop(this.hop, error);
    this.call.reject(error);
  }

  lost(error: PraasError): void {
    endHop(this.hop, error);
    // At most once: it may have run, so only the caller (with `retry`) may send it again.
    this.call.reject(error);
  }
}
