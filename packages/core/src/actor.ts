import type { TimerHandle } from "./clock.js";
import type { ActorId } from "./ids.js";
import type { ReceivedMessage, RecvOptions, SendOptions } from "./messages.js";

/** When a durable reminder fires: once at a time, or every `every` ms from `startAt`. */
export type ReminderSchedule =
  | { readonly at: Date | number }
  | { readonly every: number; readonly startAt?: Date | number };

/** What `onReminder` receives. */
export interface ReminderFiring {
  readonly name: string;
  /** When this firing was due (epoch ms). */
  readonly dueAt: number;
  /** Periods that passed without a firing (the silo was down, or the actor kept failing). */
  readonly missed: number;
  /** Attempts before this one that failed (at-least-once: a failed firing is retried). */
  readonly attempt: number;
}

/** How an actor type's state reaches the store. */
export type PersistenceMode = "deactivate" | "turn" | "none";

/** Options for a reference: apply to every call made through it. */
export interface CallOptions {
  /** Deadline of each call, in ms (default: the silo's `callTimeoutMs`, 30 s). */
  readonly timeoutMs?: number;
  /**
   * The call is safe to run more than once: when its silo dies before the
   * reply (SiloUnavailableError) or it ran on a stale activation
   * (StaleActivationError), send it again, a few times within its deadline.
   * Default false: a call that may have run is never resent (at most once).
   */
  readonly retry?: boolean;
}

export interface TimerOptions {
  /** First tick after this many ms. */
  readonly dueMs: number;
  /** Then every `periodMs` ms; omit for a one-shot timer. */
  readonly periodMs?: number;
}

/**
 * What an actor instance sees of the runtime hosting it. Implemented by the
 * silo's activation; the Actor base class forwards to it.
 * @internal
 */
export interface ActorHost {
  readonly id: ActorId;
  state: unknown;
  ref(cls: ActorClass, key: string, options?: CallOptions): unknown;
  setTimer(fn: () => unknown, options: TimerOptions): TimerHandle;
  saveState(): Promise<void>;
  emit(event: string, payload: unknown): void;
  subscriberCount(event?: string): number;
  send(target: unknown, channel: string, data: unknown, options?: SendOptions): Promise<void>;
  recv(channel: string, options?: RecvOptions): Promise<ReceivedMessage>;
  remind(name: string, schedule: ReminderSchedule): Promise<void>;
  forget(name: string): Promise<void>;
}

/** @internal The host being attached to the actor under construction. */
let constructing: ActorHost | undefined;

/** @internal Build an actor instance bound to `host` (the base constructor picks it up). */
export function constructActor<T extends Actor<unknown>>(cls: new () => T, host: ActorHost): T {
  constructing = host;
  let actor: T;
  try {
    actor = new cls();
  } finally {
    constructing = undefined;
  }
  // A class field `state = …` (JavaScript, or TypeScript with define semantics) is an own property
  // of the instance that hides the state accessor: the actor's changes would never reach the
  // runtime, which would go on storing the initial state. Refuse it rather than lose them quietly.
  if (Object.hasOwn(actor, "state")) {
    throw new TypeError(
      `${cls.name} declares "state" as a class field, which hides the state the runtime stores: ` +
        `its changes would never be saved. Give the first state with "static initialState() { return …; }" instead`,
    );
  }
  return actor;
}

/**
 * Base class of every actor. Subclass it, give the state type, add methods:
 *
 * ```ts
 * class Counter extends Actor<{ value: number }> {
 *   static initialState() { return { value: 0 }; }
 *   async add(n: number) { this.state.value += n; return this.state.value; }
 * }
 * ```
 *
 * Every public method (not `_`-prefixed, not `#private`) is callable through a
 * reference, and from clients — TypeScript `private`/`protected` methods too,
 * unless `static expose` lists the callable ones. The runtime creates
 * instances; never call `new` yourself.
 */
export abstract class Actor<S = undefined> {
  readonly #host: ActorHost;

  constructor() {
    if (constructing === undefined) {
      throw new TypeError("Actors are created by a silo; get a reference with silo.ref(Type, key)");
    }
    this.#host = constructing;
  }

  /** The persisted state of this actor; assign or mutate it freely inside a turn. */
  get state(): S {
    return this.#host.state as S;
  }
  set state(value: S) {
    this.#host.state = value;
  }

  /** Type and key of this actor. */
  get id(): ActorId {
    return this.#host.id;
  }

  /** Key of this actor. */
  get key(): string {
    return this.#host.id.key;
  }

  /** A typed reference to another actor (or this one), carrying this turn's call chain. */
  ref<T extends Actor<unknown>>(cls: ActorClass<T>, key: string, options?: CallOptions): ActorRef<T> {
    return this.#host.ref(cls as ActorClass, key, options) as ActorRef<T>;
  }

  /**
   * A volatile timer: its callback runs as a turn of this actor (never alongside
   * another turn unless the type is reentrant). Cleared when the actor is
   * deactivated; it does not keep the actor active.
   */
  setTimer(callback: () => unknown, options: TimerOptions): TimerHandle {
    return this.#host.setTimer(callback, options);
  }

  /** Write the state to the store now (a conditional write; see persistence modes). */
  saveState(): Promise<void> {
    return this.#host.saveState();
  }

  /**
   * Send an event to everyone subscribed to this actor (`ref.on(event, cb)` in
   * clients, `silo.subscribe` in-process). The payload must be encodable.
   */
  emit(event: string, payload?: unknown): void {
    this.#host.emit(event, payload);
  }

  /** How many subscribers listen to `event` (or to any event of this actor). */
  subscriberCount(event?: string): number {
    return this.#host.subscriberCount(event);
  }

  /**
   * Put `data` in the target actor's inbox under `channel` (PraaS `send`). The
   * target is activated if it is swapped out. Resolves once the message is in
   * the inbox (in memory), or with `{ durable: true }` once it is stored.
   */
  send(target: ActorRef<unknown> | ActorId, channel: string, data?: unknown, options?: SendOptions): Promise<void> {
    return this.#host.send(target, channel, data, options);
  }

  /**
   * Take the next message on `channel` (from one sender if `from` is given),
   * waiting for it if none is there (PraaS `recv`). While a non-reentrant actor
   * waits here, its other calls wait too; a reentrant actor keeps serving them.
   */
  recv<T = unknown>(channel: string, options?: RecvOptions): Promise<ReceivedMessage<T>> {
    return this.#host.recv(channel, options) as Promise<ReceivedMessage<T>>;
  }

  /**
   * Register (or replace) a durable reminder: it fires `onReminder(name, …)`
   * even when this actor is swapped out, and after the silo hosting it dies.
   */
  remind(name: string, schedule: ReminderSchedule): Promise<void> {
    return this.#host.remind(name, schedule);
  }

  /** Remove a durable reminder. */
  forget(name: string): Promise<void> {
    return this.#host.forget(name);
  }

  /** Called as a turn when a durable reminder fires. Override it to use reminders. */
  onReminder(name: string, _firing: ReminderFiring): void | Promise<void> {
    throw new Error(`${this.#host.id.type} got reminder "${name}" but does not override onReminder`);
  }

  /** Called after the state is loaded, before the first call runs. */
  onActivate(): void | Promise<void> {}

  /** Called before the state is saved at deactivation. */
  onDeactivate(): void | Promise<void> {}
}

/** The static side of an actor class, with its optional settings. */
export interface ActorClass<T extends Actor<unknown> = Actor<unknown>> {
  new (): T;
  readonly name: string;
  readonly prototype: T;
  /** Type name on the wire and in storage; defaults to the class name. */
  readonly actorType?: string;
  /** State of an actor that has never been stored. */
  initialState?(): unknown;
  /** Let every method interleave with every other at `await` points. */
  readonly reentrant?: boolean;
  /** Methods that may run while another turn is in progress (e.g. read-only getters). */
  readonly interleave?: readonly string[];
  /** Idle time after which an activation is swapped out (overrides the silo default). */
  readonly idleTimeoutMs?: number;
  /** When state is written: at deactivation (default), after every changing turn, or never. */
  readonly persistence?: PersistenceMode;
  /** Version of the state's shape (default 1); raise it together with `migrateState`. */
  readonly stateVersion?: number;
  /** Upgrade state stored by an older `stateVersion`. */
  migrateState?(old: unknown, fromVersion: number): unknown;
  /**
   * A stateless worker (PraaS "invoke without a pid"): no persisted state,
   * several activations per silo, called with `silo.invoke(Type, method, …)`.
   */
  readonly stateless?: boolean;
  /** Most activations of a stateless worker type per silo (default 16). */
  readonly maxWorkers?: number;
  /**
   * Run calls on the silo's pool of worker threads instead of its event loop
   * (for CPU-bound methods): `{ module: import.meta.url }`, the module a
   * thread imports to find the class; all methods of a stateless type, or the
   * `methods` listed (required for a keyed type). See docs/workers.md.
   */
  readonly threads?: ThreadSettings;
  /**
   * Checks for arguments that arrive from the network (WebSocket clients, HTTP),
   * per method: an Effect Schema of the argument tuple
   * (`{ post: Schema.Tuple([Message]) }`) or a function that throws on bad
   * arguments. A mismatch is an InvalidArgumentError naming the method.
   */
  readonly schemas?: Readonly<Record<string, ArgsSchema>>;
  /**
   * The methods callers may call (references, `silo.call`, other silos, and
   * clients over WebSocket and HTTP); the rest are reachable only as `this.x()`.
   * Without it every public prototype method is callable — TypeScript
   * `private` and `protected` ones too, since they compile to ordinary
   * methods. Never callable either way: `_`-prefixed and `#private` methods,
   * and Actor's own members. Listing anything else fails `Silo.start`.
   */
  readonly expose?: readonly string[];
}

/**
 * Where a worker thread finds a threaded actor class: it imports `module` (a
 * `file:` URL or an absolute path; `import.meta.url` of the class's own module
 * is the usual value) and takes the export named `export`, or else the
 * exported actor class with the same type name.
 */
export interface ThreadSettings {
  readonly module: string | URL;
  readonly export?: string;
  /**
   * The methods that run on threads (default: all, for a stateless type). A
   * keyed type must list them; they see `this.key` but not `this.state`, and
   * run beside the actor's turns, not as turns.
   */
  readonly methods?: readonly string[];
}

/**
 * How a method's arguments are checked: an Effect Schema of the argument tuple
 * (decoded values are what the method receives), or a function that throws on
 * bad arguments (and may return the array of arguments to pass instead).
 * Structural, so that core needs no dependency on effect.
 */
export type ArgsSchema = ((args: readonly unknown[]) => unknown) | { readonly ast: unknown };

/** Names of Actor's own members: never exposed through a reference. */
export type ActorBaseMember = keyof Actor<unknown> | "onActivate" | "onDeactivate" | "onReminder" | "constructor";

/** The names of the public methods a reference to `T` exposes. */
export type ActorMethodNames<T> = {
  [K in keyof T]-?: K extends string
    ? K extends ActorBaseMember
      ? never
      : K extends `_${string}`
        ? never
        : T[K] extends (...args: never[]) => unknown
          ? K
          : never
    : never;
}[keyof T];

/** Turn a method's signature into its remote form: same parameters, a Promise of the awaited result. */
export type RemoteMethod<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;

/** A typed reference to an actor: exactly its public methods, each returning a Promise. */
export type ActorRef<T> = { readonly [K in ActorMethodNames<T>]: RemoteMethod<T[K]> } & {
  /** Type and key of the referenced actor. */
  readonly id: ActorId;
};
