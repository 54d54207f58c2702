/**
 * The listeners of a membership provider — `onChange` and `onEvicted` — and
 * how they are told: every listener registered when the news comes, over a
 * copy (a listener may unsubscribe itself or another while being told), and a
 * listener that throws is reported to the provider's `onListenerError` and
 * never keeps the others from hearing. Each provider decides *when* to tell
 * (views in version order, an eviction once); this only delivers.
 */
import type { MembershipView } from "./membership.js";

export class MembershipListeners {
  readonly #change = new Set<(view: MembershipView) => void>();
  readonly #evicted = new Set<(reason: string) => void>();
  readonly #onError: (error: unknown) => void;

  /** `onError` gets whatever a listener throws. */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** For MembershipProvider.onChange: returns the function that removes `listener`. */
  onChange(listener: (view: MembershipView) => void): () => void {
    this.#change.add(listener);
    return () => this.#change.delete(listener);
  }

  /** For MembershipProvider.onEvicted: returns the function that removes `listener`. */
  onEvicted(listener: (reason: string) => void): () => void {
    this.#evicted.add(listener);
    return () => this.#evicted.delete(listener);
  }

  /** Tell every change listener about `view`. */
  changed(view: MembershipView): void {
    for (const l of [...this.#change]) this.#call(l, view);
  }

  /** Tell every eviction listener why this silo was evicted. */
  evicted(reason: string): void {
    for (const l of [...this.#evicted]) this.#call(l, reason);
  }

  #call<T>(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch (error) {
      this.#onError(error);
    }
  }
}
