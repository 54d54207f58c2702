/**
 * What the dashboard shows, as JSON: one silo's statistics (computed on that
 * silo, sent to the gateway that asks) and the cluster's (merged by the
 * gateway). Every list is bounded, whatever the number of activations or
 * silos, so a response stays small with 100 silos and 10⁶ activations.
 */

/** Busiest activations reported per silo, and in the merged view. */
export const TOP_ACTORS = 20;
/** Recent stuck turns remembered per silo, and in the merged view. */
export const RECENT_STUCK = 20;
/** Type/method series sent per silo (the busiest first); more are counted, not listed. */
export const MAX_CALL_SERIES = 200;

/** One type and method's calls during the window. */
export interface CallWindow {
  readonly type: string;
  readonly method: string;
  /** Calls completed in the window. */
  readonly calls: number;
  /** Latency histogram of those calls: non-cumulative counts per bucket of `bucketsS` (last: +Inf). */
  readonly buckets: readonly number[];
  /** Failed calls in the window, by error code. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface BusyActor {
  readonly type: string;
  readonly key: string;
  readonly silo: string;
  /** Turns running plus calls waiting in its mailbox. */
  readonly load: number;
  /** Messages waiting in its inbox. */
  readonly inbox: number;
}

export interface StuckTurn {
  readonly actor: string;
  readonly silo: string;
  /** Epoch ms when the turn was found stuck. */
  readonly at: number;
  readonly message: string;
}

export interface ReminderCounts {
  /** Reminders this silo has timers for. */
  readonly scheduled: number;
  /** Due and not fired yet (a failing reminder waits for its retry). */
  readonly overdue: number;
  /** Due within the next minute. */
  readonly soon: number;
}

/** One silo's statistics, computed on that silo. */
export interface SiloSnapshot {
  readonly id: string;
  /** Epoch ms the silo started. */
  readonly startedAt: number;
  /** Epoch ms of this snapshot. */
  readonly at: number;
  /** Length of the window the rates and call series cover, in ms. */
  readonly windowMs: number;
  /** Activations in memory now. */
  readonly activations: number;
  /** Per type, as of the last walk over the activation table (`scannedAt`; 0: none yet). */
  readonly perType: Readonly<Record<string, number>>;
  readonly scannedAt: number;
  /** Activations started (swap-ins and first activations) and ended (swap-outs) per second. */
  readonly swapInsPerS: number;
  readonly swapOutsPerS: number;
  /** Upper bounds of the latency buckets, in seconds. */
  readonly bucketsS: readonly number[];
  readonly calls: readonly CallWindow[];
  /** Series left out of `calls` (over MAX_CALL_SERIES). */
  readonly callsOmitted: number;
  /** Stuck turns since start, and the latest few. */
  readonly stuckTotal: number;
  readonly stuck: readonly StuckTurn[];
  /** Failures with no caller to tell since start, by kind (save, timer, reminder, stuck, …). */
  readonly failures: Readonly<Record<string, number>>;
  readonly reminders: ReminderCounts;
  /** As of the last walk over the activation table (`scannedAt`). */
  readonly busiest: readonly BusyActor[];
}

/** A row of the silo table. */
export interface SiloRow {
  readonly id: string;
  readonly address: string | undefined;
  readonly status: string;
  /** Epoch ms the silo started, when it answered. */
  readonly startedAt?: number;
  readonly activations?: number;
  /** Epoch ms of the walk over its activation table that the per-type counts and busiest actors come from. */
  readonly scannedAt?: number;
  readonly callsPerS?: number;
  readonly errorsPerS?: number;
  readonly swapInsPerS?: number;
  readonly swapOutsPerS?: number;
  /** Why there are no statistics for this silo (did not answer, runs no dashboard). */
  readonly unavailable?: string;
}

/** One type and method across the cluster. */
export interface CallRow {
  readonly type: string;
  readonly method: string;
  readonly callsPerS: number;
  /** Latency percentiles in ms, from the merged histogram (upper-bound interpolation). */
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errorsPerS: number;
  readonly errors: Readonly<Record<string, number>>;
}

/** The cluster as the dashboard shows it; lists bounded, silos paged. */
export interface ClusterSnapshot {
  readonly self: string;
  readonly at: number;
  readonly membershipVersion: number;
  readonly totals: {
    readonly silos: number;
    readonly silosAnswering: number;
    readonly activations: number;
    readonly callsPerS: number;
    readonly errorsPerS: number;
    readonly swapInsPerS: number;
    readonly swapOutsPerS: number;
    readonly stuckTotal: number;
    readonly reminders: ReminderCounts;
  };
  readonly perType: Readonly<Record<string, number>>;
  readonly silos: {
    readonly page: number;
    readonly pageSize: number;
    readonly total: number;
    readonly rows: readonly SiloRow[];
  };
  readonly calls: readonly CallRow[];
  readonly callsOmitted: number;
  readonly stuck: readonly StuckTurn[];
  readonly busiest: readonly BusyActor[];
}

/** What the inspector shows of one actor. */
export interface ActorDetails {
  readonly type: string;
  readonly key: string;
  /** The silo hosting it, or (inactive) the silo that owns its key now. */
  readonly silo: string;
  readonly active: boolean;
  /** Activation status when in memory ("activating", "active", "deactivating"). */
  readonly status?: string;
  readonly running?: number;
  readonly queued?: number;
  readonly inbox?: number;
  /** Ms since its last call. */
  readonly idleMs?: number;
  /** Has stored state (only looked up when not active). */
  readonly stored?: boolean;
  /** The last failure the runtime recorded for it on that silo (activate, save, timer, reminder, stuck…). */
  readonly lastError?: { readonly kind: string; readonly message: string; readonly at: number };
}
