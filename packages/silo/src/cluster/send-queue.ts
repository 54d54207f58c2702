/**
 * The outgoing side of one silo connection: envelopes queued by this
 * event-loop turn's callbacks go out as one frame (a full frame's worth at
 * once), nothing is written while the socket buffers more than the high-water
 * mark, and a frame that one envelope spoils (too big, not encodable) is sent
 * without it while that envelope's call is failed or its reply replaced by an
 * error. The queue only grows while the socket is blocked; the connection
 * refuses new calls once it holds `maxQueued`.
 */
import { CodecError, type PraasError, serializeError } from "@praas/core/internal";
import type { WebSocket } from "ws";
import { CALL, type Envelope, ERR, encodeFrame, OK } from "./frames.js";
import type { ConnectionLimits } from "./peer-connection.js";

/** What the send queue needs from its connection. */
export interface SendQueueHost {
  /** Call `id` cannot be sent (its envelope is too big or not encodable): fail it with `error`. */
  unsendable(id: number, error: PraasError): void;
  /** Everything queued was written. */
  emptied(): void;
}

export class SendQueue {
  readonly #ws: WebSocket;
  readonly #limits: ConnectionLimits;
  readonly #host: SendQueueHost;
  /** Frames may be written (the connection is open). */
  #open = false;
  #queue: Envelope[] = [];
  #flushScheduled = false;
  /** The socket is over its high-water mark: wait for it to drain. */
  #blocked = false;

  constructor(ws: WebSocket, limits: ConnectionLimits, host: SendQueueHost) {
    this.#ws = ws;
    this.#limits = limits;
    this.#host = host;
  }

  /** Envelopes waiting to be written. */
  get length(): number {
    return this.#queue.length;
  }

  /** The connection opened: write from now on. */
  start(): void {
    this.#open = true;
    this.#schedule();
  }

  /** Queue `envelope`; it goes out with this turn's frame (or once the socket drained). */
  push(envelope: Envelope): void {
    this.#queue.push(envelope);
    if (this.#blocked) return;
    if (this.#queue.length >= this.#limits.maxEnvelopesPerFrame) {
      // A full frame's worth: send it now, so only backpressure (never a burst) fills the queue.
      this.#flush();
      return;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Once per event-loop turn: everything queued by this turn's callbacks goes in one frame.
      process.nextTick(this.#flush);
    }
  }

  /** Before a close: answers already computed still go out (the close frame follows them); calls stay queued. */
  flushAnswers(): void {
    if (!this.#open || this.#queue.length === 0) return;
    const answers = this.#queue.filter((e) => e[0] !== CALL);
    if (answers.length > 0) {
      this.#queue = this.#queue.filter((e) => e[0] === CALL);
      this.#sendFrame(answers);
    }
  }

  /** The connection closed: write nothing more; returns what was never written. */
  close(): Envelope[] {
    this.#open = false;
    const left = this.#queue;
    this.#queue = [];
    return left;
  }

  #schedule(): void {
    if (this.#queue.length > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (!this.#open || this.#queue.length === 0) return;
    if (this.#ws.bufferedAmount > this.#limits.highWaterBytes) {
      this.#block();
      return;
    }
    const batch = this.#queue;
    this.#queue = [];
    const per = this.#limits.maxEnvelopesPerFrame;
    for (let i = 0; i < batch.length; i += per) {
      const part = batch.length <= per ? batch : batch.slice(i, i + per);
      this.#sendFrame(part);
      if (!this.#open) return;
      if (this.#ws.bufferedAmount > this.#limits.highWaterBytes && i + per < batch.length) {
        // Keep the rest for when the socket has drained.
        this.#queue = batch.slice(i + per).concat(this.#queue);
        this.#block();
        return;
      }
    }
    if (this.#queue.length === 0) this.#host.emptied();
  };

  #block(): void {
    if (this.#blocked) return;
    this.#blocked = true;
    // The send callback of the last frame normally wakes us; this is the safety net.
    const recheck = (): void => {
      if (!this.#blocked || !this.#open) return;
      if (this.#ws.bufferedAmount <= this.#limits.highWaterBytes) this.#unblock();
      else setTimeout(recheck, 20).unref();
    };
    setTimeout(recheck, 20).unref();
  }

  #unblock(): void {
    this.#blocked = false;
    this.#schedule();
  }

  readonly #onSent = (err?: Error): void => {
    if (err === undefined && this.#blocked && this.#ws.bufferedAmount <= this.#limits.highWaterBytes) {
      this.#unblock();
    }
  };

  #sendFrame(envelopes: Envelope[]): void {
    let bytes: Uint8Array | undefined;
    try {
      bytes = encodeFrame(envelopes);
    } catch {
      bytes = undefined;
    }
    if (bytes !== undefined && bytes.length <= this.#limits.maxFrameBytes) {
      this.#ws.send(bytes, this.#onSent);
      return;
    }
    // One envelope spoils the frame (too big, or not encodable): send the others, answer for that one.
    const good: Uint8Array[] = [];
    for (const env of envelopes) {
      const one = this.#encodeOne(env);
      if (one !== undefined) good.push(one);
    }
    for (const frame of good) {
      this.#ws.send(frame, this.#onSent);
    }
  }

  /** A one-envelope frame, or undefined after failing the envelope's call or replacing its reply. */
  #encodeOne(env: Envelope): Uint8Array | undefined {
    const limit = this.#limits.maxFrameBytes;
    let problem: string;
    try {
      const bytes = encodeFrame([env]);
      if (bytes.length <= limit) return bytes;
      problem = `is ${bytes.length} bytes, over the ${limit}-byte frame limit between silos`;
    } catch (err) {
      problem = `cannot be encoded: ${(err as Error).message}`;
    }
    switch (env[0]) {
      case CALL:
        this.#host.unsendable(env[1], new CodecError(`Call ${env[2]}/${env[3]}.${env[4]} ${problem}`));
        return undefined;
      case OK:
      case ERR: {
        const error = serializeError(new CodecError(`Reply ${problem}`));
        return encodeFrame([[ERR, env[1], error, false]]);
      }
      default:
        return undefined;
    }
  }
}
