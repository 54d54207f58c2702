/**
 * Cluster membership: which silos are alive, as a versioned view every silo
 * can agree on. The hash ring is computed from a view, so two silos with the
 * same view version compute the same owner for every actor.
 */
export type SiloStatus = "active" | "leaving" | "dead";

export interface SiloInfo {
  /** Unique per silo process (a restarted silo gets a new id). */
  readonly id: string;
  /** Where its silo-to-silo transport listens: "host:port". */
  readonly address: string;
  /** Epoch ms when the silo started (breaks ties, shows restarts). */
  readonly startedAt: number;
  readonly status: SiloStatus;
}

export interface MembershipView {
  /** Increases by at least one on every change; never goes back. */
  readonly version: number;
  /** Every known silo; only "active" ones own actors. */
  readonly silos: readonly SiloInfo[];
}

export interface MembershipProvider {
  /** Register this silo as active and start heartbeating and watching peers. */
  join(self: Omit<SiloInfo, "status">): Promise<MembershipView>;
  /** The latest view this provider knows. */
  view(): MembershipView;
  /** Called with every newer view (in version order). Returns an unsubscribe function. */
  onChange(listener: (view: MembershipView) => void): () => void;
  /** Called once if peers declare this silo dead: it must stop serving at once. */
  onEvicted(listener: () => void): () => void;
  /** Mark this silo as leaving, then remove it (graceful shutdown). */
  leave(): Promise<void>;
  /** Stop timers and connections (after leave, or on crash-stop in tests). */
  close(): Promise<void>;
  /**
   * Only for providers whose silos all live in this process (memoryMembership):
   * a random secret they share, which nothing outside the process can learn.
   * A cluster silo without a configured secret uses it; every other provider
   * leaves this out, and its silos must be given a secret.
   */
  localSecret?(): Uint8Array;
}

/** Active silos of a view, in a stable order. */
export function activeSilos(view: MembershipView): SiloInfo[] {
  return view.silos.filter((s) => s.status === "active").sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
