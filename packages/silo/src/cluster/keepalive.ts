/**
 * Dead-peer detection for one silo connection: a ping every interval, and a
 * peer that sent nothing — no message, no pong — for a whole interval since
 * the last ping is declared dead. TCP alone can take minutes to notice a peer
 * whose host vanished; this bounds it to two intervals.
 */
import type { WebSocket } from "ws";

export class Keepalive {
  readonly #ws: WebSocket;
  readonly #intervalMs: number;
  readonly #dead: () => void;
  /** Heard from the peer since the last ping. */
  #alive = true;
  #pinger: ReturnType<typeof setInterval> | undefined;

  /** `dead` runs once the peer is silent for a whole interval after a ping (it must end the connection). */
  constructor(ws: WebSocket, intervalMs: number, dead: () => void) {
    this.#ws = ws;
    this.#intervalMs = intervalMs;
    this.#dead = dead;
    ws.on("pong", () => {
      this.#alive = true;
    });
  }

  /** Any message from the peer counts as a sign of life (the hot path: one store). */
  heard(): void {
    this.#alive = true;
  }

  /** Start pinging (once the connection is open). */
  start(): void {
    this.#pinger = setInterval(() => {
      if (!this.#alive) {
        this.#dead();
        return;
      }
      this.#alive = false;
      try {
        this.#ws.ping();
      } catch {
        // Closing already; the close event tears down.
      }
    }, this.#intervalMs);
    this.#pinger.unref();
  }

  stop(): void {
    clearInterval(this.#pinger);
  }
}
