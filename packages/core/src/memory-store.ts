import { StateConflictError } from "./errors.js";
import { type ActorId, formatActorId } from "./ids.js";
import type { StateStore, StoredState } from "./state-store.js";

/** State kept in this process only: for tests and volatile deployments. */
export class MemoryStateStore implements StateStore {
  readonly kind = "memory";
  readonly #objects = new Map<string, StoredState>();
  #counter = 0;

  async load(id: ActorId): Promise<StoredState | undefined> {
    const stored = this.#objects.get(formatActorId(id));
    // Copy: the caller may change what it loaded, and that must not change what is stored.
    return stored === undefined
      ? undefined
      : { data: Uint8Array.prototype.slice.call(stored.data), version: stored.version };
  }

  /** The stored bytes themselves (see StateStore.loadShared): the caller never changes them. */
  async loadShared(id: ActorId): Promise<StoredState | undefined> {
    return this.#objects.get(formatActorId(id));
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    const key = formatActorId(id);
    const current = this.#objects.get(key);
    const found = current?.version ?? null;
    if (found !== expected) throw new StateConflictError(this.describe(id), expected, found);
    const version = String(++this.#counter);
    // Copy: the caller may reuse its buffer, and a store must not alias it.
    this.#objects.set(key, { data: Uint8Array.prototype.slice.call(data), version });
    return version;
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = formatActorId(id);
    const current = this.#objects.get(key);
    if (expected !== undefined && current !== undefined && current.version !== expected) {
      throw new StateConflictError(this.describe(id), expected, current.version);
    }
    this.#objects.delete(key);
  }

  describe(id: ActorId): string {
    return `memory:${formatActorId(id)}`;
  }

  /** Number of stored objects (for tests). */
  get size(): number {
    return this.#objects.size;
  }

  async close(): Promise<void> {}
}
