/**
 * Call tracking: every request of a client (call, send, invoke) from the
 * moment it is encoded to its end — waiting in the queue for a connection or
 * for room under the gateway's in-flight limit, then pending by id until its
 * reply, its deadline, or the loss of the connection it was sent on. A call
 * that was never sent waits through reconnects and goes out on the next
 * connection; one that was sent is never resent (it may have run). One
 * deadline queue serves every call, so a call costs no timer of its own.
 */
import {
  ConnectionLostError,
  DeadlineQueue,
  Deque,
  deserializeError,
  OverloadedError,
  PayloadTooLargeError,
  QueuedDeadline,
  type ServerFrame,
  systemClock,
  TimeoutError,
} from "@praas/core/internal";

/** What call tracking needs of the connection. */
export interface CallLink {
  /** The gateway has greeted the current socket: calls may be sent. */
  readonly ready: boolean;
  readonly maxFrameBytes: number;
  readonly maxInFlight: number;
  send(bytes: Uint8Array): void;
  /** A call waits: connect if the client is idle. */
  wake(): void;
  /** A call sent on the current connection got no reply in time: check that the connection still lives. */
  callTimedOut(): void;
}

/** One call from send to answer; its own deadline-queue entry, so a call costs no timer of its own. */
class PendingCall extends QueuedDeadline {
  done = false;
  sent = false;

  constructor(
    readonly id: number,
    readonly bytes: Uint8Array,
    readonly type: string,
    readonly key: string,
    readonly method: string,
    readonly timeoutMs: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: unknown) => void,
    readonly onExpire: (pc: PendingCall) => void,
  ) {
    super();
  }

  expire(): void {
    this.onExpire(this);
  }
}

export class CallTracker {
  readonly #link: CallLink;
  readonly #maxQueued: number;
  /** Calls sent on the current connection and not answered. */
  readonly #pending = new Map<number, PendingCall>();
  readonly #queue = new Deque<PendingCall>();
  /** Queued calls not yet settled (the queue also holds expired ones until they reach its head). */
  #queuedLive = 0;
  /** One timer for every call's deadline (see DeadlineQueue). */
  readonly #deadlines = new DeadlineQueue(systemClock);
  readonly #onExpire = (pc: PendingCall) => this.#expire(pc);

  constructor(link: CallLink, maxQueued: number) {
    this.#link = link;
    this.#maxQueued = maxQueued;
  }

  /** Calls waiting for a connection (a reason to reconnect). */
  get waiting(): number {
    return this.#queuedLive;
  }

  /** Send a request frame (already encoded with `id`) and await its answer within `timeoutMs`. */
  request(
    id: number,
    bytes: Uint8Array,
    type: string,
    key: string,
    method: string,
    timeoutMs: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const pc = new PendingCall(id, bytes, type, key, method, timeoutMs, resolve, reject, this.#onExpire);
      this.#deadlines.add(pc, timeoutMs);
      const link = this.#link;
      if (link.ready && this.#pending.size < link.maxInFlight) this.#send(pc);
      else this.#enqueue(pc);
    });
  }

  /** Settle the call a reply answers; false when no call has its id (a subscription's, or one that timed out). */
  answer(f: Extract<ServerFrame, { t: "ok" | "err" }>): boolean {
    if (f.id === null) return false;
    const pc = this.#pending.get(f.id);
    if (pc === undefined) return false;
    this.#pending.delete(f.id);
    if (f.t === "ok") this.#settle(pc, f.value, true);
    else this.#settle(pc, deserializeError(f.error), false);
    this.pump();
    return true;
  }

  /** Send queued calls while the connection has room under the gateway's in-flight limit. */
  pump(): void {
    const link = this.#link;
    while (link.ready && this.#queue.length > 0 && this.#pending.size < link.maxInFlight) {
      const pc = this.#queue.shift() as PendingCall;
      if (pc.done) continue;
      this.#queuedLive--;
      this.#send(pc);
    }
  }

  /** The connection dropped: calls sent on it fail, for they may or may not have run. */
  connectionLost(code: number, reason: string): void {
    const lost = [...this.#pending.values()];
    this.#pending.clear();
    for (const pc of lost) {
      this.#settle(
        pc,
        new ConnectionLostError(
          `Connection lost (${code}${reason ? ` ${reason}` : ""}) during ${describe(pc)}; it may or may not have run`,
        ),
        false,
      );
    }
  }

  /** Calls waiting for a connection fail with `err` (the client gave up reconnecting). */
  failQueued(err: unknown): void {
    for (const pc of this.#queue.drain()) this.#settle(pc, err, false);
    this.#queuedLive = 0;
  }

  /** The client closed: every call fails with `err` and the deadline timer stops. */
  close(err: unknown): void {
    this.failQueued(err);
    for (const pc of this.#pending.values()) this.#settle(pc, err, false);
    this.#pending.clear();
    this.#deadlines.close();
  }

  #send(pc: PendingCall): void {
    const link = this.#link;
    if (pc.bytes.length > link.maxFrameBytes) {
      this.#settle(pc, new PayloadTooLargeError(pc.bytes.length, link.maxFrameBytes), false);
      return;
    }
    pc.sent = true;
    this.#pending.set(pc.id, pc);
    link.send(pc.bytes);
  }

  #enqueue(pc: PendingCall): void {
    if (this.#queuedLive >= this.#maxQueued) {
      this.#settle(pc, new OverloadedError(`More than ${this.#maxQueued} calls waiting for the connection`), false);
      return;
    }
    this.#queue.push(pc);
    this.#queuedLive++;
    this.#link.wake();
  }

  #expire(pc: PendingCall): void {
    if (pc.done) return;
    if (!pc.sent) this.#queuedLive--;
    // A sent call stays in #pending until its answer comes, so the in-flight count stays true.
    this.#settle(pc, new TimeoutError(`${describe(pc)} got no reply within ${pc.timeoutMs} ms`), false);
    if (pc.sent) this.#link.callTimedOut();
  }

  #settle(pc: PendingCall, value: unknown, ok: boolean): void {
    this.#deadlines.remove(pc);
    if (pc.done) return;
    pc.done = true;
    if (ok) pc.resolve(value);
    else pc.reject(value);
  }
}

/** A request for error messages: "Call Type/key.method", "Invoke Type.method", "Send to Type/key on channel". */
function describe(pc: PendingCall): string {
  if (pc.key === "") return `Invoke ${pc.type}.${pc.method}`;
  if (pc.method.startsWith("@send:")) return `Send to ${pc.type}/${pc.key} on ${JSON.stringify(pc.method.slice(6))}`;
  return `Call ${pc.type}/${pc.key}.${pc.method}`;
}
