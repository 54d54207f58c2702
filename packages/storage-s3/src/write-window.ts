/**
 * At most `size` writes in flight at once; the rest wait their turn in order.
 * Writes of one actor are already one at a time (its activation waits for
 * each), so the window is what lets many actors' writes overlap — a drain of
 * thousands of activations — without opening thousands of requests at once.
 */
export class WriteWindow {
  readonly size: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.size = size;
  }

  async run<T>(write: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.size) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#inFlight++;
    try {
      return await write();
    } finally {
      const next = this.#waiting.shift();
      // Hand the slot straight to the next writer, so the count never dips and lets a newcomer jump the queue.
      if (next !== undefined) next();
      else this.#inFlight--;
    }
  }

  /** Writes running now. */
  get inFlight(): number {
    return this.#inFlight;
  }
}
