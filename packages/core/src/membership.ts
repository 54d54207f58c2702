/**
 * Cluster membership: which silos are alive, as a versioned view every silo
 * can agree on. The hash ring is computed from a view, so two silos with the
 * same view version compute the same owner for every actor.
 */
import type { Clock } from "./clock.js";

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
  /**
   * Register this silo as active and start heartbeating and watching peers.
   * After an eviction the same provider may join again, under a new id: a new
   * incarnation (the old id stays dead).
   */
  join(self: Omit<SiloInfo, "status">): Promise<MembershipView>;
  /** The latest view this provider knows. */
  view(): MembershipView;
  /** Called with every newer view (in version order). Returns an unsubscribe function. */
  onChange(listener: (view: MembershipView) => void): () => void;
  /**
   * Called once per incarnation when this silo is no longer a member (peers
   * declared it dead, or its entry is gone): it must stop serving at once.
   * `reason` is one human-readable sentence, for the log.
   */
  onEvicted(listener: (reason: string) => void): () => void;
  /**
   * The end of this silo's lease, in ms on {@link clock}: until then no peer can
   * have declared it dead, so it may serve its actors. Every heartbeat that
   * reaches the membership store renews it to (the time that heartbeat was
   * *sent*) + deadAfterMs − {@link leaseMarginMs}. −Infinity before join and
   * after eviction, leave or close.
   */
  leaseValidUntil(): number;
  /** The monotonic clock leases are measured on. */
  readonly clock: Clock;
  /** Mark this silo as leaving, then remove it (graceful shutdown). */
  leave(): Promise<void>;
  /** Stop timers and connections (after leave, or on crash-stop in tests). */
  close(): Promise<void>;
}

/**
 * How much earlier than the peers' detection bound a lease ends: 5 % of
 * deadAfterMs (100 ms with the defaults). A peer declares a silo dead only
 * once the membership store's clock says more than deadAfterMs passed since its
 * last recorded beat, and that beat was recorded after it was sent; so the
 * margin only has to cover the two clocks running at different rates (NTP
 * slews by at most 0.05 %) — with a hundredfold reserve.
 */
export function leaseMarginMs(deadAfterMs: number): number {
  return Math.max(1, Math.ceil(deadAfterMs / 20));
}

/** Active silos of a view, in a stable order. */
export function activeSilos(view: MembershipView): SiloInfo[] {
  return view.silos.filter((s) => s.status === "active").sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
