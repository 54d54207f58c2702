import { randomBytes } from "node:crypto";
import { type ActorId, actorIdString, encodeTrusted } from "@praas/core/internal";
import type { Silo } from "../silo.js";

/** One recorded event, encoded once so every subscriber's frame is a few byte copies. */
export interface RecordedEvent {
  readonly seq: number;
  readonly event: string;
  /** CBOR of the event name and of the payload (also a snapshot: later mutation by the actor does not change it). */
  readonly eventBytes: Uint8Array;
  readonly payloadBytes: Uint8Array;
}

export interface StreamSubscriber {
  deliver(ev: RecordedEvent): void;
}

/** Where to resume a subscription: the stream id and last number the client saw. */
export interface ResumePoint {
  readonly stream: string | undefined;
  readonly after: number;
}

export interface AttachResult {
  readonly stream: EventStream;
  /** Events the client missed and the stream still holds, oldest first. */
  readonly replay: readonly RecordedEvent[];
  /** Events the client missed and the stream no longer holds (`to` null: unknown, the numbering restarted). */
  readonly gap: { readonly from: number; readonly to: number | null } | undefined;
}

/**
 * The events of one actor under one name ("*": all of its events), numbered
 * from 1, with a ring of the most recent ones for replay after a reconnect.
 */
export class EventStream {
  /** Random per stream: a client resuming with another id knows the numbering restarted. */
  readonly id = randomBytes(6).toString("base64url");
  seq = 0;
  readonly subscribers = new Set<StreamSubscriber>();
  readonly #ring: (RecordedEvent | undefined)[];
  #head = 0;
  #size = 0;
  /** The recording subscription, then one presence subscription per extra client (see EventStreams). */
  readonly offs: (() => void)[] = [];
  lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly key: string,
    readonly actor: ActorId,
    readonly event: string,
    capacity: number,
  ) {
    this.#ring = new Array(capacity);
  }

  record(event: string, payload: unknown): void {
    const ev: RecordedEvent = {
      seq: ++this.seq,
      event,
      eventBytes: encodeTrusted(event),
      payloadBytes: encodeTrusted(payload),
    };
    const cap = this.#ring.length;
    this.#ring[(this.#head + this.#size) % cap] = ev;
    if (this.#size < cap) this.#size++;
    else this.#head = (this.#head + 1) % cap;
    for (const s of this.subscribers) s.deliver(ev);
  }

  /** Number of the oldest event still held (seq + 1 when none is). */
  get oldest(): number {
    return this.seq - this.#size + 1;
  }

  /** Held events numbered after `after`. */
  since(after: number): RecordedEvent[] {
    const out: RecordedEvent[] = [];
    const cap = this.#ring.length;
    for (let i = 0; i < this.#size; i++) {
      const ev = this.#ring[(this.#head + i) % cap] as RecordedEvent;
      if (ev.seq > after) out.push(ev);
    }
    return out;
  }
}

/**
 * The gateway's event streams. A stream holds ONE recording subscription in
 * the silo (so each event is numbered and encoded once however many clients
 * listen) plus one presence subscription per additional client, so that an
 * actor's `subscriberCount()` still counts clients. When the last client of a
 * stream drops without unsubscribing (a network blip), the stream keeps
 * recording for `retentionMs` so that the client can come back and replay what
 * it missed; such a lingering stream counts as one subscriber.
 */
export class EventStreams {
  readonly #streams = new Map<string, EventStream>();

  constructor(
    private readonly silo: Silo,
    private readonly capacity: number,
    private readonly retentionMs: number,
  ) {}

  get size(): number {
    return this.#streams.size;
  }

  attach(actor: ActorId, event: string, subscriber: StreamSubscriber, resume: ResumePoint | undefined): AttachResult {
    const key = `${actorIdString(actor.type, actor.key)}\u0000${event}`;
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      const s = new EventStream(key, actor, event, this.capacity);
      s.offs.push(this.silo.subscribe(actor, event, (name, payload) => s.record(name, payload)));
      this.#streams.set(key, s);
      stream = s;
    } else if (stream.subscribers.size > 0) {
      // A fresh function each time: the silo keeps listeners in a Set, which would merge identical ones.
      stream.offs.push(this.silo.subscribe(actor, event, () => {}));
    }
    if (stream.lingerTimer !== undefined) {
      clearTimeout(stream.lingerTimer);
      stream.lingerTimer = undefined;
    }
    stream.subscribers.add(subscriber);
    if (resume === undefined) return { stream, replay: [], gap: undefined };
    if (resume.stream !== stream.id) {
      // The stream the client knew is gone (expired, or this is another silo): events may have been lost.
      return { stream, replay: [], gap: { from: resume.after + 1, to: null } };
    }
    if (resume.after >= stream.seq) return { stream, replay: [], gap: undefined };
    const oldest = stream.oldest;
    const gap = resume.after + 1 < oldest ? { from: resume.after + 1, to: oldest - 1 } : undefined;
    return { stream, replay: stream.since(resume.after), gap };
  }

  /** A subscriber leaves; `linger`: it dropped (may come back), rather than unsubscribed. */
  detach(stream: EventStream, subscriber: StreamSubscriber, linger: boolean): void {
    if (!stream.subscribers.delete(subscriber)) return;
    if (stream.subscribers.size > 0) {
      stream.offs.pop()?.();
      return;
    }
    if (!linger) {
      this.#drop(stream);
      return;
    }
    stream.lingerTimer = setTimeout(() => this.#drop(stream), this.retentionMs);
    stream.lingerTimer.unref();
  }

  #drop(stream: EventStream): void {
    if (stream.lingerTimer !== undefined) clearTimeout(stream.lingerTimer);
    stream.lingerTimer = undefined;
    for (const off of stream.offs) off();
    stream.offs.length = 0;
    if (this.#streams.get(stream.key) === stream) this.#streams.delete(stream.key);
  }

  close(): void {
    for (const s of [...this.#streams.values()]) this.#drop(s);
  }
}
