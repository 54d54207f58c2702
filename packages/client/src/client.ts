/**
 * The public face of the client: `connect` and `Client` — references, calls,
 * sends, invokes, subscriptions, events and close. It checks and encodes each
 * request and wires the parts that do the work: the connection
 * (connection.ts), call tracking (calls.ts) and subscriptions
 * (subscriptions.ts).
 */
import {
  type Actor,
  type ActorClass,
  type ActorMethodNames,
  type ActorRef,
  actorIdString,
  assertEncodableArgs,
  type CallOptions,
  type ClientTrace,
  describeError,
  deserializeError,
  encodeTrusted,
  endWhenSettled,
  InvalidArgumentError,
  type LogFunction,
  type PraasError,
  type RefTarget,
  type RemoteMethod,
  refTarget,
  type ServerFrame,
  traceClient,
  validateChannel,
  validateKey,
  validateTypeName,
  withTraceFields,
} from "@praas/core/internal";
import { CallTracker } from "./calls.js";
import { type ClientState, Connection, type DataFrame } from "./connection.js";
import { ClientClosedError } from "./errors.js";
import { type ClientOptions, type ClientSendOptions, resolveOptions } from "./options.js";
import {
  type ClientRef,
  createClientRef,
  type EventListener,
  type EventMap,
  type InvokeCall,
  type InvokeResult,
  type OnOptions,
  type RefBackend,
  type Subscription,
  type WorkerInstance,
} from "./ref.js";
import { SubscriptionTable } from "./subscriptions.js";
import { type SocketFactory, socketFactory } from "./websocket.js";

export interface ClientEvents {
  /** A connection is ready (`reconnect`: not the first one). */
  connect: { readonly silo: string; readonly reconnect: boolean };
  /** The connection dropped; calls in flight failed with CONNECTION_LOST. */
  disconnect: { readonly code: number; readonly reason: string };
  /** Something went wrong with no caller to tell (a throwing listener, a bad frame from the server). */
  error: unknown;
}

/**
 * Connect to a silo's gateway. Resolves once the gateway has greeted the
 * client; rejects with UnauthenticatedError, ConnectionFailedError, …
 *
 * ```ts
 * const client = await connect("ws://localhost:7070/ws", { token });
 * const room = client.ref<ChatRoom>("ChatRoom", "lobby");
 * const off = room.on("message", (m) => console.log(m));
 * await room.post({ user: "ana", text: "hi" });
 * ```
 */
export async function connect(url: string, options: ClientOptions = {}): Promise<Client> {
  return Client.connect(url, options);
}

/** A connection to a PraaS gateway that survives disconnects. Create with {@link connect}. */
export class Client implements RefBackend {
  readonly url: string;
  readonly #log: LogFunction;
  /** The deadline the user set for every call, if any. */
  readonly #timeoutMs: number | undefined;
  readonly #conn: Connection;
  readonly #calls: CallTracker;
  readonly #subs: SubscriptionTable;
  readonly #listeners: { [K in keyof ClientEvents]: Set<(e: ClientEvents[K]) => void> } = {
    connect: new Set(),
    disconnect: new Set(),
    error: new Set(),
  };

  private constructor(url: string, options: ClientOptions, factory: SocketFactory) {
    this.url = url;
    const resolved = resolveOptions(url, options, factory);
    this.#log = resolved.log;
    this.#timeoutMs = resolved.timeoutMs;
    this.#conn = new Connection(resolved.connection, {
      frame: (f) => this.#onFrame(f),
      ready: (silo, reconnect) => this.#onReady(silo, reconnect),
      lost: (code, reason, wasOpen) => this.#onLost(code, reason, wasOpen),
      wanted: () => this.#subs.size > 0 || this.#calls.waiting > 0,
      gaveUp: (err) => this.#onGaveUp(err),
      error: (err) => this.#emit("error", err),
    });
    this.#calls = new CallTracker(this.#conn, resolved.maxQueuedCalls);
    this.#subs = new SubscriptionTable(this.#conn, (err) => this.#emit("error", err));
  }

  /** @internal Use {@link connect}. */
  static async connect(url: string, options: ClientOptions): Promise<Client> {
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      throw new InvalidArgumentError(`Expected a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
    const client = new Client(url, options, await socketFactory(options.WebSocket));
    await client.#conn.open();
    return client;
  }

  get state(): ClientState {
    return this.#conn.state;
  }

  /** Id of the silo this client is connected to (undefined while disconnected). */
  get silo(): string | undefined {
    return this.#conn.ready ? this.#conn.silo : undefined;
  }

  /**
   * A typed reference: `client.ref<ChatRoom>("ChatRoom", "lobby")`, or with the
   * class where it can be imported: `client.ref(ChatRoom, "lobby")`. Optional
   * second type argument: the event map for typed `on`.
   */
  ref<T, E extends object = EventMap>(
    type: string | ActorClass<T & Actor<unknown>>,
    key: string,
    options?: CallOptions,
  ): ClientRef<T, E> {
    const name = typeof type === "string" ? type : (type.actorType ?? type.name);
    validateTypeName(name);
    validateKey(key);
    if (options?.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
      throw new InvalidArgumentError("timeoutMs must be a positive number");
    }
    const target: RefTarget = {
      id: { type: name, key },
      idString: actorIdString(name, key),
      options,
      caller: undefined,
    };
    return createClientRef(this, target) as ClientRef<T, E>;
  }

  /** Listen to client events; returns the function that stops listening. */
  on<K extends keyof ClientEvents>(event: K, listener: (e: ClientEvents[K]) => void): () => void {
    const set = this.#listeners[event] as Set<(e: ClientEvents[K]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** @internal The untyped call behind every reference method. */
  invokeRef(target: RefTarget, method: string, args: unknown[]): Promise<unknown> {
    return this.call(target.id.type, target.id.key, method, args, target.options);
  }

  /** Call `method` on `type/key` (the untyped form of `ref(...).method(...args)`). */
  call(type: string, key: string, method: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    if (this.#conn.state === "closed") return Promise.reject(new ClientClosedError());
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const id = this.#conn.takeId();
    let bytes: Uint8Array;
    const span = traceClient(type, key, method);
    try {
      assertEncodableArgs(args, `arguments of ${type}.${method}`);
      const frame = { t: "call", id, type, key, method, args, sent: sentStamp() };
      bytes = encodeTrusted(withTraceFields(timeoutMs === undefined ? frame : { ...frame, timeoutMs }, span?.carrier));
    } catch (err) {
      return endWhenSettled(span?.span, Promise.reject(err));
    }
    return endWhenSettled(
      span?.span,
      this.#calls.request(id, bytes, type, key, method, timeoutMs ?? this.#conn.siloTimeoutMs),
    );
  }

  /**
   * Put `data` in the inbox of an actor under `channel` (PraaS send); the actor
   * takes it with `this.recv(channel)`. Resolves once the message is in the
   * inbox, or with `{ durable: true }` once it is stored. The target is a
   * reference (`client.send(room, "chat", m)`) or a type and key
   * (`client.send("ChatRoom", "lobby", "chat", m)`).
   */
  send(target: ActorRef<unknown>, channel: string, data?: unknown, options?: ClientSendOptions): Promise<void>;
  send(type: string, key: string, channel: string, data?: unknown, options?: ClientSendOptions): Promise<void>;
  send(first: string | ActorRef<unknown>, ...rest: unknown[]): Promise<void> {
    if (this.#conn.state === "closed") return Promise.reject(new ClientClosedError());
    let type: string;
    let key: string;
    let rawChannel: unknown;
    let channel: string;
    let data: unknown;
    let options: ClientSendOptions | undefined;
    let timeoutMs: number | undefined;
    let bytes: Uint8Array;
    let span: ClientTrace | undefined;
    const id = this.#conn.takeId();
    try {
      if (typeof first === "string") {
        type = validateTypeName(first);
        key = validateKey(rest[0]);
        [, rawChannel, data, options] = rest as [unknown, unknown, unknown, ClientSendOptions | undefined];
      } else {
        const target = refTarget(first);
        const actor = target?.id ?? (first as { id?: unknown } | null)?.id;
        if (typeof actor !== "object" || actor === null) {
          throw new InvalidArgumentError("send() needs a reference, or a type and a key");
        }
        type = validateTypeName((actor as { type?: unknown }).type);
        key = validateKey((actor as { key?: unknown }).key);
        timeoutMs = target?.options?.timeoutMs;
        [rawChannel, data, options] = rest as [unknown, unknown, ClientSendOptions | undefined];
      }
      channel = validateChannel(rawChannel);
      if (options?.timeoutMs !== undefined && !(options.timeoutMs > 0)) {
        throw new InvalidArgumentError("timeoutMs must be a positive number");
      }
      timeoutMs = options?.timeoutMs ?? timeoutMs ?? this.#timeoutMs;
      assertEncodableArgs([data], `message on channel "${channel}"`);
      span = traceClient(type, key, "send", channel);
      const frame: Record<string, unknown> = withTraceFields(
        { t: "send", id, type, key, channel, data, sent: sentStamp() },
        span?.carrier,
      );
      if (options?.durable === true) frame.durable = true;
      if (timeoutMs !== undefined) frame.timeoutMs = timeoutMs;
      bytes = encodeTrusted(frame);
    } catch (err) {
      return endWhenSettled(span?.span, Promise.reject(err));
    }
    return endWhenSettled(
      span?.span,
      this.#calls
        .request(id, bytes, type, key, `@send:${channel}`, timeoutMs ?? this.#conn.siloTimeoutMs)
        .then(() => undefined),
    );
  }

  /**
   * Call `method` on a stateless worker type (PraaS "invoke without a pid"):
   * the gateway's silo runs it on one of its workers. Typed like references:
   * `client.invoke(Thumbnail, "render", bytes)` where the class can be
   * imported, else `client.invoke<Thumbnail>("Thumbnail", "render", bytes)`
   * (the arguments are checked against the method named; give the method as a
   * second type argument, `<Thumbnail, "render">`, for its exact result type
   * when the worker has several methods). `T` may be the class type too
   * (`typeof Thumbnail`). Without a type argument: untyped.
   */
  invoke<T extends Actor<unknown>, M extends ActorMethodNames<T>>(
    cls: ActorClass<T>,
    method: M,
    ...args: Parameters<RemoteMethod<T[M]>>
  ): ReturnType<RemoteMethod<T[M]>>;
  invoke<T, M extends ActorMethodNames<WorkerInstance<T>> = ActorMethodNames<WorkerInstance<T>>>(
    type: string,
    ...call: InvokeCall<T, M>
  ): InvokeResult<T, M>;
  invoke(type: string, method: string, ...args: unknown[]): Promise<unknown>;
  invoke(type: string | ActorClass, method: string, ...args: unknown[]): Promise<unknown> {
    if (this.#conn.state === "closed") return Promise.reject(new ClientClosedError());
    let name: string;
    let bytes: Uint8Array;
    let span: ClientTrace | undefined;
    const timeoutMs = this.#timeoutMs;
    const id = this.#conn.takeId();
    try {
      name = validateTypeName(typeof type === "string" ? type : (type.actorType ?? type.name));
      if (typeof method !== "string" || method.length === 0) {
        throw new InvalidArgumentError("invoke() needs a method name");
      }
      assertEncodableArgs(args, `arguments of ${name}.${method}`);
      span = traceClient(name, "", method);
      const frame = { t: "invoke", id, type: name, method, args, sent: sentStamp() };
      bytes = encodeTrusted(withTraceFields(timeoutMs === undefined ? frame : { ...frame, timeoutMs }, span?.carrier));
    } catch (err) {
      return endWhenSettled(span?.span, Promise.reject(err));
    }
    return endWhenSettled(
      span?.span,
      this.#calls.request(id, bytes, name, "", method, timeoutMs ?? this.#conn.siloTimeoutMs),
    );
  }

  /** @internal Behind `ref.on(event, listener)`. */
  subscribe(target: RefTarget, event: string, listener: EventListener<unknown>, options?: OnOptions): Subscription {
    if (this.#conn.state === "closed") throw new ClientClosedError();
    return this.#subs.add(target, event, listener, options);
  }

  /** Close the connection for good: pending calls fail with CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.#conn.state === "closed") return;
    this.#conn.markClosed();
    this.#calls.close(new ClientClosedError());
    await this.#conn.closeSocket();
  }

  // ---- what the connection reports ----

  #onFrame(f: DataFrame): void {
    switch (f.t) {
      case "ok":
      case "err":
        this.#onReply(f);
        return;
      case "ev":
        this.#subs.event(f);
        return;
      case "gap":
        this.#subs.gap(f);
        return;
    }
  }

  #onReady(silo: string, reconnect: boolean): void {
    this.#subs.resend();
    this.#calls.pump();
    this.#emit("connect", { silo, reconnect });
  }

  #onReply(f: Extract<ServerFrame, { t: "ok" | "err" }>): void {
    if (f.id === null) {
      // An error about a frame the gateway could not read: no call to fail.
      if (f.t === "err") this.#emit("error", deserializeError(f.error));
      return;
    }
    if (!this.#calls.answer(f)) this.#subs.answer(f);
  }

  #onLost(code: number, reason: string, wasOpen: boolean): void {
    this.#calls.connectionLost(code, reason);
    this.#subs.connectionLost();
    if (wasOpen) this.#emit("disconnect", { code, reason });
  }

  /** Reconnecting stopped: queued calls and subscriptions fail; the next call starts over. */
  #onGaveUp(err: PraasError): void {
    this.#calls.failQueued(err);
    this.#subs.failAll(err);
  }

  #emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    const set = this.#listeners[event] as Set<(e: ClientEvents[K]) => void>;
    if (set.size === 0 && event === "error") {
      this.#log("error", `client: ${describeError(value)}`, { error: value });
      return;
    }
    for (const l of set) {
      try {
        l(value);
      } catch (err) {
        if (event !== "error") this.#emit("error", err);
      }
    }
  }
}

/**
 * A work frame's `sent` stamp: this process's monotonic clock, whole ms. The gateway compares the
 * stamps of one connection's frames (never with its own clock) to tell a frame that arrives after
 * its deadline — held in a send queue or a partition — and refuses it unrun.
 */
function sentStamp(): number {
  return Math.floor(performance.now());
}
