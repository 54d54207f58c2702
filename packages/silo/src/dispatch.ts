/**
 * The catalog of activations and the dispatch of calls to them: checks a
 * call, makes its Call, and hands it to the activation of its key here —
 * creating one if needed — or, in a cluster, to the silo that owns the key.
 * Control calls (locate, deactivate, deleteState) are answered here without a
 * turn. This is the hot path of every call: no closure or allocation beyond
 * the Call itself.
 */
import {
  type ActorId,
  ActorTypeNotFoundError,
  actorIdString,
  assertEncodableArgs,
  type ChainLink,
  type Clock,
  type DeadlineQueue,
  EMPTY_CHAIN,
  InvalidArgumentError,
  isControlMethod,
  MAX_CHAIN_LENGTH,
  MethodNotFoundError,
  SiloStoppedError,
  type StateStore,
  SYSTEM_METHODS,
} from "@praas/core/internal";
import { Activation, type ActivationHost, toCallerError } from "./activation.js";
import type { ActivationTable } from "./activation-table.js";
import { Call, type CallObserver } from "./call.js";
import type { Cluster } from "./cluster/cluster.js";
import type { ActivationCollector } from "./collector.js";
import type { ActorRegistry, ActorTypeInfo } from "./registry.js";
import type { StatelessPool } from "./stateless-pool.js";
import { inCallContext, traceCall } from "./tracing.js";
import type { WorkerPool } from "./worker-pool/pool.js";
import { runsOnThread } from "./worker-pool/settings.js";

/** What the dispatcher needs from its silo: the parts calls go through. */
export interface DispatcherHost {
  readonly registry: ActorRegistry;
  readonly table: ActivationTable;
  readonly deadlines: DeadlineQueue;
  /** Worker threads of `static threads` types. */
  readonly threads: WorkerPool;
  readonly stateless: StatelessPool;
  readonly collector: ActivationCollector;
  /** What every activation made here is given. */
  readonly context: ActivationHost;
  readonly clock: Clock;
  /** Deadline of a system call that names none. */
  readonly callTimeoutMs: number;
  /** The silo's state store (deleteState of an actor not in memory). */
  readonly storage: StateStore;
  /** The silo's id outside a cluster (a cluster silo's id is the cluster's). */
  readonly baseId: string;
}

export class CallDispatcher {
  readonly #registry: ActorRegistry;
  readonly #table: ActivationTable;
  readonly #deadlines: DeadlineQueue;
  readonly #threads: WorkerPool;
  readonly #stateless: StatelessPool;
  readonly #collector: ActivationCollector;
  readonly #context: ActivationHost;
  readonly #clock: Clock;
  readonly #callTimeoutMs: number;
  readonly #storage: StateStore;
  readonly #baseId: string;
  /** Cluster membership, ring and transport once joined; undefined for an embedded single silo. */
  cluster: Cluster | undefined;
  /** The silo is stopping: no new activations, no new calls from outside. */
  stopping = false;
  /** Told the outcome and duration of every call (metrics); undefined costs nothing. */
  observer: CallObserver | undefined;

  constructor(host: DispatcherHost) {
    this.#registry = host.registry;
    this.#table = host.table;
    this.#deadlines = host.deadlines;
    this.#threads = host.threads;
    this.#stateless = host.stateless;
    this.#collector = host.collector;
    this.#context = host.context;
    this.#clock = host.clock;
    this.#callTimeoutMs = host.callTimeoutMs;
    this.#storage = host.storage;
    this.#baseId = host.baseId;
  }

  /** The silo's current id (in a cluster, its incarnation's). */
  get siloId(): string {
    return this.cluster?.siloId ?? this.#baseId;
  }

  /** Check a user call and send it on its way (the hot path: no closure, one clock read). */
  call(
    info: ActorTypeInfo,
    key: string,
    method: string,
    args: unknown[],
    chain: readonly ChainLink[],
    timeoutMs: number,
    idString?: string,
  ): Promise<unknown> {
    try {
      // A draining cluster silo still lets running turns call out (their callees live elsewhere now).
      if (this.stopping && (this.cluster === undefined || chain.length === 0)) {
        throw new SiloStoppedError();
      }
      const type = info.name;
      if (!info.methods.has(method)) throw new MethodNotFoundError(type, method);
      assertEncodableArgs(args, `arguments of ${type}.${method}`);
      if (chain.length > MAX_CHAIN_LENGTH) {
        throw new InvalidArgumentError(`Call chain longer than ${MAX_CHAIN_LENGTH} actors (runaway recursion?)`);
      }
      if (runsOnThread(info.threads, method)) return this.#threads.run(info.threads, key, method, args, timeoutMs);
      // A stateless type is served by a local pool; the key the caller named does not matter.
      const worker = info.stateless ? this.#stateless.pick(info) : undefined;
      const workerKey = worker === undefined ? key : worker.key;
      const call = new Call(
        info.stateless || idString === undefined ? actorIdString(type, workerKey) : idString,
        type,
        workerKey,
        method,
        args,
        chain,
        info.reentrant || info.interleave.has(method),
        timeoutMs,
        this.#deadlines,
        this.observer,
        this.observer === undefined ? 0 : performance.now(),
      );
      traceCall(call, this.siloId);
      const now = this.#clock.now();
      this.#deadlines.add(call, timeoutMs, now);
      // Count calls in flight per worker until the caller has its answer.
      if (worker !== undefined) this.#stateless.track(worker, call.promise);
      if (call.trace === undefined) this.dispatch(call, now);
      else this.#dispatchTraced(call, now);
      return call.promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A call the runtime makes itself (message delivery, reminder firing): routed
   * like any call, but to a system method no user method can shadow.
   */
  systemCall(
    id: ActorId,
    method: string,
    args: unknown[],
    interleave: boolean,
    timeoutMs = this.#callTimeoutMs,
  ): Promise<unknown> {
    if (this.stopping) return Promise.reject(new SiloStoppedError());
    const call = new Call(
      actorIdString(id.type, id.key),
      id.type,
      id.key,
      method,
      args,
      EMPTY_CHAIN,
      interleave,
      timeoutMs,
      this.#deadlines,
      undefined,
      0,
    );
    traceCall(call, this.siloId);
    this.#deadlines.add(call, timeoutMs);
    if (call.trace === undefined) this.dispatch(call);
    else this.#dispatchTraced(call);
    return call.promise;
  }

  /** Dispatch in the call's trace context (a method of its own: a closure in call() would cost every call). */
  #dispatchTraced(call: Call, now?: number): void {
    inCallContext(call, () => this.dispatch(call, now));
  }

  /** `now` is passed by callers that already read the clock (one read per call is measurable). */
  dispatch(call: Call, now = this.#clock.now()): void {
    if (call.done) return;
    let a = this.#table.get(call.idString);
    if (a === undefined) {
      // Cluster: a key without an activation here goes to its owner (a draining silo owns nothing).
      if (this.cluster?.routeAway(call) === true) return;
      // Nothing is served here without a membership lease (a brief lapse parks the call).
      if (this.cluster !== undefined && !this.cluster.admit(call, now)) return;
      // A key this silo just took over waits until its previous owner let go of it.
      if (this.cluster !== undefined && !this.cluster.mayActivate(call)) return;
      if (isControlMethod(call.method)) {
        this.#control(call, undefined);
        return;
      }
      if (this.stopping) {
        call.reject(new SiloStoppedError());
        return;
      }
      const info = this.#registry.get(call.type);
      if (info === undefined) {
        call.reject(new ActorTypeNotFoundError(call.type));
        return;
      }
      a = new Activation(call.idString, info, call.key, this.#context);
      this.#table.add(a, now);
      a.accept(call);
      void a.start();
      this.#collector.enforceCapacity();
      return;
    }
    if (this.cluster !== undefined && !this.cluster.admit(call, now)) return;
    if (isControlMethod(call.method)) {
      this.#control(call, a);
      return;
    }
    this.#table.touch(a, now);
    a.accept(call);
  }

  /**
   * A control call reached the silo that hosts (or owns) the actor: answer it
   * here, without a turn and without activating anything.
   */
  #control(call: Call, a: Activation | undefined): void {
    const id = { type: call.type, key: call.key };
    const done = (value: unknown) => () => call.resolve(value);
    const fail = (err: unknown) => call.reject(toCallerError(err));
    switch (call.method) {
      case SYSTEM_METHODS.locate:
        // On its way out (deactivating) is not active: the next call will find a fresh activation.
        call.resolve({
          active: a !== undefined && (a.status === "active" || a.status === "activating"),
          silo: this.siloId,
        });
        return;
      case SYSTEM_METHODS.deactivate:
        if (a === undefined) call.resolve(false);
        else a.deactivate("request").then(done(true), fail);
        return;
      case SYSTEM_METHODS.deleteState:
        if (a === undefined) this.#storage.delete(id).then(done(false), fail);
        else a.deactivate("delete").then(done(true), fail);
        return;
    }
  }
}
