/** Options of the embedded store (kept apart from its implementation so the package's types never name lmdb's). */
export interface EmbeddedStoreOptions {
  /**
   * Open the folder together with other processes that open it shared too
   * (several silos of one cluster on one host). Default false: this process
   * alone may open the folder, and a second one is refused with
   * `StateDirLockedError`. Shared use is safe only when something else decides
   * which process serves which actor — the cluster's ring — because fencing
   * (conditional writes) then turns a second writer into a stale activation
   * instead of a silent overwrite. See docs/storage.md.
   */
  readonly shared?: boolean;
}
