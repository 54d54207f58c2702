import { join } from "node:path";
import {
  type ActorClass,
  type Clock,
  consoleLog,
  DEFAULT_STATE_DIR,
  InvalidArgumentError,
  type LogFunction,
  MemoryReminderStore,
  OptionError,
  type OptionSpec,
  Options,
  type ReminderStore,
  readOption,
  type StateStore,
  systemClock,
} from "@praas/core/internal";
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
  /** Folder of the default embedded store (default: `./.praas-state` in the working directory, {@link DEFAULT_STATE_DIR}). */
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

/**
 * The silo's settings (the ones given as plain values): their defaults,
 * checks and descriptions. `praas start` builds its flags for them from these.
 */
export const SILO_OPTIONS = {
  stateDir: Options.text({
    doc: "where swapped-out state goes (the embedded store's folder)",
    default: DEFAULT_STATE_DIR,
    expected: "a path",
  }),
  idleTimeoutMs: Options.positiveNumber({
    doc: "swap actors out after this much idle time",
    default: 300_000,
  }),
  idleCheckIntervalMs: Options.positiveNumber({
    doc: "how often the idle collector looks",
    defaultText: "a fifth of the shortest idle timeout, 100 ms … 60 s",
  }),
  callTimeoutMs: Options.positiveNumber({ doc: "default deadline of a call", default: 30_000 }),
  maxActivations: Options.integer({
    doc: "swap out the least recently used actors beyond this many",
    min: 1,
    defaultText: "unbounded",
  }),
  drainTimeoutMs: Options.positiveNumber({
    doc: "how long stopping waits for running calls and saves",
    default: 10_000,
  }),
  stuckTurnGraceMs: Options.positiveNumber({
    doc: "a turn running this long past its call's deadline is stuck and abandoned",
    default: 10_000,
  }),
  reminderRefreshMs: Options.positiveNumber({
    doc: "how often the silo re-reads reminders it may now own",
    default: 10_000,
  }),
  workerThreads: Options.integer({
    doc: "threads for static threads types",
    min: 1,
    defaultText: "cores left after the event loop",
  }),
} as const;

/** `options[name]` checked against its description; an OptionError "Silo option <name> must be …" otherwise. */
function read<K extends keyof typeof SILO_OPTIONS>(
  options: SiloOptions,
  name: K,
): (typeof SILO_OPTIONS)[K] extends OptionSpec<infer T> ? T | undefined : never {
  const spec = SILO_OPTIONS[name] as OptionSpec<unknown>;
  return readOption(spec, name, options[name], `Silo option ${name}`) as never;
}

/** Check every option and fill in defaults; a bad option is an OptionError (an InvalidArgumentError) naming it. */
export function resolveSiloOptions(options: SiloOptions): ResolvedSiloOptions {
  if (typeof options !== "object" || options === null)
    throw new InvalidArgumentError("Silo.start needs an options object");
  if (!Array.isArray(options.actors))
    throw new OptionError("actors", options.actors, "Silo option actors must be an array of actor classes");
  // The library reads no environment variable: a program that wants $PRAAS_STATE_DIR passes it (praas start does).
  const givenDir = options.stateDir;
  const stateDir =
    givenDir === undefined
      ? join(process.cwd(), DEFAULT_STATE_DIR)
      : (readOption(SILO_OPTIONS.stateDir, "stateDir", givenDir, "Silo option stateDir") as string);
  if (options.log !== undefined && typeof options.log !== "function") {
    throw new OptionError("log", options.log, "Silo option log must be a function (level, message) => void");
  }
  const checked = {
    actors: options.actors,
    idleTimeoutMs: read(options, "idleTimeoutMs") as number,
    idleCheckIntervalMs: read(options, "idleCheckIntervalMs"),
    callTimeoutMs: read(options, "callTimeoutMs") as number,
    maxActivations: read(options, "maxActivations") ?? Number.POSITIVE_INFINITY,
    drainTimeoutMs: read(options, "drainTimeoutMs") as number,
    stuckTurnGraceMs: read(options, "stuckTurnGraceMs") as number,
    clock: options.clock ?? systemClock,
    reminderRefreshMs: read(options, "reminderRefreshMs") as number,
    cluster: options.cluster === undefined ? undefined : resolveClusterOptions(options.cluster),
    log: options.log ?? consoleLog,
    workerThreads: read(options, "workerThreads") ?? defaultPoolSize(),
  };
  // Bad actor classes are found here (the silo builds the registry again), before any store is opened.
  new ActorRegistry(checked.actors, checked.idleTimeoutMs);
  // Stores last: opening the embedded one claims the folder, so nothing may throw after it.
  const storage = options.storage ?? new LmdbStateStore(stateDir);
  const reminders =
    options.reminders ?? (storage instanceof LmdbStateStore ? storage.reminderStore() : new MemoryReminderStore());
  return { ...checked, storage, reminders };
}
