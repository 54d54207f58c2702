import {
  DeactivatedError,
  type DeadlineQueue,
  type InboxMessage,
  InvalidArgumentError,
  QueuedDeadline,
  type ReceivedMessage,
  TimeoutError,
  validateChannel,
} from "@praas/core/internal";

/** A `recv` waiting for a matching message; also a deadline queue entry. */
class Waiter extends QueuedDeadline {
  done = false;

  constructor(
    readonly channel: string,
    readonly from: string | undefined,
    readonly timeoutMs: number,
    readonly resolve: (m: ReceivedMessage) => void,
    readonly reject: (e: unknown) => void,
    readonly inbox: Inbox,
  ) {
    super();
  }

  expire(reason?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.inbox.dropWaiter(this);
    this.reject(
      reason ??
        new TimeoutError(
          `recv("${this.channel}"${this.from === undefined ? "" : ` from ${this.from}`}) got no message within ${this.timeoutMs} ms`,
        ),
    );
  }
}

/** How many durable message ids an inbox remembers for deduplication. */
const DEDUP_WINDOW = 1024;

/**
 * The inbox of one activation. Messages are kept per channel in arrival order,
 * which keeps them FIFO per (channel, sender); several messages under one
 * channel are all kept. A `recv` takes the oldest match or waits for one.
 */
export class Inbox {
  readonly #channels = new Map<string, InboxMessage[]>();
  readonly #waiters = new Map<string, Waiter[]>();
  /** Ids of durable messages already delivered, oldest first (bounded). */
  #delivered: string[] = [];
  #deliveredSet = new Set<string>();

  constructor(readonly deadlines: DeadlineQueue) {}

  /** Number of messages waiting to be received. */
  get size(): number {
    let n = 0;
    for (const list of this.#channels.values()) n += list.length;
    return n;
  }

  get waiting(): number {
    let n = 0;
    for (const list of this.#waiters.values()) n += list.length;
    return n;
  }

  /** True if this durable message id was delivered before (a resend after a lost acknowledgement). */
  seen(id: string): boolean {
    return this.#deliveredSet.has(id);
  }

  /** Deliver a message: to the oldest matching waiting `recv`, or into the inbox. */
  deliver(message: InboxMessage, durable: boolean): void {
    if (durable) this.#remember(message.id);
    const waiters = this.#waiters.get(message.channel);
    if (waiters !== undefined) {
      const i = waiters.findIndex((w) => w.from === undefined || w.from === message.from);
      if (i >= 0) {
        const w = waiters[i] as Waiter;
        waiters.splice(i, 1);
        if (waiters.length === 0) this.#waiters.delete(message.channel);
        w.done = true;
        this.deadlines.remove(w);
        w.resolve({ channel: message.channel, from: message.from, data: message.data });
        return;
      }
    }
    let list = this.#channels.get(message.channel);
    if (list === undefined) {
      list = [];
      this.#channels.set(message.channel, list);
    }
    list.push(message);
  }

  /** Take the oldest message on `channel` (from `from`, if given), or wait up to `timeoutMs` for one. */
  recv(channel: string, from: string | undefined, timeoutMs: number): Promise<ReceivedMessage> {
    const list = this.#channels.get(channel);
    if (list !== undefined) {
      const i = from === undefined ? 0 : list.findIndex((m) => m.from === from);
      if (i >= 0) {
        const m = list[i] as InboxMessage;
        list.splice(i, 1);
        if (list.length === 0) this.#channels.delete(channel);
        return Promise.resolve({ channel: m.channel, from: m.from, data: m.data });
      }
    }
    return new Promise((resolve, reject) => {
      const w = new Waiter(channel, from, timeoutMs, resolve, reject, this);
      let ws = this.#waiters.get(channel);
      if (ws === undefined) {
        ws = [];
        this.#waiters.set(channel, ws);
      }
      ws.push(w);
      this.deadlines.add(w, timeoutMs);
    });
  }

  dropWaiter(w: Waiter): void {
    const ws = this.#waiters.get(w.channel);
    if (ws === undefined) return;
    const i = ws.indexOf(w);
    if (i >= 0) ws.splice(i, 1);
    if (ws.length === 0) this.#waiters.delete(w.channel);
  }

  /** Fail every waiting `recv`: the activation is going away. */
  failWaiters(actor: string): void {
    for (const ws of this.#waiters.values()) {
      for (const w of ws) {
        if (w.done) continue;
        w.done = true;
        this.deadlines.remove(w);
        w.reject(new DeactivatedError(actor, `recv("${w.channel}") was waiting`));
      }
    }
    this.#waiters.clear();
  }

  /** Unconsumed messages, oldest first per channel, for saving with the state. */
  snapshot(): { messages: InboxMessage[]; delivered: string[] } {
    const messages: InboxMessage[] = [];
    for (const list of this.#channels.values()) messages.push(...list);
    return { messages, delivered: [...this.#delivered] };
  }

  /** Restore what `snapshot` saved (at swap-in). */
  restore(messages: readonly unknown[], delivered: readonly unknown[]): void {
    for (const m of messages) this.deliver(checkMessage(m), false);
    for (const id of delivered) if (typeof id === "string") this.#remember(id);
  }

  #remember(id: string): void {
    if (this.#deliveredSet.has(id)) return;
    this.#delivered.push(id);
    this.#deliveredSet.add(id);
    if (this.#delivered.length > DEDUP_WINDOW) {
      const old = this.#delivered.shift() as string;
      this.#deliveredSet.delete(old);
    }
  }
}

/** Check the shape of a message from storage or the network. */
export function checkMessage(m: unknown): InboxMessage {
  if (typeof m !== "object" || m === null) throw new InvalidArgumentError("A message must be an object");
  const r = m as Record<string, unknown>;
  if (typeof r.id !== "string" || r.id.length === 0 || r.id.length > 128) {
    throw new InvalidArgumentError("A message needs an id of 1–128 chars");
  }
  const channel = validateChannel(r.channel);
  if (r.from !== undefined && r.from !== null && typeof r.from !== "string") {
    throw new InvalidArgumentError("A message sender is a string");
  }
  return { id: r.id, channel, from: typeof r.from === "string" ? r.from : undefined, data: r.data };
}
