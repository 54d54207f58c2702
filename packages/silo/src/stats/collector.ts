/**
 * One silo's statistics for the dashboard, computed on the silo itself so a
 * gateway merging 100 silos receives 100 small summaries, never 10⁶ rows.
 *
 * Call counts come from the gateway's call metrics (the silo allows one call
 * observer, which the metrics already are): every second the cumulative
 * counters are sampled, and a snapshot reports the difference between now
 * and the oldest sample, about WINDOW_MS ago. That costs nothing per call
 * beyond what /metrics already pays. Swap-ins/outs and failures are counted
 * from the silo's events. Activations per type and the busiest actors come
 * from a walk over the activation table in slices, at most once a second and
 * less often on large tables (see SCAN_*), however many dashboards ask.
 */
import {
  type ActorId,
  actorIdString,
  describeError,
  InvalidArgumentError,
  isControlMethod,
  validateKey,
} from "@praas/core/internal";
import { BUCKETS_S, type CallMetrics } from "../gateway/call-metrics.js";
import type { Silo, SiloFailure } from "../silo.js";
import {
  type ActorDetails,
  type BusyActor,
  type CallWindow,
  MAX_CALL_SERIES,
  RECENT_STUCK,
  type SiloSnapshot,
  type StuckTurn,
  TOP_ACTORS,
} from "./snapshot.js";

/** Silo request methods (silo-request.ts) the collector answers. */
export const SNAPSHOT_REQUEST = "dashboard.snapshot";
export const ACTOR_REQUEST = "dashboard.actor";

const SAMPLE_EVERY_MS = 1_000;
const WINDOW_MS = 5_000;
/**
 * A snapshot younger than this is served again as it is: however many gateways
 * show a dashboard, the activation table is walked at most once per period.
 */
const CACHE_MS = 1_000;
/**
 * The walk over the activation table (per-type counts, busiest actors) runs at
 * most every SCAN_EVERY_MS, and on large tables at most every
 * size / SCAN_PER_MS ms (10⁶ activations: every 10 s), so its cost stays a
 * small share of a silo's time however big the table; it yields to the event
 * loop every SCAN_SLICE activations.
 */
const SCAN_EVERY_MS = 1_000;
const SCAN_PER_MS = 100;
const SCAN_SLICE = 10_000;
/** Actors whose last failure is remembered (oldest forgotten first). */
const MAX_LAST_ERRORS = 10_000;
const REMINDERS_SOON_MS = 60_000;

interface SeriesSample {
  readonly count: number;
  readonly buckets: Float64Array;
  readonly errors: ReadonlyMap<string, number> | undefined;
}

interface Sample {
  readonly at: number;
  readonly swapIns: number;
  readonly swapOuts: number;
  /** By "type\0method". */
  readonly series: ReadonlyMap<string, SeriesSample>;
}

export interface LastError {
  readonly kind: string;
  readonly message: string;
  readonly at: number;
}

export class SiloStats {
  readonly #silo: Silo;
  readonly #calls: CallMetrics | undefined;
  readonly #samples: Sample[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #unhook: (() => void)[] = [];
  #swapIns = 0;
  #swapOuts = 0;
  #stuckTotal = 0;
  readonly #stuck: StuckTurn[] = [];
  readonly #failures: Record<string, number> = {};
  readonly #lastErrors = new Map<string, LastError>();
  #cached: SiloSnapshot | undefined;
  /** The last finished walk over the activation table. */
  #scan: { readonly at: number; readonly perType: Record<string, number>; readonly busiest: BusyActor[] } = {
    at: 0,
    perType: {},
    busiest: [],
  };
  #scanning = false;
  #closed = false;

  /** `calls`: the gateway's call metrics; without them (metrics off) the snapshot lists no calls. */
  constructor(silo: Silo, calls: CallMetrics | undefined) {
    this.#silo = silo;
    this.#calls = calls;
    const onActivate = () => {
      this.#swapIns++;
    };
    const onDeactivate = () => {
      this.#swapOuts++;
    };
    const onFailure = (f: SiloFailure) => this.#failed(f);
    silo.on("activate", onActivate);
    silo.on("deactivate", onDeactivate);
    silo.on("failure", onFailure);
    this.#unhook.push(
      () => silo.off("activate", onActivate),
      () => silo.off("deactivate", onDeactivate),
      () => silo.off("failure", onFailure),
      silo.handleSiloRequests(SNAPSHOT_REQUEST, () => this.snapshot()),
      silo.handleSiloRequests(ACTOR_REQUEST, (args) => this.actor(actorIdOf(args[0], args[1]))),
    );
    this.#samples.push(this.#sample());
    this.#timer = setInterval(() => {
      this.#samples.push(this.#sample());
      // Keep the newest sample at least WINDOW_MS old as the base of the window.
      while (this.#samples.length > 2 && (this.#samples[1] as Sample).at <= Date.now() - WINDOW_MS) {
        this.#samples.shift();
      }
    }, SAMPLE_EVERY_MS);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const u of this.#unhook.splice(0)) u();
  }

  /** The last failure recorded for an actor on this silo, if remembered. */
  lastError(id: ActorId): LastError | undefined {
    return this.#lastErrors.get(actorIdString(id.type, id.key));
  }

  #failed(f: SiloFailure): void {
    this.#failures[f.kind] = (this.#failures[f.kind] ?? 0) + 1;
    const at = Date.now();
    const message = describeError(f.error).slice(0, 500);
    // Re-inserted so the map's order is oldest failure first.
    this.#lastErrors.delete(f.actor);
    this.#lastErrors.set(f.actor, { kind: f.kind, message, at });
    if (this.#lastErrors.size > MAX_LAST_ERRORS) {
      const oldest = this.#lastErrors.keys().next().value;
      if (oldest !== undefined) this.#lastErrors.delete(oldest);
    }
    if (f.kind === "stuck") {
      this.#stuckTotal++;
      this.#stuck.push({ actor: f.actor, silo: this.#silo.siloId, at, message });
      if (this.#stuck.length > RECENT_STUCK) this.#stuck.shift();
    }
  }

  #sample(): Sample {
    const series = new Map<string, SeriesSample>();
    if (this.#calls !== undefined) {
      for (const s of this.#calls.series()) {
        series.set(`${s.type}\u0000${s.method}`, {
          count: s.count,
          buckets: s.buckets.slice(),
          errors: s.errors === undefined ? undefined : new Map(s.errors),
        });
      }
    }
    return { at: Date.now(), swapIns: this.#swapIns, swapOuts: this.#swapOuts, series };
  }

  /** This silo's statistics now (the same object for CACHE_MS). */
  snapshot(): SiloSnapshot {
    const now = Date.now();
    if (this.#cached !== undefined && now - this.#cached.at < CACHE_MS) return this.#cached;
    const base = this.#samples[0] as Sample;
    const current = this.#sample();
    const windowMs = Math.max(1, current.at - base.at);
    const perS = (n: number) => (n * 1000) / windowMs;

    const calls: CallWindow[] = [];
    for (const [k, s] of current.series) {
      const before = base.series.get(k);
      const n = s.count - (before?.count ?? 0);
      if (n <= 0) continue;
      const [type, method] = k.split("\u0000") as [string, string];
      // Where-is and deactivate requests (the inspector's own among them) are not the actors' traffic.
      if (isControlMethod(method)) continue;
      const buckets = Array.from(s.buckets, (v, i) => v - (before?.buckets[i] ?? 0));
      const errors: Record<string, number> = {};
      for (const [code, total] of s.errors ?? []) {
        const e = total - (before?.errors?.get(code) ?? 0);
        if (e > 0) errors[code] = e;
      }
      calls.push({ type, method, calls: n, buckets, errors });
    }
    calls.sort((a, b) => b.calls - a.calls);

    this.#maybeScan();
    const scan = this.#scan;
    const snapshot: SiloSnapshot = {
      id: this.#silo.siloId,
      startedAt: this.#silo.startedAt,
      at: current.at,
      windowMs,
      activations: this.#silo.activationCount,
      perType: scan.perType,
      scannedAt: scan.at,
      swapInsPerS: perS(current.swapIns - base.swapIns),
      swapOutsPerS: perS(current.swapOuts - base.swapOuts),
      bucketsS: BUCKETS_S,
      calls: calls.slice(0, MAX_CALL_SERIES),
      callsOmitted: Math.max(0, calls.length - MAX_CALL_SERIES),
      stuckTotal: this.#stuckTotal,
      stuck: [...this.#stuck],
      failures: { ...this.#failures },
      reminders: this.#silo.remindersDue(REMINDERS_SOON_MS),
      busiest: scan.busiest,
    };
    this.#cached = snapshot;
    return snapshot;
  }

  /** Start a walk over the activation table if the last one is old enough (see SCAN_*). */
  #maybeScan(): void {
    if (this.#scanning || this.#closed) return;
    const every = Math.max(SCAN_EVERY_MS, this.#silo.activationCount / SCAN_PER_MS);
    if (Date.now() - this.#scan.at < every) return;
    this.#scanning = true;
    this.#walk().then(
      () => {
        this.#scanning = false;
      },
      () => {
        this.#scanning = false;
      },
    );
  }

  /**
   * Activations per type and the busiest ones, SCAN_SLICE activations per
   * macrotask so calls keep flowing between slices. A table smaller than one
   * slice is walked at once (the result is there before this returns). Map
   * iteration survives entries added and removed between slices.
   */
  async #walk(): Promise<void> {
    const perType: Record<string, number> = {};
    const busiest = new TopN<BusyActor>(TOP_ACTORS, (a) => a.load);
    const self = this.#silo.siloId;
    let n = 0;
    for (const a of this.#silo.activationsHere()) {
      const type = a.info.name;
      perType[type] = (perType[type] ?? 0) + 1;
      const load = a.mailbox.running + a.mailbox.queued;
      if (load > 0 && busiest.wouldKeep(load)) {
        busiest.add({ type, key: a.id.key, silo: self, load, inbox: a.inboxSize });
      }
      if (++n % SCAN_SLICE === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.#closed) return;
      }
    }
    this.#scan = { at: Date.now(), perType, busiest: busiest.sorted() };
  }

  /** What this silo knows of one actor (it hosts it, or owns its key). */
  actor(id: ActorId): ActorDetails {
    const a = this.#silo.activationHere(id);
    const lastError = this.lastError(id);
    const base = { type: id.type, key: id.key, silo: this.#silo.siloId, ...(lastError ? { lastError } : {}) };
    if (a === undefined) return { ...base, active: false };
    return {
      ...base,
      active: a.status === "active" || a.status === "activating",
      status: a.status,
      running: a.mailbox.running,
      queued: a.mailbox.queued,
      inbox: a.inboxSize,
      idleMs: Math.max(0, this.#silo.clock.now() - a.lastUsed),
    };
  }
}

/** An actor id from a silo request's arguments (they come from the network). */
function actorIdOf(type: unknown, key: unknown): ActorId {
  if (typeof type !== "string" || typeof key !== "string") {
    throw new InvalidArgumentError("dashboard.actor needs a type and a key");
  }
  validateKey(key);
  return { type, key };
}

/** The n largest items by `score`, in one pass and O(n) memory. */
export class TopN<T> {
  readonly #items: T[] = [];
  constructor(
    readonly n: number,
    readonly score: (item: T) => number,
  ) {}

  /** Would an item with this score make the cut (cheap check before building it)? */
  wouldKeep(score: number): boolean {
    if (this.#items.length < this.n) return true;
    return score > this.score(this.#items[this.#items.length - 1] as T);
  }

  add(item: T): void {
    const s = this.score(item);
    if (!this.wouldKeep(s)) return;
    let i = this.#items.length;
    while (i > 0 && this.score(this.#items[i - 1] as T) < s) i--;
    this.#items.splice(i, 0, item);
    if (this.#items.length > this.n) this.#items.pop();
  }

  sorted(): T[] {
    return [...this.#items];
  }
}
