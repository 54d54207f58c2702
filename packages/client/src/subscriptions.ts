/**
 * The client's subscriptions to actor events: one per actor and event name
 * whatever the number of local listeners, each outliving connections (sent
 * again after a reconnect with its stream and last number, so the gateway
 * replays what was missed), and the table that maps the gateway's numbers on
 * the current connection to them.
 */
import {
  deserializeError,
  type EventFrame,
  encodeTrusted,
  type GapFrame,
  InvalidArgumentError,
  type PraasError,
  ProtocolError,
  type RefTarget,
  type ServerFrame,
  type SubscribeResult,
} from "@praas/core/internal";
import { isSubscribeResult } from "./protocol.js";
import type { EventInfo, EventListener, Gap, OnOptions, Subscription } from "./ref.js";

/** What subscriptions need of the connection. */
export interface SubscriptionLink {
  readonly ready: boolean;
  send(bytes: Uint8Array): void;
  /** A subscription waits: connect if the client is idle. */
  wake(): void;
  /** The id of the next request frame (shared with calls, so a reply names one of them). */
  takeId(): number;
}

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

/** Every subscription of a client, by actor and event, and by the gateway's numbers on the current connection. */
export class SubscriptionTable {
  readonly #link: SubscriptionLink;
  readonly #report: (err: unknown) => void;
  /** By actor id and event name. */
  readonly #subs = new Map<string, ClientSubscription>();
  /** Sub frames sent on the current connection and not answered, by request id. */
  readonly #requests = new Map<number, ClientSubscription>();
  /** Confirmed on the current connection, by the gateway's number (what ev and gap frames carry). */
  readonly #byServerSub = new Map<number, ClientSubscription>();

  constructor(link: SubscriptionLink, report: (err: unknown) => void) {
    this.#link = link;
    this.#report = report;
  }

  /** How many subscriptions there are (a reason to reconnect). */
  get size(): number {
    return this.#subs.size;
  }

  /** Behind `ref.on(event, listener)`: a listener joins the actor's subscription to `event`, made if new. */
  add(target: RefTarget, event: string, listener: EventListener<unknown>, options?: OnOptions): Subscription {
    if (typeof event !== "string" || event.length === 0 || event.length > 256) {
      throw new InvalidArgumentError("An event name is a non-empty string of at most 256 chars");
    }
    if (typeof listener !== "function") throw new InvalidArgumentError("on() needs a listener function");
    const k = `${target.idString}\u0000${event}`;
    let sub = this.#subs.get(k);
    if (sub === undefined) {
      sub = new ClientSubscription(k, target.id.type, target.id.key, event, this.#report);
      this.#subs.set(k, sub);
      if (this.#link.ready) this.#sendSub(sub);
      else this.#link.wake();
    }
    const s = sub;
    const entry = s.add(listener, options);
    const off = () => {
      if (!s.entries.delete(entry) || s.entries.size > 0) return;
      if (this.#subs.get(k) === s) this.#subs.delete(k);
      if (s.serverSub !== undefined && this.#link.ready) {
        this.#byServerSub.delete(s.serverSub);
        this.#sendUnsub(s.serverSub);
      } else s.cancelled = true;
    };
    return Object.assign(off, { ready: s.ready });
  }

  /** A reply that answers no call: a sub frame's (or an unsub's, or a timed-out call's: ignored). */
  answer(f: Extract<ServerFrame, { t: "ok" | "err" }>): void {
    const id = f.id;
    if (id === null) return;
    const sub = this.#requests.get(id);
    if (sub === undefined) return;
    this.#requests.delete(id);
    if (f.t === "err") {
      if (this.#subs.get(sub.key) === sub) this.#subs.delete(sub.key);
      sub.refused(deserializeError(f.error));
      return;
    }
    if (!isSubscribeResult(f.value)) {
      this.#report(new ProtocolError("The gateway answered a subscription with an unexpected value"));
      return;
    }
    sub.confirmed(f.value);
    if (sub.cancelled || this.#subs.get(sub.key) !== sub) this.#sendUnsub(f.value.sub);
    else this.#byServerSub.set(f.value.sub, sub);
  }

  event(f: EventFrame): void {
    this.#byServerSub.get(f.sub)?.deliver(f.seq, f.event, f.payload);
  }

  gap(f: GapFrame): void {
    this.#byServerSub.get(f.sub)?.gap({ from: f.from, to: f.to });
  }

  /** A new connection is ready: subscribe again, each from the last event it saw. */
  resend(): void {
    for (const sub of this.#subs.values()) this.#sendSub(sub);
  }

  /** The connection dropped: the gateway's numbers for the subscriptions are void. */
  connectionLost(): void {
    this.#requests.clear();
    this.#byServerSub.clear();
    for (const sub of this.#subs.values()) sub.serverSub = undefined;
  }

  /** The client gave up reconnecting: every subscription fails with `err` and is gone. */
  failAll(err: PraasError): void {
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const sub of subs) sub.refused(err);
  }

  #sendSub(sub: ClientSubscription): void {
    const id = this.#link.takeId();
    this.#requests.set(id, sub);
    const base = { t: "sub", id, type: sub.type, key: sub.actorKey, event: sub.event };
    this.#link.send(
      encodeTrusted(sub.stream === undefined ? base : { ...base, after: sub.lastSeq, stream: sub.stream }),
    );
  }

  #sendUnsub(serverSub: number): void {
    this.#link.send(encodeTrusted({ t: "unsub", id: this.#link.takeId(), sub: serverSub }));
  }
}
