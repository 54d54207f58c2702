/**
 * The local pool of a stateless type's workers (PraaS "invoke without a
 * pid"): which activation of the type runs the next call. Workers are
 * ordinary activations under keys no user can write; this only picks the key
 * and counts each worker's calls in flight.
 */
import type { ActorTypeInfo } from "./registry.js";

/** One worker of a stateless type, with its calls in flight. */
export interface StatelessWorker {
  readonly key: string;
  load: number;
}

export class StatelessPool {
  /** Workers of each stateless type, in creation order. */
  readonly #workers = new Map<string, StatelessWorker[]>();

  /**
   * The worker of a stateless type to run the next call: an idle one if there
   * is one, else a new one while under `maxWorkers`, else the least busy.
   */
  pick(info: ActorTypeInfo): StatelessWorker {
    let workers = this.#workers.get(info.name);
    if (workers === undefined) {
      workers = [];
      this.#workers.set(info.name, workers);
    }
    let best: StatelessWorker | undefined;
    for (const w of workers) {
      if (w.load === 0) return w;
      if (best === undefined || w.load < best.load) best = w;
    }
    if (workers.length < info.maxWorkers) {
      // A control character keeps worker keys apart from every key a user can write.
      const w = { key: `\u0001worker-${workers.length}`, load: 0 };
      workers.push(w);
      return w;
    }
    return best as StatelessWorker;
  }

  /** Count `promise` (a call to `worker`) as in flight until it settles. */
  track(worker: StatelessWorker, promise: Promise<unknown>): void {
    worker.load++;
    const done = () => {
      worker.load--;
    };
    promise.then(done, done);
  }
}
