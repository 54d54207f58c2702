/**
 * The drain protocol of one silo connection. A silo that stops sends "bye";
 * the peer routes nothing new to it and answers "byeAck" — envelopes travel
 * in order, so everything the peer sent before the ack has arrived by then.
 * The connection is *quiet* once our bye is acknowledged and nothing is in
 * flight either way: no call of ours unanswered, no call of the peer's
 * unanswered, nothing waiting to be written. The stopping silo waits for that
 * (bounded) before it closes, so no call is cut off half-way.
 */

/** What the drain protocol reads from its connection. */
export interface DrainHost {
  readonly isClosed: boolean;
  /** Calls sent on the connection and not answered yet. */
  readonly pendingCalls: number;
  /** Envelopes waiting to be written. */
  readonly queued: number;
}

export class ConnectionDrain {
  readonly #host: DrainHost;
  /** The peer announced it is draining. */
  byeReceived = false;
  #byeAcked = false;
  /** Calls received and not answered yet. */
  #inbound = 0;
  #quietWaiters: (() => void)[] = [];
  #ackWaiters: (() => void)[] = [];

  constructor(host: DrainHost) {
    this.#host = host;
  }

  /** A call from the peer arrived. */
  callArrived(): void {
    this.#inbound++;
  }

  /** A call from the peer was answered. */
  answered(): void {
    if (this.#inbound > 0) this.#inbound--;
    if (this.#inbound === 0) this.check();
  }

  /** The peer acknowledged our bye: it routes nothing new to us. */
  acked(): void {
    this.#byeAcked = true;
    this.check();
  }

  /** The connection closed: the peer's calls will not be answered on it (the caller checks once teardown is done). */
  closed(): void {
    this.#inbound = 0;
  }

  /** Resolves once the peer acknowledged our bye, or the connection closed. */
  whenByeAcked(): Promise<void> {
    if (this.#byeAcked || this.#host.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.#ackWaiters.push(resolve));
  }

  /** Resolves once the connection is quiet (see above), or closed. */
  whenQuiet(): Promise<void> {
    if (this.#isQuiet()) return Promise.resolve();
    return new Promise((resolve) => this.#quietWaiters.push(resolve));
  }

  /** Something the quiet state depends on changed: wake whoever waits for what now holds. */
  check(): void {
    if (this.#ackWaiters.length > 0 && (this.#byeAcked || this.#host.isClosed)) {
      const waiters = this.#ackWaiters;
      this.#ackWaiters = [];
      for (const w of waiters) w();
    }
    if (this.#quietWaiters.length === 0 || !this.#isQuiet()) return;
    const waiters = this.#quietWaiters;
    this.#quietWaiters = [];
    for (const w of waiters) w();
  }

  #isQuiet(): boolean {
    const host = this.#host;
    return host.isClosed || (this.#byeAcked && this.#inbound === 0 && host.pendingCalls === 0 && host.queued === 0);
  }
}
