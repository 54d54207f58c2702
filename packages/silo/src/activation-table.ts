import type { Activation } from "./activation.js";

/**
 * The activations of a silo by "Type/key", plus an intrusive list in order of
 * last use (least recent first). Touching an activation on every call is an
 * O(1) unlink/append, which gives both LRU eviction under `maxActivations` and
 * an idle scan that stops at the first activation used too recently.
 */
export class ActivationTable {
  readonly #byId = new Map<string, Activation>();
  #oldest: Activation | undefined;
  #newest: Activation | undefined;

  get size(): number {
    return this.#byId.size;
  }

  get(idString: string): Activation | undefined {
    return this.#byId.get(idString);
  }

  values(): IterableIterator<Activation> {
    return this.#byId.values();
  }

  add(a: Activation, now: number): void {
    this.#byId.set(a.idString, a);
    a.lastUsed = now;
    this.#append(a);
  }

  /** Remove `a` if it is still the table's activation for its id. */
  remove(a: Activation): void {
    if (this.#byId.get(a.idString) !== a) return;
    this.#byId.delete(a.idString);
    this.#unlink(a);
  }

  touch(a: Activation, now: number): void {
    a.lastUsed = now;
    if (this.#newest === a) return;
    this.#unlink(a);
    this.#append(a);
  }

  /** Least recently used first. */
  *byAge(): Generator<Activation> {
    for (let a = this.#oldest; a !== undefined; ) {
      const next = a.lruNext;
      yield a;
      a = next;
    }
  }

  #append(a: Activation): void {
    a.lruPrev = this.#newest;
    a.lruNext = undefined;
    if (this.#newest === undefined) this.#oldest = a;
    else this.#newest.lruNext = a;
    this.#newest = a;
  }

  #unlink(a: Activation): void {
    if (a.lruPrev === undefined) {
      if (this.#oldest === a) this.#oldest = a.lruNext;
    } else a.lruPrev.lruNext = a.lruNext;
    if (a.lruNext === undefined) {
      if (this.#newest === a) this.#newest = a.lruPrev;
    } else a.lruNext.lruPrev = a.lruPrev;
    a.lruPrev = a.lruNext = undefined;
  }
}
