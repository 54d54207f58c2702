/**
 * The public face of a silo: start and stop, references and calls, `send`,
 * control calls (deactivate, deleteState, locate) and the views the gateway
 * and dashboard read. The work happens in its parts: dispatch.ts (calls to
 * activations), messaging.ts, collector.ts, stateless-pool.ts, reminders.ts,
 * cluster/, wired together by wiring.ts; scope.ts undoes a failed start.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type Actor,
  type ActorClass,
  type ActorId,
  type ActorMethodNames,
  type ActorRef,
  ActorTypeNotFoundError,
  actorIdString,
  type CallOptions,
  type ChainLink,
  type Clock,
  createRef,
  DeadlineQueue,
  describeError,
  EMPTY_CHAIN,
  InvalidArgumentError,
  type Invoker,
  type LogLevel,
  type PraasError,
  type RefTarget,
  type RemoteMethod,
  refTarget,
  type SendOptions,
  SiloStoppedError,
  type StateStore,
  SYSTEM_METHODS,
  validateKey,
} from "@praas/core/internal";
import {
  type AbandonedActivation,
  type Activation,
  type ActivationHost,
  type DeactivationReason,
  type FailureKind,
  toActorId,
} from "./activation.js";
import { ActivationTable } from "./activation-table.js";
import type { CallObserver } from "./call.js";
import { Cluster, type MembershipLostError } from "./cluster/cluster.js";
import { withRetry } from "./cluster/retry.js";
import { type SiloRequestHandler, SiloRequests, wrongSilo } from "./cluster/silo-request.js";
import { ActivationCollector } from "./collector.js";
import { CallDispatcher } from "./dispatch.js";
import { Messaging } from "./messaging.js";
import { type ResolvedSiloOptions, resolveSiloOptions, type SiloOptions } from "./options.js";
import { ActorRegistry } from "./registry.js";
import { ReminderService } from "./reminders.js";
import { Scope, settlesWithin } from "./scope.js";
import { StatelessPool } from "./stateless-pool.js";
import { type ActorEventListener, Subscriptions } from "./subscriptions.js";
import { activationContext, clusterHost, reminderHost, type WiringHost } from "./wiring.js";
import { WorkerPool } from "./worker-pool/pool.js";

/** Something that failed with no caller to tell (a timer, a hook, an idle save). */
export interface SiloFailure {
  readonly kind: FailureKind;
  readonly actor: string;
  readonly error: unknown;
}

/** What `stop()` did with the activations it found. */
export interface StopReport {
  /** Activations whose state was stored (or already current) when they ended. */
  readonly saved: number;
  /** Activations given up on with turns still running at the drain deadline. */
  readonly abandoned: readonly AbandonedActivation[];
  /** Activations whose state could not be saved, with the reason. */
  readonly failed: readonly { readonly actor: string; readonly error: unknown }[];
}

export interface SiloEvents {
  activate: [id: ActorId];
  deactivate: [id: ActorId, reason: DeactivationReason];
  failure: [failure: SiloFailure];
  /**
   * This silo lost its cluster membership (peers declared it dead, or Redis
   * lost its data): it stopped serving at once, dropped its activations
   * without saving, and is rejoining under a new id.
   */
  evicted: [reason: string];
  /** A new incarnation of this silo joined the cluster and serves (`siloId` is now the new id). */
  rejoined: [siloId: string, previousId: string];
  /** Not back in the cluster within `cluster.rejoinTimeoutMs`: the silo stops (`stop()` is under way). */
  membershipLost: [error: MembershipLostError];
}

export interface ClusterSilo {
  readonly id: string;
  /** Silo-to-silo address ("host:port"), undefined for an embedded single silo. */
  readonly address: string | undefined;
  readonly status: "active" | "joining" | "leaving" | "dead";
  /** Activations hosted (known for this silo; other silos report theirs when asked). */
  readonly activations?: number;
  readonly perType?: Record<string, number>;
}

export interface ClusterView {
  /** Membership version (0 for an embedded single silo). */
  readonly version: number;
  /** Id of the silo answering. */
  readonly self: string;
  /** May the answering silo serve its actors now (it holds a membership lease)? */
  readonly serving: boolean;
  /** Why not, when `serving` is false. */
  readonly reason?: string;
  readonly silos: readonly ClusterSilo[];
}

/** A ref target as the silo builds it: also remembers the activation that made it. */
interface SiloRefTarget extends RefTarget {
  readonly caller: Activation | undefined;
}

/**
 * A silo hosts activations of virtual actors. Embedded use:
 *
 * ```ts
 * const silo = await Silo.start({ actors: [Counter] });
 * await silo.ref(Counter, "alice").add(5);
 * await silo.stop();
 * ```
 */
export class Silo extends EventEmitter<SiloEvents> implements Invoker {
  readonly #options: ResolvedSiloOptions;
  readonly #registry: ActorRegistry;
  readonly #table = new ActivationTable();
  readonly #deadlines: DeadlineQueue;
  readonly #context: ActivationHost;
  readonly #subscriptions = new Subscriptions();
  readonly #reminders: ReminderService;
  readonly #stateless = new StatelessPool();
  readonly #messaging: Messaging;
  /** What the silo's parts get from it (activation context, cluster host, reminder host). */
  readonly #wiring: WiringHost;
  #stopping: Promise<StopReport> | undefined;
  /** Catalog of activations and dispatch of calls (also holds the cluster and the call observer). */
  readonly #dispatcher: CallDispatcher;
  readonly #collector: ActivationCollector;
  readonly #siloRequests = new SiloRequests();
  /** When this silo started (epoch ms): its age on the dashboard. */
  readonly startedAt = Date.now();
  /** Worker threads of `static threads` types (none started until such a call comes). */
  readonly #threads: WorkerPool;

  private constructor(options: ResolvedSiloOptions) {
    super();
    this.#options = options;
    this.#registry = new ActorRegistry(options.actors, options.idleTimeoutMs);
    this.#deadlines = new DeadlineQueue(options.clock);
    const { workerThreads: size, clock } = options;
    this.#threads = new WorkerPool({
      size,
      clock,
      deadlines: this.#deadlines,
      observer: () => this.#dispatcher.observer,
    });
    const timeouts = [...this.#registry.types].map((t) => t.idleTimeoutMs);
    const minIdle = Math.min(options.idleTimeoutMs, ...timeouts);
    this.#collector = new ActivationCollector(
      this.#table,
      { clock, servingError: () => this.#cluster?.servingError() },
      {
        maxActivations: options.maxActivations,
        minIdleTimeoutMs: minIdle,
        everyMs: options.idleCheckIntervalMs ?? Math.min(60_000, Math.max(100, minIdle / 5)),
      },
    );
    this.#messaging = new Messaging(this.#registry, {
      clock,
      callTimeoutMs: options.callTimeoutMs,
      deliver: (target, message, durable, timeoutMs) =>
        this.#dispatcher.systemCall(target, SYSTEM_METHODS.deliver, [message, durable], true, timeoutMs),
      stopping: () => this.#stopping !== undefined,
    });
    this.#wiring = this.#makeWiring();
    this.#context = activationContext(this.#wiring);
    this.#dispatcher = new CallDispatcher({
      registry: this.#registry,
      table: this.#table,
      deadlines: this.#deadlines,
      threads: this.#threads,
      stateless: this.#stateless,
      collector: this.#collector,
      context: this.#context,
      clock,
      callTimeoutMs: options.callTimeoutMs,
      storage: options.storage,
      baseId: this.#baseId,
    });
    this.#reminders = new ReminderService(options.reminders, reminderHost(this.#wiring), {
      refreshMs: options.reminderRefreshMs,
    });
  }

  /** Start a silo. With only `actors` given it is a complete single-node system storing state in `./.praas-state`. */
  static async start(options: SiloOptions): Promise<Silo> {
    const resolved = resolveSiloOptions(options);
    // Every step registers its undo: a step that throws leaves nothing of the earlier ones running.
    const scope = new Scope();
    // The stores are open (the embedded one holds its folder): the silo owns them from here.
    // Registered so that they close in stop()'s order: the state store, then the reminders.
    scope.defer(() => resolved.reminders.close());
    scope.defer(() => resolved.storage.close());
    try {
      const silo = new Silo(resolved);
      scope.defer(() => silo.#deadlines.close(new SiloStoppedError()));
      scope.defer(() => silo.#threads.close(0));
      if (resolved.cluster !== undefined) {
        // Before the join: a store on the membership's own server checks every write against it.
        const record = resolved.cluster.membership.memberRecord?.();
        if (record !== undefined) {
          const fenced = [
            resolved.storage.fenceWrites?.(record) === true ? "state" : "",
            resolved.reminders.fenceWrites?.(record) === true ? "reminder" : "",
          ].filter((what) => what !== "");
          if (fenced.length > 0) {
            resolved.log("info", `${fenced.join(" and ")} writes are fenced by cluster membership on ${record.server}`);
          }
        }
        const cluster = await Cluster.start(clusterHost(silo.#wiring), resolved.cluster, silo.#baseId);
        silo.#dispatcher.cluster = cluster;
        scope.defer(async () => {
          await cluster.beginStop();
          await cluster.finishStop();
        });
      }
      silo.#collector.start();
      scope.defer(() => silo.#collector.stop());
      // Before starting: a start that fails half way may have scheduled some reminders already.
      scope.defer(() => silo.#reminders.stop());
      await silo.#reminders.start();
      return silo;
    } catch (err) {
      for (const failure of await scope.close()) {
        try {
          resolved.log("warn", `start failed, and undoing a step failed too: ${describeError(failure)}`, {
            error: failure,
          });
        } catch {
          // A logger that throws must not hide the start's own error.
        }
      }
      throw err;
    }
  }

  readonly #baseId = `silo-${randomBytes(4).toString("hex")}`;

  /** Cluster membership, ring and transport, across incarnations; undefined for an embedded single silo. */
  get #cluster(): Cluster | undefined {
    return this.#dispatcher.cluster;
  }

  /**
   * Unique id of this silo instance. In a cluster, a silo that lost its
   * membership rejoins under a new id (`<first id>.<n>`); this is the current one.
   */
  get siloId(): string {
    return this.#dispatcher.siloId;
  }

  /** 0 at start; +1 for each attempt to rejoin the cluster under a new id. */
  get incarnation(): number {
    return this.#cluster?.incarnation ?? 0;
  }

  /**
   * Undefined while this silo may serve the actors it owns; otherwise the
   * retryable error its calls get and why (no membership lease, evicted and
   * rejoining). An embedded single silo always serves. Stopping is not
   * included (see `stop()`).
   */
  servingError(): PraasError | undefined {
    return this.#cluster?.servingError();
  }

  get clock(): Clock {
    return this.#options.clock;
  }

  /** Default deadline of a call (the `callTimeoutMs` option). */
  get callTimeoutMs(): number {
    return this.#options.callTimeoutMs;
  }

  get store(): StateStore {
    return this.#options.storage;
  }

  /** Number of activations in memory (any status). */
  get activationCount(): number {
    return this.#table.size;
  }

  /** Names of the hosted actor types. */
  get actorTypes(): string[] {
    return [...this.#registry.types].map((t) => t.name);
  }

  /**
   * Answer requests other silos address to this silo itself (not to an
   * actor), such as the dashboard's statistics. Returns the function that removes the handler.
   */
  handleSiloRequests(method: string, handler: SiloRequestHandler): () => void {
    return this.#siloRequests.handle(method, handler);
  }

  /** Ask silo `siloId` (this one included) a request it answers with `handleSiloRequests`. */
  askSilo(siloId: string, method: string, args: readonly unknown[], timeoutMs: number): Promise<unknown> {
    if (siloId === this.siloId) return this.#siloRequests.answer(method, args);
    return this.#cluster?.ask(siloId, method, args, timeoutMs) ?? Promise.reject(wrongSilo(siloId, this.siloId));
  }

  /** @internal The activations in memory here (the dashboard's per-silo statistics). */
  activationsHere(): Iterable<Activation> {
    return this.#table.values();
  }

  /** @internal The activation of `id` in memory here, if any. */
  activationHere(id: ActorId): Activation | undefined {
    return this.#table.get(actorIdString(id.type, id.key));
  }

  /** @internal Reminders scheduled here: overdue, and due within `soonMs`. */
  remindersDue(soonMs: number): { scheduled: number; overdue: number; soon: number } {
    return { scheduled: this.#reminders.scheduled, ...this.#reminders.dueCounts(this.#options.clock.now(), soonMs) };
  }

  /** Is `ref`'s actor in memory here now? */
  isActive(ref: ActorRef<unknown> | ActorId): boolean {
    const id = toActorId(ref);
    return this.#table.get(actorIdString(id.type, id.key)) !== undefined;
  }

  /** A typed reference to the actor `Type/key`. Creating it does not activate anything. */
  ref<T extends Actor<unknown>>(cls: ActorClass<T>, key: string, options?: CallOptions): ActorRef<T> {
    return this.#makeRef(cls as ActorClass, key, options, undefined) as ActorRef<T>;
  }

  /**
   * A reference by type name, for callers that only have strings (gateways,
   * the HTTP control plane, the command line). Checks the type and key.
   */
  refByName(
    type: string,
    key: string,
    options?: CallOptions,
  ): ActorRef<Actor<unknown>> & Record<string, (...args: unknown[]) => Promise<unknown>> {
    const info = this.#registry.get(type);
    if (info === undefined) throw new ActorTypeNotFoundError(type);
    return this.#makeRef(info.cls, key, options, undefined) as ActorRef<Actor<unknown>> &
      Record<string, (...args: unknown[]) => Promise<unknown>>;
  }

  /** Call `method` on `Type/key` with `args` (the untyped form of `ref(...).method(...args)`). */
  call(type: string, key: string, method: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    try {
      const target = refTarget(this.refByName(type, key, options)) as RefTarget;
      return this.invokeRef(target, method, [...args]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The class registered for a type name (for gateways that validate arguments). */
  classOf(type: string): ActorClass | undefined {
    return this.#registry.get(type)?.cls;
  }

  /**
   * See the outcome and duration of every call (for metrics). One observer at a
   * time; returns a function that removes it. Costs nothing while none is set.
   */
  observeCalls(observer: CallObserver): () => void {
    const dispatcher = this.#dispatcher;
    dispatcher.observer = observer;
    return () => {
      if (dispatcher.observer === observer) dispatcher.observer = undefined;
    };
  }

  /**
   * Where each actor lives and which silos there are. A single silo sees only itself.
   * `perType: false` leaves this silo's per-type counts empty, sparing a walk over every activation.
   */
  clusterView(options?: { readonly perType?: boolean }): ClusterView {
    const perType: Record<string, number> = {};
    if (options?.perType !== false) {
      for (const a of this.#table.values()) perType[a.info.name] = (perType[a.info.name] ?? 0) + 1;
    }
    if (this.#cluster !== undefined) {
      const { version, silos } = this.#cluster.view;
      const me = this.#cluster.self();
      const refusal = this.#cluster.servingError();
      const others: ClusterSilo[] = silos
        .filter((s) => s.id !== me.id)
        .map((s) => ({ id: s.id, address: s.address, status: s.status }));
      const mine: ClusterSilo = { ...me, activations: this.#table.size, perType };
      return {
        version,
        self: me.id,
        serving: refusal === undefined,
        ...(refusal === undefined ? {} : { reason: refusal.message }),
        silos: [...others, mine].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      };
    }
    return {
      version: 0,
      self: this.siloId,
      serving: true,
      silos: [{ id: this.siloId, address: undefined, status: "active", activations: this.#table.size, perType }],
    };
  }

  /** Public method names of a hosted type (undefined if the type is unknown). */
  methodsOf(type: string): ReadonlySet<string> | undefined {
    return this.#registry.get(type)?.methods;
  }

  /**
   * Listen to the events an actor emits with `this.emit(event, payload)`;
   * `event` "*" receives all. Kept across swap-out and swap-in. Returns the unsubscribe function.
   */
  subscribe(ref: ActorRef<unknown> | ActorId, event: string, listener: ActorEventListener): () => void {
    return this.#subscriptions.subscribe(toActorId(ref), event, listener);
  }

  /**
   * Swap an actor out now: `onDeactivate`, state saved, memory released — on
   * whichever silo hosts it. Resolves with whether it was active.
   */
  deactivate(ref: ActorRef<unknown> | ActorId): Promise<boolean> {
    return this.#controlCall(ref, SYSTEM_METHODS.deactivate) as Promise<boolean>;
  }

  /**
   * Remove an actor's stored state for good (deactivating it first, without
   * saving, wherever it is active). Resolves with whether it was active.
   */
  deleteState(ref: ActorRef<unknown> | ActorId): Promise<boolean> {
    return this.#controlCall(ref, SYSTEM_METHODS.deleteState) as Promise<boolean>;
  }

  /** Is the actor in memory, and on which silo (the owner, in a cluster)? Activates nothing. */
  locate(ref: ActorRef<unknown> | ActorId): Promise<{ active: boolean; silo: string }> {
    return this.#controlCall(ref, SYSTEM_METHODS.locate) as Promise<{ active: boolean; silo: string }>;
  }

  // Not async, nor are its callers: the call's own promise is their answer (a promise hop less
  // on every swap-out); a bad argument still rejects rather than throws.
  #controlCall(ref: ActorRef<unknown> | ActorId, method: string): Promise<unknown> {
    let id: ActorId;
    try {
      id = toActorId(ref);
      if (this.#registry.get(id.type) === undefined) throw new ActorTypeNotFoundError(id.type);
      validateKey(id.key);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#stopping !== undefined) {
      // While stopping, act on what is here only (there is no routing any more).
      const a = this.#table.get(actorIdString(id.type, id.key));
      if (method === SYSTEM_METHODS.locate) return Promise.resolve({ active: a !== undefined, silo: this.siloId });
      return Promise.reject(new SiloStoppedError());
    }
    return this.#dispatcher.systemCall(id, method, [], true);
  }

  /**
   * Stop: take no new calls, let running and queued calls finish, deactivate
   * every activation (saving its state) and close the store — bounded by
   * `drainTimeoutMs`: activations still busy after three quarters of it are
   * abandoned (saved as they are) and listed in the report. Calls still
   * waiting at the end fail with SiloStoppedError. Rejects with an
   * AggregateError (carrying `report`) if some state could not be saved.
   */
  stop(): Promise<StopReport> {
    if (this.#stopping === undefined) {
      this.#stopping = this.#stop();
      // After #stop()'s first synchronous steps, as before: calls parked by the cluster are released into them.
      this.#dispatcher.stopping = true;
    }
    return this.#stopping;
  }

  async #stop(): Promise<StopReport> {
    this.#collector.stop();
    this.#reminders.stop();
    const { clock, drainTimeoutMs } = this.#options;
    // Cluster: drop off the ring first, so calls without an activation here go to their new owner.
    await this.#cluster?.beginStop();
    const failed: { actor: string; error: unknown }[] = [];
    const abandoning = new Map<Activation, Promise<AbandonedActivation>>();
    let saved = 0;
    // Past the graceful share of the drain, whatever is still busy is abandoned; its save gets the rest.
    const graceful = Math.floor(drainTimeoutMs * 0.75);
    const threadsClosed = this.#threads.close(graceful);
    let overdue = false;
    const abandonAll = (): void => {
      for (const a of this.#table.values()) {
        if (!abandoning.has(a)) abandoning.set(a, a.abandon("stop", drainTimeoutMs - graceful));
      }
    };
    const drain = clock.setTimeout(() => {
      overdue = true;
      abandonAll();
    }, graceful);
    // Deactivating can let parked calls through to fresh activations; loop until none are left.
    while (this.#table.size > 0) {
      if (overdue) abandonAll();
      const batch = [...this.#table.values()];
      const results = await Promise.allSettled(
        batch.map((a) => {
          // An abandoned activation leaves the table when its abandonment ends, not its deactivation.
          const abandonment = abandoning.get(a) ?? a.abandonment;
          if (abandonment === undefined) return a.deactivate("stop");
          abandoning.set(a, abandonment);
          return abandonment.then(() => "abandoned" as const);
        }),
      );
      results.forEach((r, i) => {
        if (r.status === "rejected") failed.push({ actor: (batch[i] as Activation).idString, error: r.reason });
        else if (r.value === "saved") saved++;
      });
    }
    drain.cancel();
    const abandoned = await Promise.all(abandoning.values());
    saved += abandoned.filter((a) => a.saved).length;
    for (const a of abandoned) {
      this.#log(
        "warn",
        `stop: abandoned ${a.actor} at the drain deadline (${a.method} still running; ${a.saved ? "saved as it was" : "not saved"})`,
        a.actor,
      );
    }
    // Cluster: tell peers, leave membership, wait for in-flight calls, close the transport.
    await threadsClosed;
    await this.#cluster?.finishStop();
    this.#deadlines.close(new SiloStoppedError());
    // A store whose backend stopped answering must not hang stop(): wait a drain's length for each.
    for (const [what, store] of [
      ["state store", this.#options.storage],
      ["reminder store", this.#options.reminders],
    ] as const) {
      if (!(await settlesWithin(store.close(), drainTimeoutMs, clock))) {
        this.#log("warn", `stop: closing the ${what} took over ${drainTimeoutMs} ms; left it closing`);
      }
    }
    const report: StopReport = { saved, abandoned, failed };
    if (failed.length > 0) {
      throw Object.assign(
        new AggregateError(
          failed.map((f) => f.error),
          `Silo stopped, but ${failed.length} activation(s) failed to save`,
        ),
        { report },
      );
    }
    return report;
  }

  #log(level: LogLevel, message: string, actor?: string, error?: unknown): void {
    try {
      this.#options.log(level, message, { silo: this.siloId, actor, error });
    } catch {
      // A logger that throws must not break the runtime.
    }
  }

  // ---- calls ----

  /**
   * Call a stateless worker type without naming a process (PraaS "invoke
   * without a pid"): runs here, on the least busy of up to `maxWorkers`
   * activations.
   */
  invoke<T extends Actor<unknown>, M extends ActorMethodNames<T>>(
    cls: ActorClass<T>,
    method: M,
    ...args: Parameters<RemoteMethod<T[M]>>
  ): ReturnType<RemoteMethod<T[M]>>;
  invoke(cls: ActorClass, method: string, ...args: unknown[]): Promise<unknown> {
    const info = this.#registry.ofClass(cls);
    if (info === undefined) return Promise.reject(new ActorTypeNotFoundError(cls.actorType ?? cls.name));
    if (!info.stateless) {
      return Promise.reject(
        new InvalidArgumentError(`${info.name} is not stateless: call it through a reference with a key`),
      );
    }
    return this.#dispatcher.call(info, "", method, args, EMPTY_CHAIN, this.#options.callTimeoutMs);
  }

  /**
   * Not for applications (use a reference): the entry point of every call
   * made through a reference (the `Invoker` seam of `createRef`), and of the
   * gateway's calls.
   */
  invokeRef(target: RefTarget, method: string, args: unknown[]): Promise<unknown> {
    const info = this.#registry.get(target.id.type);
    if (info === undefined) return Promise.reject(new ActorTypeNotFoundError(target.id.type));
    const caller = (target as SiloRefTarget).caller;
    const chain: readonly ChainLink[] = caller === undefined ? EMPTY_CHAIN : caller.outgoingChain();
    const timeoutMs = target.options?.timeoutMs ?? this.#options.callTimeoutMs;
    if (target.options?.retry === true) {
      // Opt-in: the caller says the call may run twice (see cluster/retry.ts).
      return withRetry(
        (ms) => this.#dispatcher.call(info, target.id.key, method, args, chain, ms, target.idString),
        timeoutMs,
        this.#options.clock,
      );
    }
    return this.#dispatcher.call(info, target.id.key, method, args, chain, timeoutMs, target.idString);
  }

  /**
   * Put `data` in the inbox of `target` under `channel`, from outside any actor
   * (PraaS `send`). Resolves once the message is in the inbox, or with
   * `{ durable: true }` once it is stored.
   */
  send(target: ActorRef<unknown> | ActorId, channel: string, data?: unknown, options?: SendOptions): Promise<void> {
    try {
      return this.#messaging.send(undefined, toActorId(target), channel, data, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #makeRef(cls: ActorClass, key: string, options: CallOptions | undefined, caller: Activation | undefined): unknown {
    if (typeof cls !== "function") throw new InvalidArgumentError("ref() needs an actor class");
    validateKey(key);
    if (options?.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new InvalidArgumentError("timeoutMs must be a positive number");
    }
    const type = this.#registry.ofClass(cls)?.name ?? cls.actorType ?? cls.name;
    const target: SiloRefTarget = { id: { type, key }, idString: actorIdString(type, key), options, caller };
    return createRef(this, target);
  }

  /** Silo-to-silo address ("host:port") of a cluster silo; undefined for an embedded single silo. */
  get clusterAddress(): string | undefined {
    return this.#cluster?.address;
  }

  /** The silo's side of the callback bags (wiring.ts): its components, read when a callback runs. */
  #makeWiring(): WiringHost {
    const silo = this;
    return {
      options: this.#options,
      registry: this.#registry,
      table: this.#table,
      deadlines: this.#deadlines,
      subscriptions: this.#subscriptions,
      collector: this.#collector,
      siloRequests: this.#siloRequests,
      messaging: this.#messaging,
      // Getters: these parts are built after the wiring (the dispatcher needs the activation context).
      get dispatcher() {
        return silo.#dispatcher;
      },
      get reminders() {
        return silo.#reminders;
      },
      get siloId() {
        return silo.siloId;
      },
      events: this,
      makeRef: (cls, key, options, caller) => this.#makeRef(cls, key, options, caller),
      log: (level, message, actor, error) => this.#log(level, message, actor, error),
      fail: (kind, actor, error) => this.#fail(kind, actor, error),
      stop: () => this.stop(),
    };
  }

  /** A failure with no caller to tell: a `failure` event and one log line. */
  #fail(kind: FailureKind, actor: string, error: unknown): void {
    this.#context.report(kind, actor, error);
    this.#log("warn", `${actor}: ${kind} failed: ${describeError(error)}`, actor, error);
  }
}
