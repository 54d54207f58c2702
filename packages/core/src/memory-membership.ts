/**
 * In-process membership: the embedded single-silo default, and test clusters
 * where several silos run in one process and share one
 * {@link MemoryMembershipRegistry}. It follows the same rules as the Redis
 * provider — heartbeats, failure detection by any peer, a version that grows
 * with every change, notifications in version order, eviction — but time comes
 * from an injectable {@link Clock}, so tests drive it with a ManualClock.
 */
import { type Clock, systemClock, type TimerHandle } from "./clock.js";
import { InvalidArgumentError } from "./errors.js";
import { consoleLog, describeError } from "./log.js";
import {
  leaseMarginMs,
  type MembershipProvider,
  type MembershipView,
  type SiloInfo,
  type SiloStatus,
} from "./membership.js";
import { MembershipListeners } from "./membership-listeners.js";

export interface MembershipTimings {
  /** How often a silo heartbeats and checks its peers (default 500 ms). */
  readonly heartbeatMs?: number;
  /**
   * A silo whose last heartbeat is older than this is declared dead by the next
   * peer that checks (default max(2000, 4 × heartbeatMs): with the default
   * heartbeat a dead silo is detected within deadAfterMs + heartbeatMs = 2.5 s).
   * At least 2 × heartbeatMs, so that one late timer is not mistaken for a crash.
   */
  readonly deadAfterMs?: number;
  /** Dead entries stay visible this long, then are removed (default max(60 s, 10 × deadAfterMs)). */
  readonly pruneAfterMs?: number;
}

export interface MemoryMembershipOptions extends MembershipTimings {
  /**
   * Time source. With a registry it must be the registry's clock (heartbeat
   * times are compared across silos); without one it sets the private registry's clock.
   */
  readonly clock?: Clock;
  /** Called when an onChange/onEvicted listener throws (default: an error line through `consoleLog`). */
  readonly onListenerError?: (error: unknown) => void;
}

export const DEFAULT_HEARTBEAT_MS = 500;
export const DEFAULT_DEAD_AFTER_MS = 2000;
export const DEFAULT_PRUNE_AFTER_MS = 60_000;

interface ResolvedTimings {
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly pruneAfterMs: number;
}

/** Validate and default the timing options (shared with the Redis provider's rules). */
export function resolveMembershipTimings(options: MembershipTimings, who: string): ResolvedTimings {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const deadAfterMs = options.deadAfterMs ?? Math.max(DEFAULT_DEAD_AFTER_MS, 4 * heartbeatMs);
  const pruneAfterMs = options.pruneAfterMs ?? Math.max(DEFAULT_PRUNE_AFTER_MS, 10 * deadAfterMs);
  for (const [name, value] of [
    ["heartbeatMs", heartbeatMs],
    ["deadAfterMs", deadAfterMs],
    ["pruneAfterMs", pruneAfterMs],
  ] as const) {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 86_400_000) {
      throw new InvalidArgumentError(
        `${who}: ${name} must be an integer number of ms in 1..86400000, got ${String(value)}`,
      );
    }
  }
  if (deadAfterMs < 2 * heartbeatMs) {
    throw new InvalidArgumentError(
      `${who}: deadAfterMs (${deadAfterMs}) must be at least 2 × heartbeatMs (${heartbeatMs}), or one late heartbeat would look like a crash`,
    );
  }
  return { heartbeatMs, deadAfterMs, pruneAfterMs };
}

/** Check the `self` record passed to join() (it comes from config or the caller). */
export function checkJoiningSilo(self: unknown, who: string): Omit<SiloInfo, "status"> {
  if (typeof self !== "object" || self === null) throw new InvalidArgumentError(`${who}: join() needs a silo record`);
  const s = self as Record<string, unknown>;
  if (typeof s.id !== "string" || s.id.length === 0 || s.id.length > 256) {
    throw new InvalidArgumentError(`${who}: silo id must be a non-empty string of at most 256 characters`);
  }
  if (typeof s.address !== "string" || s.address.length === 0 || s.address.length > 1024) {
    throw new InvalidArgumentError(`${who}: silo address must be a non-empty string ("host:port")`);
  }
  if (typeof s.startedAt !== "number" || !Number.isFinite(s.startedAt)) {
    throw new InvalidArgumentError(`${who}: silo startedAt must be a finite number (epoch ms)`);
  }
  return { id: s.id, address: s.address, startedAt: s.startedAt };
}

interface Entry {
  info: SiloInfo;
  lastHeartbeat: number;
  /** When it was declared dead (for pruning). */
  deadAt?: number;
}

interface Watcher {
  deliver(view: MembershipView): void;
}

const EMPTY_VIEW: MembershipView = Object.freeze({ version: 0, silos: Object.freeze([]) });

/** The shared table behind a registry. Not exported: providers reach it through {@link tableOf}. */
class Table {
  readonly clock: Clock;
  /** The silos of this table authenticate to each other with it (see MembershipProvider.localSecret). */
  readonly secret: Uint8Array = globalThis.crypto.getRandomValues(new Uint8Array(32));
  readonly #entries = new Map<string, Entry>();
  readonly #watchers = new Set<Watcher>();
  /** Silos cut off from the table (fault injection): their beats do not arrive, they hear nothing. */
  readonly #cut = new Set<string>();
  #view: MembershipView = EMPTY_VIEW;
  /** Views committed but not yet delivered: delivery is never re-entered, so every watcher sees versions in order. */
  readonly #pending: MembershipView[] = [];
  #delivering = false;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  get view(): MembershipView {
    return this.#view;
  }

  watch(w: Watcher): () => void {
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  add(self: Omit<SiloInfo, "status">): void {
    const existing = this.#entries.get(self.id);
    if (existing !== undefined) {
      throw new InvalidArgumentError(
        existing.info.status === "dead"
          ? `Silo id "${self.id}" was declared dead; a restarted silo must join with a new id`
          : `Silo id "${self.id}" is already a member; silo ids must be unique`,
      );
    }
    this.#entries.set(self.id, { info: Object.freeze({ ...self, status: "active" }), lastHeartbeat: this.clock.now() });
    this.#commit();
  }

  /** Record a heartbeat; false if the silo is no longer a live member (it must not resurrect itself). */
  heartbeat(id: string): boolean {
    const e = this.#entries.get(id);
    if (e === undefined || e.info.status === "dead") return false;
    e.lastHeartbeat = this.clock.now();
    return true;
  }

  /** Why `id` is not a live member: "dead" (declared so) or "gone" (no entry at all). */
  absence(id: string): "dead" | "gone" {
    return this.#entries.has(id) ? "dead" : "gone";
  }

  isCut(id: string): boolean {
    return this.#cut.has(id);
  }

  cut(id: string, cut: boolean): void {
    if (cut) this.#cut.add(id);
    else this.#cut.delete(id);
  }

  /** Forget every entry (the store lost its data); the version still only grows. */
  clear(): void {
    if (this.#entries.size === 0) return;
    this.#entries.clear();
    this.#commit();
  }

  lastHeartbeat(id: string): number | undefined {
    return this.#entries.get(id)?.lastHeartbeat;
  }

  /**
   * Declare dead every live silo silent for longer than deadAfterMs and prune
   * old dead entries, as one change (one version), like the Redis script.
   */
  sweep(deadAfterMs: number, pruneAfterMs: number): void {
    const now = this.clock.now();
    let changed = false;
    for (const [id, e] of this.#entries) {
      if (e.info.status !== "dead" && now - e.lastHeartbeat > deadAfterMs) {
        this.#setStatus(e, "dead", now);
        changed = true;
      } else if (e.info.status === "dead" && now - (e.deadAt ?? now) > pruneAfterMs) {
        this.#entries.delete(id);
        changed = true;
      }
    }
    if (changed) this.#commit();
  }

  setStatus(id: string, status: SiloStatus): boolean {
    const e = this.#entries.get(id);
    if (e === undefined || e.info.status === status || e.info.status === "dead") return false;
    this.#setStatus(e, status, this.clock.now());
    this.#commit();
    return true;
  }

  remove(id: string): void {
    if (this.#entries.delete(id)) this.#commit();
  }

  #setStatus(e: Entry, status: SiloStatus, now: number): void {
    e.info = Object.freeze({ ...e.info, status });
    if (status === "dead") e.deadAt = now;
  }

  #commit(): void {
    const silos = [...this.#entries.values()]
      .map((e) => e.info)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Views are shared by every silo of the registry, so they are frozen.
    this.#view = Object.freeze({ version: this.#view.version + 1, silos: Object.freeze(silos) });
    this.#pending.push(this.#view);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#pending.shift(); next !== undefined; next = this.#pending.shift()) {
        for (const w of [...this.#watchers]) w.deliver(next);
      }
    } finally {
      this.#delivering = false;
    }
  }
}

let tableOf: (registry: MemoryMembershipRegistry) => Table;

/**
 * The membership table shared by the silos of one process. Pass the same
 * registry to every {@link memoryMembership} provider of a test cluster.
 */
export class MemoryMembershipRegistry {
  readonly #table: Table;

  static {
    tableOf = (registry) => registry.#table;
  }

  constructor(options: { readonly clock?: Clock } = {}) {
    this.#table = new Table(options.clock ?? systemClock);
  }

  get clock(): Clock {
    return this.#table.clock;
  }

  /** The current view (every silo, any status). */
  view(): MembershipView {
    return this.#table.view;
  }

  /**
   * Fault injection: declare a silo dead as a peer would. Its provider fires
   * onEvicted; everyone else gets a new view. False if unknown or already dead.
   */
  declareDead(id: string): boolean {
    return this.#table.setStatus(id, "dead");
  }

  /**
   * Fault injection: cut a silo off from the membership store, as a network
   * partition from Redis would (`cut = false` heals it). Its heartbeats do not
   * arrive, so its lease runs out and peers declare it dead in due course; it
   * hears of no change until healed.
   */
  partition(id: string, cut = true): void {
    this.#table.cut(id, cut);
  }

  /**
   * Fault injection: the store lost every entry (Redis restarted empty). Every
   * silo finds itself gone and is evicted.
   */
  clear(): void {
    this.#table.clear();
  }
}

type ProviderState = "new" | "joining" | "joined" | "left" | "evicted" | "closed";

class MemoryMembership implements MembershipProvider {
  readonly #table: Table;
  readonly #timings: ResolvedTimings;
  readonly #margin: number;
  readonly #listeners: MembershipListeners;
  #state: ProviderState = "new";
  #self: string | undefined;
  #view: MembershipView | undefined;
  #timer: TimerHandle | undefined;
  #unwatch: (() => void) | undefined;
  #leaseUntil = Number.NEGATIVE_INFINITY;
  /** The last eviction found no entry at all: the store lost its data (see join). */
  #vanished = false;
  #rejoinWait: { timer: TimerHandle; abort: () => void } | undefined;

  constructor(table: Table, timings: ResolvedTimings, onListenerError: (error: unknown) => void) {
    this.#table = table;
    this.#timings = timings;
    this.#margin = leaseMarginMs(timings.deadAfterMs);
    this.#listeners = new MembershipListeners(onListenerError);
  }

  get clock(): Clock {
    return this.#table.clock;
  }

  localSecret(): Uint8Array {
    return this.#table.secret;
  }

  async join(self: Omit<SiloInfo, "status">): Promise<MembershipView> {
    const info = checkJoiningSilo(self, "memoryMembership");
    if (this.#state !== "new" && this.#state !== "evicted")
      throw new InvalidArgumentError(`memoryMembership: join() on a provider that is ${this.#state}`);
    const rejoin = this.#state === "evicted";
    this.#state = "joining";
    if (rejoin && this.#vanished) {
      // The table lost its data, so peers that have not noticed yet may still
      // hold leases on keys we are about to own: wait until any such lease is over.
      const waited = await new Promise<boolean>((resolve) => {
        const timer = this.#table.clock.setTimeout(() => resolve(true), this.#timings.deadAfterMs, true);
        this.#rejoinWait = { timer, abort: () => resolve(false) };
      });
      this.#rejoinWait = undefined;
      if (!waited) throw new InvalidArgumentError("memoryMembership: closed while waiting to rejoin");
    }
    try {
      this.#table.add(info);
    } catch (err) {
      this.#state = rejoin ? "evicted" : "new";
      throw err;
    }
    this.#vanished = false;
    this.#self = info.id;
    this.#state = "joined";
    this.#leaseUntil = this.#leaseFrom(this.#table.clock.now());
    this.#view = this.#table.view;
    this.#unwatch = this.#table.watch({ deliver: (view) => this.#deliver(view) });
    this.#schedule();
    return this.#view;
  }

  view(): MembershipView {
    return this.#view ?? this.#table.view;
  }

  leaseValidUntil(): number {
    return this.#leaseUntil;
  }

  onChange(listener: (view: MembershipView) => void): () => void {
    return this.#listeners.onChange(listener);
  }

  onEvicted(listener: (reason: string) => void): () => void {
    return this.#listeners.onEvicted(listener);
  }

  async leave(): Promise<void> {
    if (this.#state !== "joined" || this.#self === undefined) return;
    this.#stop("left");
    // Two versions, as the interface says: peers first see it leaving, then gone.
    this.#table.setStatus(this.#self, "leaving");
    this.#table.remove(this.#self);
    this.#view = this.#table.view;
  }

  async close(): Promise<void> {
    // Without leave() the entry stays and peers declare it dead: a crash.
    if (this.#state === "left" || this.#state === "closed") return;
    this.#stop("closed");
    if (this.#rejoinWait !== undefined) {
      this.#rejoinWait.timer.cancel();
      this.#rejoinWait.abort();
    }
  }

  #leaseFrom(sentAt: number): number {
    return sentAt + this.#timings.deadAfterMs - this.#margin;
  }

  #stop(state: ProviderState): void {
    this.#state = state;
    this.#leaseUntil = Number.NEGATIVE_INFINITY;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #schedule(): void {
    this.#timer = this.#table.clock.setTimeout(() => this.#tick(), this.#timings.heartbeatMs, true);
  }

  #tick(): void {
    const id = this.#self;
    if (this.#state !== "joined" || id === undefined) return;
    if (this.#table.isCut(id)) {
      // Cut off: the beat does not arrive, the lease is not renewed.
      this.#schedule();
      return;
    }
    const previous = this.#table.lastHeartbeat(id);
    const sentAt = this.#table.clock.now();
    if (!this.#table.heartbeat(id)) {
      this.#evict(this.#table.absence(id));
      return;
    }
    this.#leaseUntil = this.#leaseFrom(sentAt);
    // Judge peers only if our own previous heartbeat is recent: after a stall of
    // this process (all in-process silos stall together) the first silo to wake
    // would otherwise declare every peer dead before they had a chance to beat.
    const now = this.#table.clock.now();
    if (previous !== undefined && now - previous <= this.#timings.deadAfterMs) {
      this.#table.sweep(this.#timings.deadAfterMs, this.#timings.pruneAfterMs);
    }
    // Changes missed while cut off arrive with the next beat, as Redis' polling fallback does.
    if (this.#state === "joined" && this.#view !== undefined && this.#table.view.version > this.#view.version) {
      this.#deliver(this.#table.view);
    }
    if (this.#state === "joined") this.#schedule();
  }

  #deliver(view: MembershipView): void {
    if (this.#state !== "joined" || this.#view === undefined || view.version <= this.#view.version) return;
    if (this.#self !== undefined && this.#table.isCut(this.#self)) return;
    this.#view = view;
    const me = view.silos.find((s) => s.id === this.#self);
    if (me === undefined || me.status === "dead") {
      this.#evict(me === undefined ? "gone" : "dead");
      return;
    }
    this.#listeners.changed(view);
  }

  #evict(why: "dead" | "gone"): void {
    if (this.#state !== "joined") return;
    this.#stop("evicted");
    this.#vanished = why === "gone";
    const reason =
      why === "dead"
        ? `peers declared silo ${this.#self} dead (no heartbeat for more than ${this.#timings.deadAfterMs} ms)`
        : `the membership entry of silo ${this.#self} is gone (the membership store lost its data)`;
    this.#listeners.evicted(reason);
  }
}

/**
 * An in-process membership provider. Without a registry it gets a private one:
 * the zero-config single-silo case.
 */
export function memoryMembership(
  registry?: MemoryMembershipRegistry,
  options: MemoryMembershipOptions = {},
): MembershipProvider {
  if (registry !== undefined && !(registry instanceof MemoryMembershipRegistry)) {
    throw new InvalidArgumentError("memoryMembership: registry must be a MemoryMembershipRegistry");
  }
  if (registry !== undefined && options.clock !== undefined && options.clock !== registry.clock) {
    throw new InvalidArgumentError(
      "memoryMembership: options.clock differs from the registry's clock; heartbeat times must come from one clock",
    );
  }
  const timings = resolveMembershipTimings(options, "memoryMembership");
  const reg = registry ?? new MemoryMembershipRegistry(options.clock === undefined ? {} : { clock: options.clock });
  const onListenerError =
    options.onListenerError ??
    ((error: unknown) => consoleLog("error", `membership listener failed: ${describeError(error)}`, { error }));
  return new MemoryMembership(tableOf(reg), timings, onListenerError);
}
