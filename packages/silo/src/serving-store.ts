/**
 * The store as a cluster silo's activations see it: no write leaves while the
 * silo is not serving (its membership lease ran out, or it was evicted).
 *
 * Once the lease is out, a peer may take over the silo's keys at any moment
 * and load their state. A write that left after that load — or one that left
 * earlier and was held up in the network — would land under the new owner:
 * its conditional check still passes while the new owner has not written,
 * and the new owner would then serve an older state than the store holds. So
 * writes are refused here (with the silo's retryable "not serving" error; a
 * "turn" activation is reset by it, a swap-out retried later), and the
 * writes already in flight when the lease ran out are abandoned by the store
 * (`StateStore.abandonWrites`, called by the cluster), so that no byte of
 * them is delivered later.
 */
import type { ActorId, PraasError, StateStore, StoredState } from "@praas/core/internal";

export function servingStore(store: StateStore, servingError: () => PraasError | undefined): StateStore {
  const loadShared = store.loadShared?.bind(store);
  return {
    get kind() {
      return store.kind;
    },
    load: (id: ActorId): Promise<StoredState | undefined> => store.load(id),
    ...(loadShared !== undefined ? { loadShared } : {}),
    save: (id: ActorId, data: Uint8Array, expected: string | null): Promise<string> => {
      const refused = servingError();
      return refused === undefined ? store.save(id, data, expected) : Promise.reject(refused);
    },
    delete: (id: ActorId, expected?: string): Promise<void> => {
      const refused = servingError();
      return refused === undefined ? store.delete(id, expected) : Promise.reject(refused);
    },
    describe: (id: ActorId) => store.describe(id),
    close: () => store.close(),
  };
}
