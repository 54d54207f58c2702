import type { ActorId } from "./ids.js";
import type { MemberRecord } from "./membership.js";

/** Bytes of one actor's stored state and the version token they were stored under. */
export interface StoredState {
  readonly data: Uint8Array;
  /** Opaque token (an ETag, a counter, a random id) that changes on every write. */
  readonly version: string;
}

/**
 * Where swapped-out state lives. Every write is conditional, which is what makes
 * activations fenced: a stale activation's save names a version that is no
 * longer current, fails with `StateConflictError`, and the activation is dropped.
 *
 * Stores deal in bytes; the runtime encodes a versioned record with the codec
 * (see state-record.ts), so each store stays a thin adapter.
 */
export interface StateStore {
  /** Short name for logs and metrics ("memory", "fs", "s3", "redis"). */
  readonly kind: string;
  /**
   * Load the current bytes and version, or undefined when nothing is stored.
   * The bytes are the caller's: changing them changes nothing stored.
   */
  load(id: ActorId): Promise<StoredState | undefined>;
  /**
   * Optional: {@link load} without its defensive copy, for a store that keeps
   * recent bytes in memory. The bytes may be the store's own, so the caller
   * must never change them. The runtime loads through it on every swap-in: it
   * only decodes the bytes (decoding copies what the state keeps) and compares
   * later records with them.
   */
  loadShared?(id: ActorId): Promise<StoredState | undefined>;
  /**
   * Write `data` if the stored version is still `expected` (`null`: only if
   * nothing is stored). Returns the new version. Throws `StateConflictError`
   * when the condition does not hold. `data` must not change until the
   * returned promise settles (a store may read it until then, not after).
   */
  save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string>;
  /**
   * Remove the stored state. With `expected` given, only when the version still
   * matches (`StateConflictError` otherwise). Deleting nothing is not an error.
   */
  delete(id: ActorId, expected?: string): Promise<void>;
  /**
   * Optional, for stores reached over a network: fail every write in flight
   * now and close the connections that carry them, so that no byte of them
   * reaches the server later. A cluster silo calls it when its membership
   * lease runs out, since another silo may then take over its keys: a write
   * held up in the network and delivered after that silo loaded the state
   * would pass its conditional check and leave the new owner serving older
   * state than the store holds.
   */
  abandonWrites?(): void;
  /**
   * Optional, for a store on the same server as the cluster's membership: from
   * now on, refuse on the server every write (and delete) made while `record`
   * does not list this silo as a member. Returns whether the store will (false:
   * a record it cannot read, or on another server). A cluster silo calls it
   * once, before it joins.
   */
  fenceWrites?(record: MemberRecord): boolean;
  /** Where `id` is kept, for error messages (a file path, an S3 URL, a Redis key). */
  describe(id: ActorId): string;
  /** Release connections and handles. */
  close(): Promise<void>;
}
