/**
 * Request/reply matching on one silo connection: the calls sent on it and not
 * answered yet, by request id. Ids are per connection, so a reply can only
 * come back on the connection its call left on. No timers here: each call's
 * own deadline fails it locally (remote-request.ts), and when the connection
 * dies its calls are split into the ones that never left (sent again
 * elsewhere) and the ones that may have run.
 */
import { CALL, type Envelope, type ErrEnvelope, OK, type OkEnvelope } from "./frames.js";
import type { OutboundCall } from "./peer-connection.js";

export class PendingCalls {
  readonly #calls = new Map<number, OutboundCall>();
  #nextId = 1;

  get size(): number {
    return this.#calls.size;
  }

  /** Register `call` for its reply; returns the request id to send it with. */
  add(call: OutboundCall): number {
    const id = this.#nextId++;
    this.#calls.set(id, call);
    return id;
  }

  /** Take call `id` out: its envelope could not be sent. */
  take(id: number): OutboundCall | undefined {
    const call = this.#calls.get(id);
    this.#calls.delete(id);
    return call;
  }

  /** Hand a reply to its call; false when no call waits for that id. */
  settle(reply: OkEnvelope | ErrEnvelope): boolean {
    const call = this.#calls.get(reply[1]);
    if (call === undefined) return false;
    this.#calls.delete(reply[1]);
    if (reply[0] === OK) call.replied(true, reply[2], false);
    else call.replied(false, reply[2], reply[3]);
    return true;
  }

  /**
   * The connection died: every call is out. `queued` are the envelopes that
   * were never written; their calls are `unsent`, the others `lost` (they may have run).
   */
  clear(queued: readonly Envelope[]): { unsent: OutboundCall[]; lost: OutboundCall[] } {
    const queuedIds = new Set<number>();
    for (const env of queued) if (env[0] === CALL) queuedIds.add(env[1]);
    const unsent: OutboundCall[] = [];
    const lost: OutboundCall[] = [];
    for (const [id, call] of this.#calls) (queuedIds.has(id) ? unsent : lost).push(call);
    this.#calls.clear();
    return { unsent, lost };
  }
}
