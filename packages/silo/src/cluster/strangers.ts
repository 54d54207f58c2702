/**
 * Connections to the silo port that have not proved the cluster secret yet.
 *
 * Nothing a stranger sends is worth much before the proof, so each gets little:
 * a deadline (`deadlineMs` from the TCP accept, covering the HTTP upgrade and
 * the handshake), frames of at most a few KiB (handshake.ts), and a place in
 * a bounded pool. There is no fixed set of slots strangers could fill: at the
 * bound a newcomer is accepted and the oldest stranger from the remote
 * address that holds the most places is cut. A flood from one address thus
 * displaces itself, and a silo dialling from elsewhere keeps its place; on
 * one machine (one address) the newest connections win, and a real handshake
 * needs only a few round trips.
 */

/** What the pool needs of a socket. */
export interface StrangerSocket {
  readonly remoteAddress?: string | undefined;
  destroy(): void;
  once(event: "close", listener: () => void): unknown;
}

export class StrangerPool<S extends StrangerSocket = StrangerSocket> {
  readonly max: number;
  readonly deadlineMs: number;
  /** Each stranger's address (read once: a closed socket forgets it) and deadline timer. */
  readonly #entries = new Map<S, { readonly address: string; readonly timer: ReturnType<typeof setTimeout> }>();
  /** Per remote address, its strangers, oldest first. */
  readonly #byAddress = new Map<string, Set<S>>();
  /** Strangers cut to make room, and strangers cut at their deadline. */
  displaced = 0;
  expired = 0;

  constructor(max: number, deadlineMs: number) {
    this.max = max;
    this.deadlineMs = deadlineMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A connection was accepted: it has `deadlineMs` to prove the secret. */
  add(socket: S): void {
    if (this.#entries.size >= this.max) this.#displaceOne();
    const address = socket.remoteAddress ?? "";
    let group = this.#byAddress.get(address);
    if (group === undefined) {
      group = new Set();
      this.#byAddress.set(address, group);
    }
    group.add(socket);
    const timer = setTimeout(() => {
      if (this.#remove(socket)) {
        this.expired++;
        socket.destroy();
      }
    }, this.deadlineMs);
    timer.unref();
    this.#entries.set(socket, { address, timer });
    socket.once("close", () => this.#remove(socket));
  }

  /** The connection proved the secret: no deadline, no place in the pool. */
  trust(socket: S): void {
    this.#remove(socket);
  }

  /** Cut every stranger (the silo is stopping). */
  clear(): void {
    for (const socket of [...this.#entries.keys()]) {
      this.#remove(socket);
      socket.destroy();
    }
  }

  #displaceOne(): void {
    let largest: Set<S> | undefined;
    for (const group of this.#byAddress.values())
      if (largest === undefined || group.size > largest.size) largest = group;
    const oldest = largest?.values().next();
    if (oldest === undefined || oldest.done === true) return;
    this.#remove(oldest.value);
    this.displaced++;
    oldest.value.destroy();
  }

  #remove(socket: S): boolean {
    const entry = this.#entries.get(socket);
    if (entry === undefined) return false;
    this.#entries.delete(socket);
    clearTimeout(entry.timer);
    const group = this.#byAddress.get(entry.address);
    group?.delete(socket);
    if (group?.size === 0) this.#byAddress.delete(entry.address);
    return true;
  }
}
