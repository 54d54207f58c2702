import { join } from "node:path";
import {
  type ActorClass,
  type Clock,
  consoleLog,
  InvalidArgumentError,
  type LogFunction,
  MemoryReminderStore,
  type ReminderStore,
  type StateStore,
  systemClock,
} from "@praas/core";
import { type ClusterOptions, type ResolvedClusterOptions, resolveClusterOptions } from "./cluster/config.js";
import { LmdbStateStore } from "./lmdb-store.js";
import { ActorRegistry } from "./registry.js";
import { defaultPoolSize } from "./worker-pool/pool.js";

export interface SiloOptions {
  /** The actor classes this silo hosts. */
  readonly actors: readonly ActorClass[];
  /**
   * Where swapped-out state goes. Default: the embedded store (an
   * {@link LmdbStateStore}) in `stateDir`, which this process then holds
   * exclusively. The silo owns the store and closes it on `stop()`.
   */
  readonly storage?: StateStore;
  /** Folder of the default embedded store (default: `$PRAAS_STATE_DIR` or `./.praas-state`). */
  readonly stateDir?: string;
  /** Swap out activations idle this long (default 5 min; per type: `static idleTimeoutMs`). */
  readonly idleTimeoutMs?: number;
  /** How often the idle collector looks (default: a fifth of the shortest idle timeout, 100 ms … 60 s). */
  readonly idleCheckIntervalMs?: number;
  /** Default deadline of a call (default 30 s; per reference: `ref(T, key, { timeoutMs })`). */
  readonly callTimeoutMs?: number;
  /** Swap out the least recently used activations beyond this many (default: unbounded). */
  readonly maxActivations?: number;
  /**
   * How long `stop()` lets running turns finish and state be saved (default
   * 10 s). After three quarters of it, activations still busy are abandoned
   * (saved as they are, see `stuckTurnGraceMs`) and reported.
   */
  readonly drainTimeoutMs?: number;
  /**
   * A turn still running this long after its call's deadline is stuck: the
   * silo reports it (`failure` event, kind "stuck"), abandons the activation
   * and serves the actor from a fresh one (default 10 s).
   */
  readonly stuckTurnGraceMs?: number;
  /** Time source; tests pass a ManualClock. */
  readonly clock?: Clock;
  /**
   * Where durable reminders live. Default: beside the state in the embedded
   * store (same commits) when `storage` is the embedded store or not given; in
   * memory when another `storage` is given (pass a Redis reminder store in a
   * cluster). The silo closes it on `stop()`.
   */
  readonly reminders?: ReminderStore;
  /** How often the silo re-reads reminders it may now own (default 10 s). */
  readonly reminderRefreshMs?: number;
  /**
   * Join a cluster: calls go to whichever silo owns the actor (consistent
   * hashing over the membership), over authenticated silo-to-silo WebSockets.
   * Without it the silo is a complete single-node system.
   */
  readonly cluster?: ClusterOptions;
  /**
   * Where operational messages go, one line each — a stuck turn, a conflicting
   * write, a swap-out that cannot save, membership lease lost and renewed,
   * evicted, rejoined — with the silo id and actor as details (default: the
   * console, `[praas] silo-…: …`).
   */
  readonly log?: LogFunction;
  /**
   * Worker threads for types with `static threads` (default: the cores left
   * after the event loop's, at least 1). Started on first use; see docs/workers.md.
   */
  readonly workerThreads?: number;
}

export interface ResolvedSiloOptions {
  readonly actors: readonly ActorClass[];
  readonly storage: StateStore;
  readonly idleTimeoutMs: number;
  readonly idleCheckIntervalMs: number | undefined;
  readonly callTimeoutMs: number;
  readonly maxActivations: number;
  readonly drainTimeoutMs: number;
  readonly stuckTurnGraceMs: number;
  readonly clock: Clock;
  readonly reminders: ReminderStore;
  readonly reminderRefreshMs: number;
  readonly cluster: ResolvedClusterOptions | undefined;
  readonly log: LogFunction;
  readonly workerThreads: number;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError(`Silo option ${name} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Check every option and fill in defaults; a bad option is an InvalidArgumentError naming it. */
export function resolveSiloOptions(options: SiloOptions): ResolvedSiloOptions {
  if (typeof options !== "object" || options === null)
    throw new InvalidArgumentError("Silo.start needs an options object");
  if (!Array.isArray(options.actors))
    throw new InvalidArgumentError("Silo option actors must be an array of actor classes");
  const stateDir = options.stateDir ?? process.env.PRAAS_STATE_DIR ?? join(process.cwd(), ".praas-state");
  if (typeof stateDir !== "string" || stateDir.length === 0)
    throw new InvalidArgumentError("Silo option stateDir must be a path");
  if (options.log !== undefined && typeof options.log !== "function") {
    throw new InvalidArgumentError("Silo option log must be a function (level, message) => void");
  }
  const maxActivations = positive("maxActivations", options.maxActivations, Number.POSITIVE_INFINITY);
  if (maxActivations !== Number.POSITIVE_INFINITY && !Number.isInteger(maxActivations)) {
    throw new InvalidArgumentError("Silo option maxActivations must be an integer");
  }
  const checked = {
    actors: options.actors,
    idleTimeoutMs: positive("idleTimeoutMs", options.idleTimeoutMs, 300_000),
    idleCheckIntervalMs:
      options.idleCheckIntervalMs === undefined
        ? undefined
        : positive("idleCheckIntervalMs", options.idleCheckIntervalMs, 0),
    callTimeoutMs: positive("callTimeoutMs", options.callTimeoutMs, 30_000),
    maxActivations,
    drainTimeoutMs: positive("drainTimeoutMs", options.drainTimeoutMs, 10_000),
    stuckTurnGraceMs: positive("stuckTurnGraceMs", options.stuckTurnGraceMs, 10_000),
    clock: options.clock ?? systemClock,
    reminderRefreshMs: positive("reminderRefreshMs", options.reminderRefreshMs, 10_000),
    cluster: options.cluster === undefined ? undefined : resolveClusterOptions(options.cluster),
    log: options.log ?? consoleLog,
    workerThreads: positive("workerThreads", options.workerThreads, defaultPoolSize()),
  };
  if (!Number.isInteger(checked.workerThreads))
    throw new InvalidArgumentError("Silo option workerThreads must be an integer");
  // Bad actor classes are found here (the silo builds the registry again), before any store is opened.
  new ActorRegistry(checked.actors, checked.idleTimeoutMs);
  // Stores last: opening the embedded one claims the folder, so nothing may throw after it.
  const storage = options.storage ?? new LmdbStateStore(stateDir);
  const reminders =
    options.reminders ?? (storage instanceof LmdbStateStore ? storage.reminderStore() : new MemoryReminderStore());
  return { ...checked, storage, reminders };
}
