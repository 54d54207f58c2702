import type { SubscribeResult } from "@praas/core";
import type { EventInfo, EventListener, Gap, OnOptions } from "./ref.js";

interface Entry {
  readonly listener: EventListener<unknown>;
  readonly options: OnOptions | undefined;
}

/**
 * One subscription of the client to one actor's event (whatever the number of
 * local listeners). It outlives connections: after a reconnect it is sent
 * again with the stream id and the last number seen, and the gateway replays
 * what was missed (or reports a gap).
 */
export class ClientSubscription {
  readonly entries = new Set<Entry>();
  /** The gateway's number for it on the current connection (undefined until confirmed). */
  serverSub: number | undefined;
  stream: string | undefined;
  lastSeq = 0;
  /** Unsubscribed while its sub frame was in flight: unsubscribe when confirmed. */
  cancelled = false;
  readonly ready: Promise<void>;
  #settle: ((err?: Error) => void) | undefined;

  constructor(
    readonly key: string,
    readonly type: string,
    readonly actorKey: string,
    readonly event: string,
    private readonly report: (err: unknown) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    // Nobody has to await `ready`: a refusal also reaches onError listeners.
    this.ready.catch(() => {});
  }

  add(listener: EventListener<unknown>, options: OnOptions | undefined): Entry {
    const e = { listener, options };
    this.entries.add(e);
    return e;
  }

  /** The gateway confirmed the subscription on the current connection. */
  confirmed(r: SubscribeResult): void {
    this.serverSub = r.sub;
    if (this.stream !== r.stream) {
      // First subscription, or a new stream (numbering restarted; the gateway sent a gap if it mattered).
      this.stream = r.stream;
      this.lastSeq = r.seq;
    }
    this.#settle?.();
    this.#settle = undefined;
  }

  refused(err: Error): void {
    this.#settle?.(err);
    this.#settle = undefined;
    for (const e of this.entries) this.#safely(() => e.options?.onError?.(err));
  }

  deliver(seq: number, event: string, payload: unknown): void {
    // Replays after a reconnect may overlap what already arrived: each number once.
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    const info: EventInfo = { event, seq };
    for (const e of this.entries) this.#safely(() => e.listener(payload, info));
  }

  gap(gap: Gap): void {
    if (gap.to !== null && gap.to > this.lastSeq) this.lastSeq = gap.to;
    for (const e of this.entries) this.#safely(() => e.options?.onGap?.(gap));
  }

  /** A throwing listener must not break the client or the other listeners. */
  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err);
    }
  }
}
