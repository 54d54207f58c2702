/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32),
 * so that a test cluster's fault schedule and message interleaving follow from
 * one number: rerunning with the seed printed on failure replays the run.
 * Not for cryptography.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`A seed must be a safe integer, got ${seed}`);
    // splitmix32 spreads nearby seeds (1, 2, 3…) over the whole state space.
    let s = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.#a = mix();
    this.#b = mix();
    this.#c = mix();
    this.#d = mix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new RangeError("pick() from an empty list");
    return list[this.int(list.length)] as T;
  }

  /**
   * An independent generator derived from this one's next output: parts of a
   * simulation (the fault schedule, the network) draw from their own stream,
   * so that adding a draw in one does not shift the other.
   */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 2 ** 52));
  }
}

/** A seed for a run: `$PRAAS_SEED` when set (to replay a failure), else a random one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.PRAAS_SEED;
  if (text !== undefined && text !== "") {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new RangeError(`PRAAS_SEED must be an integer, got ${JSON.stringify(text)}`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}
