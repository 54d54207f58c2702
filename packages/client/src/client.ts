import {
  type Actor,
  type ActorClass,
  type ActorMethodNames,
  type ActorRef,
  actorIdString,
  assertEncodableArgs,
  type CallOptions,
  CLIENT_PROTOCOL_VERSION,
  type ClientTrace,
  ConnectionLostError,
  consoleLog,
  decode,
  describeError,
  deserializeError,
  encodeTrusted,
  endWhenSettled,
  InvalidArgumentError,
  isRetryable,
  type LogFunction,
  type PraasError,
  ProtocolError,
  type RefTarget,
  type RemoteMethod,
  type RetryPolicy,
  refTarget,
  retryDelay,
  type SendOptions,
  type ServerFrame,
  traceClient,
  validateChannel,
  validateKey,
  validateTypeName,
  withTraceFields,
} from "@praas/core";
import type { ReconnectOptions } from "./backoff.js";
import { type CallLink, CallTracker } from "./calls.js";
import { ClientClosedError, ConnectionFailedError } from "./errors.js";
import { isSubscribeResult, parseServerFrame } from "./protocol.js";
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
import { ClientSubscription } from "./subscriptions.js";
import { type ClientSocket, type SocketFactory, socketFactory, type WebSocketConstructor } from "./websocket.js";

export interface ClientOptions {
  /** Bearer token (a header in Node with `ws`; the `token` query parameter with a standard WebSocket). */
  readonly token?: string;
  /**
   * Default deadline of a call, ms; per reference: `client.ref(T, key, { timeoutMs })`.
   * Unset: the silo's own call timeout applies (announced when the client
   * connects; 30 s until then).
   */
  readonly timeoutMs?: number;
  /** How long the first connection may take (default 10 s). */
  readonly connectTimeoutMs?: number;
  /**
   * A call that times out on a connection from which nothing at all has
   * arrived for this long (default 10 s) means the connection is dead without
   * anyone having said so (a network cut TCP has not noticed yet: it would
   * keep retransmitting into it for minutes): the client drops it and the
   * next call connects afresh.
   */
  readonly deadAfterSilenceMs?: number;
  /** Reconnect with exponential backoff and jitter (default on); false: stay disconnected. */
  readonly reconnect?: ReconnectOptions | false;
  /** Calls that may wait for a connection or for room under the gateway's in-flight limit (default 1,000). */
  readonly maxQueuedCalls?: number;
  /** A WebSocket implementation to use instead of the global one or `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Where an "error" event nobody listens to goes (default: a line on stderr via `consoleLog`). */
  readonly log?: LogFunction;
}

/** Options of `client.send`: durability, and the deadline for the gateway's answer. */
export interface ClientSendOptions extends SendOptions {
  /** Deadline in ms (default: the reference's, else the client's `timeoutMs`). */
  readonly timeoutMs?: number;
}

export type ClientState = "connecting" | "open" | "reconnecting" | "idle" | "closed";

export interface ClientEvents {
  /** A connection is ready (`reconnect`: not the first one). */
  connect: { readonly silo: string; readonly reconnect: boolean };
  /** The connection dropped; calls in flight failed with CONNECTION_LOST. */
  disconnect: { readonly code: number; readonly reason: string };
  /** Something went wrong with no caller to tell (a throwing listener, a bad frame from the server). */
  error: unknown;
}

const DEFAULT_MAX_IN_FLIGHT = 256;
/** Local deadline of a call with no deadline of its own before the silo has said what its default is. */
const FALLBACK_TIMEOUT_MS = 30_000;

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
  readonly #factory: SocketFactory;
  readonly #token: string | undefined;
  readonly #log: LogFunction;
  /** The deadline the user set for every call, if any. */
  readonly #timeoutMs: number | undefined;
  /** The silo's default deadline, from its hello; used when the caller set none. */
  #siloTimeoutMs = FALLBACK_TIMEOUT_MS;
  readonly #connectTimeoutMs: number;
  readonly #deadAfterSilenceMs: number;
  /** When the current socket last delivered a frame (performance.now()). */
  #heardAt = 0;
  /** The reconnect pauses, as core's retry policy (full jitter); false: reconnect is off. */
  readonly #reconnect: (RetryPolicy & { readonly maxAttempts: number }) | false;

  #state: ClientState = "connecting";
  #socket: ClientSocket | undefined;
  /** Bumped per socket, so events of an old socket are ignored. */
  #gen = 0;
  #ready = false;
  #everOpened = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #silo: string | undefined;
  #maxFrameBytes = Number.POSITIVE_INFINITY;
  #maxInFlight = DEFAULT_MAX_IN_FLIGHT;
  #nextId = 1;

  readonly #calls: CallTracker;
  readonly #subs = new Map<string, ClientSubscription>();
  readonly #subRequests = new Map<number, ClientSubscription>();
  readonly #byServerSub = new Map<number, ClientSubscription>();
  readonly #listeners: { [K in keyof ClientEvents]: Set<(e: ClientEvents[K]) => void> } = {
    connect: new Set(),
    disconnect: new Set(),
    error: new Set(),
  };
  #closeWaiters: (() => void)[] = [];

  private constructor(url: string, options: ClientOptions, factory: SocketFactory) {
    this.url = url;
    this.#factory = factory;
    this.#token = options.token;
    this.#log = options.log ?? consoleLog;
    this.#timeoutMs = options.timeoutMs === undefined ? undefined : positive("timeoutMs", options.timeoutMs, 0);
    this.#connectTimeoutMs = positive("connectTimeoutMs", options.connectTimeoutMs, 10_000);
    this.#deadAfterSilenceMs = positive("deadAfterSilenceMs", options.deadAfterSilenceMs, 10_000);
    const client = this;
    const link: CallLink = {
      get ready() {
        return client.#ready;
      },
      get maxFrameBytes() {
        return client.#maxFrameBytes;
      },
      get maxInFlight() {
        return client.#maxInFlight;
      },
      send: (bytes) => this.#socket?.send(bytes),
      wake: () => this.#wake(),
      callTimedOut: () => this.#callTimedOut(),
    };
    this.#calls = new CallTracker(link, positive("maxQueuedCalls", options.maxQueuedCalls, 1000));
    const r = options.reconnect;
    this.#reconnect =
      r === false
        ? false
        : {
            initialDelayMs: positive("reconnect.initialDelayMs", r?.initialDelayMs, 100),
            maxDelayMs: positive("reconnect.maxDelayMs", r?.maxDelayMs, 5000),
            maxAttempts: positive("reconnect.maxAttempts", r?.maxAttempts, Number.POSITIVE_INFINITY),
          };
  }

  /** @internal Use {@link connect}. */
  static async connect(url: string, options: ClientOptions): Promise<Client> {
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      throw new InvalidArgumentError(`Expected a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
    const client = new Client(url, options, await socketFactory(options.WebSocket));
    await client.#open();
    return client;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** Id of the silo this client is connected to (undefined while disconnected). */
  get silo(): string | undefined {
    return this.#ready ? this.#silo : undefined;
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
    if (this.#state === "closed") return Promise.reject(new ClientClosedError());
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    let bytes: Uint8Array;
    const span = traceClient(type, key, method);
    try {
      assertEncodableArgs(args, `arguments of ${type}.${method}`);
      const frame = { t: "call", id: this.#nextId, type, key, method, args };
      bytes = encodeTrusted(withTraceFields(timeoutMs === undefined ? frame : { ...frame, timeoutMs }, span?.carrier));
    } catch (err) {
      return endWhenSettled(span?.span, Promise.reject(err));
    }
    return endWhenSettled(
      span?.span,
      this.#calls.request(this.#nextId++, bytes, type, key, method, timeoutMs ?? this.#siloTimeoutMs),
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
    if (this.#state === "closed") return Promise.reject(new ClientClosedError());
    let type: string;
    let key: string;
    let rawChannel: unknown;
    let channel: string;
    let data: unknown;
    let options: ClientSendOptions | undefined;
    let timeoutMs: number | undefined;
    let bytes: Uint8Array;
    let span: ClientTrace | undefined;
    try {
      if (typeof first === "string") {
        type = validateTypeName(first);
        key = validateKey(rest[0]);
        [, rawChannel, data, options] = rest as [unknown, unknown, unknown, ClientSendOptions | undefined];
      } else {
        const target = refTarget(first);
        const id = target?.id ?? (first as { id?: unknown } | null)?.id;
        if (typeof id !== "object" || id === null) {
          throw new InvalidArgumentError("send() needs a reference, or a type and a key");
        }
        type = validateTypeName((id as { type?: unknown }).type);
        key = validateKey((id as { key?: unknown }).key);
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
        { t: "send", id: this.#nextId, type, key, channel, data },
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
        .request(this.#nextId++, bytes, type, key, `@send:${channel}`, timeoutMs ?? this.#siloTimeoutMs)
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
    if (this.#state === "closed") return Promise.reject(new ClientClosedError());
    let name: string;
    let bytes: Uint8Array;
    let span: ClientTrace | undefined;
    const timeoutMs = this.#timeoutMs;
    try {
      name = validateTypeName(typeof type === "string" ? type : (type.actorType ?? type.name));
      if (typeof method !== "string" || method.length === 0) {
        throw new InvalidArgumentError("invoke() needs a method name");
      }
      assertEncodableArgs(args, `arguments of ${name}.${method}`);
      span = traceClient(name, "", method);
      const frame = { t: "invoke", id: this.#nextId, type: name, method, args };
      bytes = encodeTrusted(withTraceFields(timeoutMs === undefined ? frame : { ...frame, timeoutMs }, span?.carrier));
    } catch (err) {
      return endWhenSettled(span?.span, Promise.reject(err));
    }
    return endWhenSettled(
      span?.span,
      this.#calls.request(this.#nextId++, bytes, name, "", method, timeoutMs ?? this.#siloTimeoutMs),
    );
  }

  /** @internal Behind `ref.on(event, listener)`. */
  subscribe(target: RefTarget, event: string, listener: EventListener<unknown>, options?: OnOptions): Subscription {
    if (this.#state === "closed") throw new ClientClosedError();
    if (typeof event !== "string" || event.length === 0 || event.length > 256) {
      throw new InvalidArgumentError("An event name is a non-empty string of at most 256 chars");
    }
    if (typeof listener !== "function") throw new InvalidArgumentError("on() needs a listener function");
    const k = `${target.idString}\u0000${event}`;
    let sub = this.#subs.get(k);
    if (sub === undefined) {
      sub = new ClientSubscription(k, target.id.type, target.id.key, event, (err) => this.#emit("error", err));
      this.#subs.set(k, sub);
      if (this.#ready) this.#sendSub(sub);
      else this.#wake();
    }
    const s = sub;
    const entry = s.add(listener, options);
    const off = () => {
      if (!s.entries.delete(entry) || s.entries.size > 0) return;
      if (this.#subs.get(k) === s) this.#subs.delete(k);
      if (s.serverSub !== undefined && this.#ready) {
        this.#byServerSub.delete(s.serverSub);
        this.#sendUnsub(s.serverSub);
      } else s.cancelled = true;
    };
    return Object.assign(off, { ready: s.ready });
  }

  /** Close the connection for good: pending calls fail with CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#calls.close(new ClientClosedError());
    const socket = this.#socket;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => {
      this.#closeWaiters.push(resolve);
      socket.close(1000, "client closed");
    });
  }

  // ---- connection lifecycle ----

  /** Open a socket; resolves at the gateway's hello, rejects if it closes first. */
  #open(): Promise<void> {
    const gen = ++this.#gen;
    if (this.#state !== "closed") this.#state = this.#everOpened ? "reconnecting" : "connecting";
    return new Promise<void>((resolve, reject) => {
      let greeted = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        socket.close(1000, "connect timeout");
      }, this.#connectTimeoutMs);
      const socket = this.#factory(this.url, this.#token, {
        open: () => {},
        message: (data) => {
          if (gen !== this.#gen) return;
          this.#heardAt = performance.now();
          if (this.#onMessage(data) && !greeted) {
            greeted = true;
            clearTimeout(timer);
            resolve();
          }
        },
        close: (code, reason, refused) => {
          clearTimeout(timer);
          if (gen === this.#gen) this.#onClose(code, reason, refused, greeted);
          if (!greeted) {
            reject(
              refused ??
                new ConnectionFailedError(
                  this.url,
                  timedOut ? `no greeting within ${this.#connectTimeoutMs} ms` : reason || `closed with code ${code}`,
                ),
            );
          }
        },
      });
      this.#socket = socket;
    });
  }

  /** Handle one frame; true when it was the hello. */
  #onMessage(data: Uint8Array): boolean {
    let value: unknown;
    try {
      value = decode(data);
    } catch {
      this.#emit("error", new ProtocolError("The server sent malformed CBOR"));
      return false;
    }
    const f = parseServerFrame(value);
    if (f === undefined) {
      this.#emit("error", new ProtocolError("The server sent a frame of unknown shape"));
      return false;
    }
    switch (f.t) {
      case "ok":
      case "err":
        this.#onReply(f);
        return false;
      case "ev":
        this.#byServerSub.get(f.sub)?.deliver(f.seq, f.event, f.payload);
        return false;
      case "gap":
        this.#byServerSub.get(f.sub)?.gap({ from: f.from, to: f.to });
        return false;
      case "hello":
        if (f.v !== CLIENT_PROTOCOL_VERSION) {
          this.#emit(
            "error",
            new ProtocolError(`Gateway speaks protocol ${f.v}, this client ${CLIENT_PROTOCOL_VERSION}`),
          );
          this.#socket?.close(1002, "protocol version");
          return false;
        }
        if (f.callTimeoutMs !== undefined) this.#siloTimeoutMs = f.callTimeoutMs;
        this.#onHello(f.silo, f.maxFrameBytes, f.maxInFlight);
        return true;
    }
  }

  #onHello(silo: string, maxFrameBytes: number, maxInFlight: number): void {
    const reconnect = this.#everOpened;
    this.#silo = silo;
    this.#maxFrameBytes = maxFrameBytes;
    this.#maxInFlight = Math.max(1, maxInFlight);
    this.#ready = true;
    this.#everOpened = true;
    this.#attempt = 0;
    if (this.#state !== "closed") this.#state = "open";
    for (const sub of this.#subs.values()) this.#sendSub(sub);
    this.#calls.pump();
    this.#emit("connect", { silo, reconnect });
  }

  #onReply(f: Extract<ServerFrame, { t: "ok" | "err" }>): void {
    if (f.id === null) {
      // An error about a frame the gateway could not read: no call to fail.
      if (f.t === "err") this.#emit("error", deserializeError(f.error));
      return;
    }
    if (this.#calls.answer(f)) return;
    const sub = this.#subRequests.get(f.id);
    if (sub === undefined) return; // an unsub's answer, or a call that already timed out
    this.#subRequests.delete(f.id);
    if (f.t === "err") {
      if (this.#subs.get(sub.key) === sub) this.#subs.delete(sub.key);
      sub.refused(deserializeError(f.error));
      return;
    }
    if (!isSubscribeResult(f.value)) {
      this.#emit("error", new ProtocolError("The gateway answered a subscription with an unexpected value"));
      return;
    }
    sub.confirmed(f.value);
    if (sub.cancelled || this.#subs.get(sub.key) !== sub) this.#sendUnsub(f.value.sub);
    else this.#byServerSub.set(f.value.sub, sub);
  }

  #onClose(code: number, reason: string, refused: PraasError | undefined, wasOpen: boolean): void {
    this.#socket = undefined;
    this.#ready = false;
    this.#calls.connectionLost(code, reason);
    this.#subRequests.clear();
    this.#byServerSub.clear();
    for (const sub of this.#subs.values()) sub.serverSub = undefined;
    for (const w of this.#closeWaiters.splice(0)) w();
    if (wasOpen) this.#emit("disconnect", { code, reason });
    if (this.#state === "closed") return;
    if (!this.#everOpened) {
      // The first connection failed: connect() rejects and the client is unusable.
      this.#state = "closed";
      return;
    }
    if (refused !== undefined && !isRetryable(refused)) {
      this.#giveUp(refused);
      return;
    }
    if (this.#subs.size > 0 || this.#calls.waiting > 0) this.#scheduleReconnect();
    else this.#state = "idle";
  }

  #scheduleReconnect(): void {
    if (this.#reconnect === false) {
      this.#giveUp(new ConnectionLostError("Connection lost and reconnect is off"));
      return;
    }
    this.#attempt++;
    if (this.#attempt > this.#reconnect.maxAttempts) {
      this.#giveUp(new ConnectionLostError(`Could not reconnect after ${this.#reconnect.maxAttempts} attempts`));
      return;
    }
    this.#state = "reconnecting";
    // A pause before every reconnect, the first one too (unlike core's retry(), which tries at once):
    // clients cut off by the same failure must not all come back in the same instant.
    const delay = retryDelay(this.#reconnect, this.#attempt);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === "reconnecting") this.#open().catch(() => {});
    }, delay);
  }

  /** Stop trying: queued calls and subscriptions fail; the next call starts over. */
  #giveUp(err: PraasError): void {
    this.#state = "idle";
    this.#attempt = 0;
    this.#calls.failQueued(err);
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const sub of subs) sub.refused(err);
  }

  /** A call or subscription arrived while idle: connect again. */
  #wake(): void {
    if (this.#state !== "idle") return;
    this.#attempt = 0;
    this.#open().catch(() => {});
  }

  /** A call sent on the current connection timed out: a connection silent for deadAfterSilenceMs is dead. */
  #callTimedOut(): void {
    const socket = this.#socket;
    if (socket !== undefined && this.#ready) {
      const silentMs = performance.now() - this.#heardAt;
      if (silentMs >= this.#deadAfterSilenceMs) this.#dropDead(socket, silentMs);
    }
  }

  /** Cut a connection that went silent (see deadAfterSilenceMs): at once, without a closing handshake nobody would answer. */
  #dropDead(socket: ClientSocket, silentMs: number): void {
    const reason = `nothing from the gateway for ${Math.round(silentMs)} ms`;
    const ws = socket as ClientSocket & { terminate?: () => void };
    if (typeof ws.terminate === "function") ws.terminate();
    else socket.close(4000, reason);
  }

  // ---- subscriptions ----

  #sendSub(sub: ClientSubscription): void {
    const id = this.#nextId++;
    this.#subRequests.set(id, sub);
    const base = { t: "sub", id, type: sub.type, key: sub.actorKey, event: sub.event };
    this.#socket?.send(
      encodeTrusted(sub.stream === undefined ? base : { ...base, after: sub.lastSeq, stream: sub.stream }),
    );
  }

  #sendUnsub(serverSub: number): void {
    this.#socket?.send(encodeTrusted({ t: "unsub", id: this.#nextId++, sub: serverSub }));
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

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0)) {
    throw new InvalidArgumentError(`Client option ${name} must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}
