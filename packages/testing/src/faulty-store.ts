/**
 * Storage faults for a test cluster: one {@link FaultyStore} wraps the store
 * every silo shares, and hands each silo its own view (`viewFor`), so that a
 * crashed silo is fenced off (nothing it started reaches the store any more)
 * and a paused one waits, while the others carry on.
 *
 * Faults, drawn from the seeded generator: a write or read fails
 * (`StorageFaultError`), takes longer (`latencyMs`, on the silo's clock), or
 * meets a conflicting write from "elsewhere" — another writer stores the same
 * bytes under a new version just before, so the silo's conditional write
 * fails with StateConflictError and its activation must be dropped (fencing),
 * while the actor's value is unchanged.
 */
import {
  type ActorId,
  type Clock,
  PraasError,
  type ReminderRecord,
  type ReminderStore,
  type StateStore,
  type StoredState,
} from "@praas/core/internal";
import type { Prng } from "./prng.js";

/** A failure injected into a store call. */
export class StorageFaultError extends PraasError {
  constructor(message: string) {
    super("STORAGE_FAULT", message, { retryable: true });
  }
}

/** Faults applied to store calls (all silos, or one silo through `setFaults(node, …)`). */
export interface StoreFaults {
  /** Probability that a load, save or delete fails with StorageFaultError (default 0). */
  readonly errorRate?: number;
  /** Fail every n-th save (counting all silos; default: never). */
  readonly failEveryNthSave?: number;
  /** Every call takes this long, in ms of the silo's clock (default 0) … */
  readonly latencyMs?: number;
  /** … plus up to this much more, drawn per call (default 0). */
  readonly jitterMs?: number;
  /** Probability that a save meets a conflicting write from elsewhere just before (default 0). */
  readonly conflictRate?: number;
}

export interface StoreStats {
  loads: number;
  saves: number;
  deletes: number;
  /** Calls failed by a fault. */
  injectedErrors: number;
  /** Conflicting writes made from "elsewhere". */
  conflicts: number;
  /** Calls of a crashed silo that were refused. */
  fenced: number;
}

/** What a view needs to know about its silo. */
interface ViewState {
  fenced: boolean;
  /** Resolves when the silo resumes; undefined while it runs. */
  gate: Promise<void> | undefined;
  open: (() => void) | undefined;
  faults: StoreFaults | undefined;
  clock: Clock;
}

export class FaultyStore {
  readonly inner: StateStore;
  readonly stats: StoreStats = { loads: 0, saves: 0, deletes: 0, injectedErrors: 0, conflicts: 0, fenced: 0 };
  readonly #prng: Prng;
  readonly #views = new Map<number, ViewState>();
  #faults: StoreFaults = {};
  #inFlight = 0;

  constructor(inner: StateStore, prng: Prng) {
    this.inner = inner;
    this.#prng = prng;
  }

  /** Store calls under way (the cluster's driver does not move time while the real store works). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Faults for every silo (replacing the previous ones); `{}` clears them. */
  setFaults(faults: StoreFaults): void {
    this.#faults = { ...faults };
  }

  /** Faults for one silo only (on top of nothing: they replace the cluster-wide ones for it). */
  setNodeFaults(node: number, faults: StoreFaults | undefined): void {
    const v = this.#views.get(node);
    if (v !== undefined) v.faults = faults;
  }

  /** The store as silo `node` sees it. Closing a view does not close the shared store. */
  viewFor(node: number, clock: Clock): StateStore {
    const state: ViewState = { fenced: false, gate: undefined, open: undefined, faults: undefined, clock };
    this.#views.set(node, state);
    const run = <T>(what: string, id: ActorId, op: () => Promise<T>, save?: Uint8Array): Promise<T> =>
      this.#run(state, what, id, op, save);
    return {
      kind: this.inner.kind,
      load: (id) => run("load", id, () => this.inner.load(id)),
      save: (id, data, expected) => run("save", id, () => this.inner.save(id, data, expected), data),
      delete: (id, expected) => run("delete", id, () => this.inner.delete(id, expected)),
      describe: (id) => this.inner.describe(id),
      close: async () => {},
    };
  }

  /** Silo `node` crashed: nothing of it reaches the store again (calls under way are cut off too). */
  fence(node: number): void {
    const v = this.#views.get(node);
    if (v === undefined) return;
    v.fenced = true;
    v.open?.();
  }

  pause(node: number): void {
    const v = this.#views.get(node);
    if (v === undefined || v.gate !== undefined) return;
    v.gate = new Promise((resolve) => {
      v.open = resolve;
    });
  }

  resume(node: number): void {
    const v = this.#views.get(node);
    if (v === undefined) return;
    const open = v.open;
    v.gate = undefined;
    v.open = undefined;
    open?.();
  }

  /**
   * A conflicting write from elsewhere, now: the actor's current bytes stored
   * again under a new version. The next conditional write of whoever holds it fails.
   */
  async conflict(id: ActorId): Promise<boolean> {
    const current = await this.inner.load(id);
    if (current === undefined) return false;
    try {
      await this.inner.save(id, current.data, current.version);
      this.stats.conflicts++;
      return true;
    } catch {
      return false;
    }
  }

  /** The bytes stored for `id`, straight from the shared store (no faults). */
  load(id: ActorId): Promise<StoredState | undefined> {
    return this.inner.load(id);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #run<T>(v: ViewState, what: string, id: ActorId, op: () => Promise<T>, save?: Uint8Array): Promise<T> {
    await this.#gate(v);
    const faults = v.faults ?? this.#faults;
    if (what === "load") this.stats.loads++;
    else if (what === "save") this.stats.saves++;
    else this.stats.deletes++;
    const latency = (faults.latencyMs ?? 0) + (faults.jitterMs ? this.#prng.int(faults.jitterMs + 1) : 0);
    if (latency > 0) await new Promise<void>((resolve) => v.clock.setTimeout(resolve, latency));
    await this.#gate(v);
    const everyNth = faults.failEveryNthSave;
    if (
      (faults.errorRate !== undefined && this.#prng.chance(faults.errorRate)) ||
      (save !== undefined && everyNth !== undefined && everyNth > 0 && this.stats.saves % everyNth === 0)
    ) {
      this.stats.injectedErrors++;
      throw new StorageFaultError(`Injected storage fault: ${what} of ${this.inner.describe(id)} failed`);
    }
    if (save !== undefined && faults.conflictRate !== undefined && this.#prng.chance(faults.conflictRate)) {
      this.#inFlight++;
      try {
        await this.conflict(id);
      } finally {
        this.#inFlight--;
      }
    }
    this.#inFlight++;
    let result: T;
    try {
      result = await op();
    } finally {
      this.#inFlight--;
    }
    // A silo paused meanwhile hears the answer only when it resumes; a crashed one never does.
    await this.#gate(v);
    return result;
  }

  async #gate(v: ViewState): Promise<void> {
    while (v.gate !== undefined && !v.fenced) await v.gate;
    if (v.fenced) {
      this.stats.fenced++;
      // A crashed process hears nothing back: the promise stays pending for ever.
      await new Promise<never>(() => {});
    }
  }
}

/** Reminders shared by the silos of a test cluster, with a crashed silo fenced off. */
export class SharedReminders {
  readonly inner: ReminderStore;
  readonly #fenced = new Set<number>();

  constructor(inner: ReminderStore) {
    this.inner = inner;
  }

  fence(node: number): void {
    this.#fenced.add(node);
  }

  unfence(node: number): void {
    this.#fenced.delete(node);
  }

  viewFor(node: number): ReminderStore {
    const guard = async <T>(op: () => Promise<T>): Promise<T> => {
      if (this.#fenced.has(node)) await new Promise<never>(() => {});
      return op();
    };
    return {
      kind: this.inner.kind,
      put: (r: ReminderRecord) => guard(() => this.inner.put(r)),
      delete: (actor, name) => guard(() => this.inner.delete(actor, name)),
      get: (actor, name) => guard(() => this.inner.get(actor, name)),
      list: () => guard(() => this.inner.list()),
      close: async () => {},
    };
  }
}
