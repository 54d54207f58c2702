/**
 * Actor types of the `cores` suite. Their own module: a worker thread
 * imports it (the compiled bench/dist/suites/cores-actors.js) to find the
 * threaded class, and must not start the suite while doing so.
 */
import { createHash } from "node:crypto";
import { Actor } from "@praas/silo";

/** `rounds` chained SHA-256 digests of a 1 KiB block: pure CPU, no allocation to speak of. */
export function hashRounds(rounds: number): number {
  let block: Uint8Array = new Uint8Array(1024).fill(7);
  for (let i = 0; i < rounds; i++) {
    const digest = createHash("sha256").update(block).digest();
    block[i % 1024] = digest[0] as number;
    if (i % 1024 === 0) block = new Uint8Array(block);
  }
  return block[0] as number;
}

/** CPU-bound function on the silo's worker threads. */
export class ThreadedHasher extends Actor {
  static readonly stateless = true;
  static readonly threads = { module: import.meta.url };
  hash(rounds: number): number {
    return hashRounds(rounds);
  }
  noop(x: number): number {
    return x;
  }
}

/** The same function on the event loop (a plain stateless type): the contrast. */
export class LoopHasher extends Actor {
  static readonly stateless = true;
  hash(rounds: number): number {
    return hashRounds(rounds);
  }
  noop(x: number): number {
    return x;
  }
}

/** The latency probe: a keyed counter. */
export class CoreCounter extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  add(x: number): number {
    this.state.n += x;
    return this.state.n;
  }
}
