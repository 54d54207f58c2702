/**
 * The actor handle a client hands out: a Proxy whose every method is a call
 * through the client (plus `on` for events), and the types of handles,
 * listeners and worker invocations.
 */
import {
  type ActorMethodNames,
  type ActorRef,
  REF_TARGET,
  type RefTarget,
  type RemoteMethod,
} from "@praas/core/internal";

/** What a listener learns besides the payload. */
export interface EventInfo {
  /** The event name (useful when subscribed to "*"). */
  readonly event: string;
  /** Number of the event in its stream (actor + event name). */
  readonly seq: number;
}

export type EventListener<P> = (payload: P, info: EventInfo) => void;

/** Events `from`..`to` were lost (`to` null: unknown how many; the stream restarted). */
export interface Gap {
  readonly from: number;
  readonly to: number | null;
}

export interface OnOptions {
  /** Called when events were lost (a disconnect longer than the replay window). */
  readonly onGap?: (gap: Gap) => void;
  /** Called when the subscription fails (e.g. forbidden, unknown type) or is lost for good. */
  readonly onError?: (error: Error) => void;
}

/** Returned by `ref.on`: call it to unsubscribe. */
export interface Subscription {
  (): void;
  /** Settles when the gateway confirmed the subscription (or refused it). */
  readonly ready: Promise<void>;
}

/** The default event map: any event name, payloads of unknown type. */
export type EventMap = Record<string, unknown>;

/**
 * A typed reference to an actor through a client: the same methods as in a silo, plus `on`.
 * `E` maps event names to payload types; it may be a type alias or an interface (an interface
 * has no index signature, so the constraint is `object`, not `EventMap`).
 */
export type ClientRef<T, E extends object = EventMap> = ActorRef<T> & {
  /** Listen to the events the actor emits (`this.emit(event, payload)`); "*" for all. Kept across reconnects. */
  on<K extends (keyof E & string) | "*">(
    event: K,
    listener: EventListener<K extends keyof E ? E[K] : E[keyof E]>,
    options?: OnOptions,
  ): Subscription;
};

/** The client side of a reference: calls and subscriptions. */
export interface RefBackend {
  invokeRef(target: RefTarget, method: string, args: unknown[]): Promise<unknown>;
  subscribe(target: RefTarget, event: string, listener: EventListener<unknown>, options?: OnOptions): Subscription;
}

interface Holder {
  readonly target: RefTarget;
  readonly backend: RefBackend;
  readonly on: (event: string, listener: EventListener<unknown>, options?: OnOptions) => Subscription;
}

const handler: ProxyHandler<Holder> = {
  get(h, prop) {
    if (typeof prop !== "string") return prop === REF_TARGET ? h.target : undefined;
    // A reference must not look like a promise, or `await ref` would call `then`.
    if (prop === "then") return undefined;
    if (prop === "id") return h.target.id;
    if (prop === "on") return h.on;
    const { target, backend } = h;
    return (...args: unknown[]) => backend.invokeRef(target, prop, args);
  },
  has(_h, prop) {
    return prop === "id" || prop === "on" || prop === REF_TARGET;
  },
  set() {
    return false;
  },
};

export function createClientRef(backend: RefBackend, target: RefTarget): unknown {
  const on = (event: string, listener: EventListener<unknown>, options?: OnOptions) =>
    backend.subscribe(target, event, listener, options);
  return new Proxy<Holder>({ target, backend, on }, handler);
}

/** The instance type of a worker: `T` itself, or what `T` constructs when it is a class (`typeof Thumbnail`). */
export type WorkerInstance<T> = T extends abstract new (...args: never[]) => infer I ? I : T;

/**
 * The method and arguments of `client.invoke<T>(type, method, ...args)`: one
 * tuple per public method of the worker, so the arguments are checked against
 * the method named.
 */
export type InvokeCall<T, M extends ActorMethodNames<WorkerInstance<T>> = ActorMethodNames<WorkerInstance<T>>> = {
  [K in M]: [method: K, ...args: Parameters<RemoteMethod<WorkerInstance<T>[K]>>];
}[M];

/** What `client.invoke` resolves with: the awaited result of method `M` of worker `T`. */
export type InvokeResult<T, M extends ActorMethodNames<WorkerInstance<T>>> = ReturnType<
  RemoteMethod<WorkerInstance<T>[M]>
>;
