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
  /**
   * Only for providers whose silos all live in this process (memoryMembership):
   * a random secret they share, which nothing outside the process can learn.
   * A cluster silo without a configured secret uses it; every other provider
   * leaves this out, and its silos must be given a secret.
   */
  localSecret?(): Uint8Array;
  /**
   * Optional: where the membership store records whether this silo is a
   * member, for a state store on the same server to check on every write
   * (`StateStore.fenceWrites`). Such a check runs on the server, at the moment
   * the write is applied, so it also refuses a write that was held up in the
   * network and lands after peers declared this silo dead — which a check in
   * the silo cannot see.
   */
  memberRecord?(): MemberRecord;
}

/**
 * Where a membership store keeps each silo's status: the hash `key` on
 * `server` maps a silo id to "active", "leaving" or "dead" (or nothing, once
 * pruned). A silo may write while its entry says "active" or "leaving".
 */
export interface MemberRecord {
  /** The kind of server ("redis"): a state store only uses a record it can read. */
  readonly kind: string;
  /** The server, as "host:port/db" (or "path/db"): a state store only uses a record on its own server. */
  readonly server: string;
  /** The hash holding each silo's status. */
  readonly key: string;
  /** This silo's id in it now (it changes when the silo rejoins); undefined before its first join. */
  member(): string | undefined;
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
