import {
  type Actor,
  type ActorClass,
  type ActorHost,
  type ActorId,
  assertEncodable,
  type CallOptions,
  type ChainLink,
  type Clock,
  commonLinks,
  constructActor,
  DeactivatedError,
  type DeadlineQueue,
  DeadlockError,
  decodeStateRecord,
  describeCycle,
  deserializeError,
  EMPTY_CHAIN,
  encodeStateRecord,
  InvalidArgumentError,
  Mailbox,
  type PraasError,
  type ReceivedMessage,
  type RecvOptions,
  type ReminderFiring,
  type ReminderSchedule,
  refTarget,
  type SendOptions,
  StaleActivationError,
  StateConflictError,
  type StateStore,
  StateVersionError,
  SYSTEM_METHODS,
  serializeError,
  type TimerHandle,
  type TimerOptions,
  type Turn,
  validateChannel,
} from "@praas/core";
import type { Call } from "./call.js";
import { checkMessage, Inbox } from "./inbox.js";
import type { ActorTypeInfo } from "./registry.js";

/**
 * The life of an activation:
 * activating → active → deactivating → deactivated, or activating → deactivated
 * when loading or `onActivate` fails. See docs/architecture.md for the diagram.
 */
export type ActivationStatus = "activating" | "active" | "deactivating" | "deactivated";

/**
 * Why an activation ended ("rebalance": another silo of the cluster owns it
 * now; "lost": this silo lost its cluster membership, so it was dropped unsaved).
 */
export type DeactivationReason = "idle" | "stop" | "request" | "capacity" | "stale" | "delete" | "rebalance" | "lost";

/** What an activation needs from its silo. */
export interface ActivationContext {
  /** Undefined while the silo may serve (a cluster silo holds its membership lease); else the error to fail a call with. */
  servingError(): PraasError | undefined;
  readonly store: StateStore;
  readonly clock: Clock;
  nextTurnId(): number;
  makeRef(cls: ActorClass, key: string, options: CallOptions | undefined, caller: Activation): unknown;
  /** Route a call again (after the activation it waited on went away). */
  dispatch(call: Call): void;
  /** The activation is gone: drop it from the table. */
  release(a: Activation): void;
  /** The activation is ready (for events and metrics). */
  activated(a: Activation): void;
  /** The activation ended (for events and metrics). */
  deactivated(a: Activation, reason: DeactivationReason): void;
  readonly deadlines: DeadlineQueue;
  readonly callTimeoutMs: number;
  /** Put a message in the inbox of `target` (routing it like a call). */
  send(
    from: Activation,
    target: ActorId,
    channel: string,
    data: unknown,
    options: SendOptions | undefined,
  ): Promise<void>;
  remind(a: Activation, name: string, schedule: ReminderSchedule): Promise<void>;
  forget(a: Activation, name: string): Promise<void>;
  emit(a: Activation, event: string, payload: unknown): void;
  subscriberCount(a: Activation, event?: string): number;
  /** Something failed that has no caller to tell. */
  report(kind: FailureKind, actor: string, error: unknown): void;
}

export type FailureKind = "activate" | "deactivate" | "save" | "timer" | "reminder";

/** Turns of an activation: method calls and timer ticks. */
interface ActivationTurn extends Turn {
  turnId: number;
  readonly chain: readonly ChainLink[];
}

/** Turn an error into what the caller sees: always the serialized form, even in-process. */
export function toCallerError(err: unknown): PraasError {
  return deserializeError(serializeError(err));
}

/** Marks a never-stored activation whose initial-state digest has not been computed yet. */
const PRISTINE: unique symbol = Symbol("pristine");

/** Byte-for-byte equality (a memcmp: an order of magnitude faster than hashing both sides). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/** A volatile timer of an activation. */
class ActorTimer implements ActivationTurn {
  readonly interleave: boolean;
  readonly chain = EMPTY_CHAIN;
  turnId = 0;
  handle: TimerHandle | undefined;
  cancelled = false;

  constructor(
    readonly activation: Activation,
    readonly fn: () => unknown,
    readonly periodMs: number | undefined,
  ) {
    this.interleave = activation.info.reentrant;
  }

  cancel(): void {
    this.cancelled = true;
    this.handle?.cancel();
    this.activation.timers?.delete(this);
  }
}

export class Activation implements ActorHost {
  status: ActivationStatus = "activating";
  state: unknown = undefined;
  readonly id: ActorId;
  readonly mailbox: Mailbox<ActivationTurn>;
  lastUsed = 0;
  lruPrev: Activation | undefined = undefined;
  lruNext: Activation | undefined = undefined;
  /** Version token of what this activation loaded or last wrote; null while nothing is stored. */
  version: string | null = null;
  /** True once a conditional write found newer state: this activation must never write again. */
  stale = false;
  timers: Set<ActorTimer> | undefined;
  #instance: Actor<unknown> | undefined;
  /**
   * The record last loaded or written, to skip writes of unchanged state with a
   * byte comparison. Decoded byte strings in the state are views of these bytes,
   * so keeping them often costs no extra memory. `PRISTINE` for a never-stored
   * actor: its initial state is only encoded if it is ever about to be written.
   */
  #savedBytes: Uint8Array | typeof PRISTINE | undefined;
  /** Calls that arrived while activating, or parked while deactivating. */
  #waiting: Call[] | undefined;
  /** Turns now running (one, unless the type is reentrant or a method interleaves). */
  #turns: ActivationTurn[] = [];
  #saving: Promise<void> | undefined;
  #inbox: Inbox | undefined;
  #deactivation: Promise<void> | undefined;
  #activation: Promise<void> | undefined;

  constructor(
    readonly idString: string,
    readonly info: ActorTypeInfo,
    key: string,
    readonly ctx: ActivationContext,
  ) {
    this.id = { type: info.name, key };
    this.mailbox = new Mailbox<ActivationTurn>((turn) =>
      turn instanceof ActorTimer ? this.#runTimer(turn) : this.#runCall(turn as unknown as Call),
    );
  }

  /** Load state and run `onActivate`; calls that arrive meanwhile wait. */
  start(): Promise<void> {
    this.#activation ??= this.#activate();
    return this.#activation;
  }

  /** Take a call routed to this activation. */
  accept(call: Call): void {
    switch (this.status) {
      case "active":
        if (!this.#deadlocks(call)) this.mailbox.post(call as unknown as ActivationTurn);
        return;
      case "activating":
        (this.#waiting ??= []).push(call);
        return;
      case "deactivating":
        // A call made by a turn we are waiting for must run, or draining would wait on itself.
        if (call.chain.some((l) => l[0] === this.idString)) {
          if (!this.#deadlocks(call)) this.mailbox.post(call as unknown as ActivationTurn);
        } else (this.#waiting ??= []).push(call);
        return;
      case "deactivated":
        this.ctx.dispatch(call);
        return;
    }
  }

  // ---- ActorHost: what the actor instance calls ----

  ref(cls: ActorClass, key: string, options?: CallOptions): unknown {
    return this.ctx.makeRef(cls, key, options, this);
  }

  setTimer(fn: () => unknown, options: TimerOptions): TimerHandle {
    if (typeof fn !== "function") throw new InvalidArgumentError("setTimer needs a callback function");
    const { dueMs, periodMs } = options;
    if (!(dueMs >= 0) || (periodMs !== undefined && !(periodMs > 0))) {
      throw new InvalidArgumentError("setTimer needs dueMs ≥ 0 and, if given, periodMs > 0");
    }
    const timer = new ActorTimer(this, fn, periodMs);
    if (this.status === "deactivating" || this.status === "deactivated") return timer;
    (this.timers ??= new Set()).add(timer);
    this.#armTimer(timer, dueMs);
    return timer;
  }

  saveState(): Promise<void> {
    return this.persist();
  }

  emit(event: string, payload: unknown): void {
    this.ctx.emit(this, event, payload);
  }

  send(target: unknown, channel: string, data: unknown, options?: SendOptions): Promise<void> {
    try {
      return this.ctx.send(this, toActorId(target), validateChannel(channel), data, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  recv(channel: string, options?: RecvOptions): Promise<ReceivedMessage> {
    try {
      validateChannel(channel);
      const from = options?.from === undefined ? undefined : senderString(options.from);
      const timeoutMs = options?.timeoutMs ?? this.ctx.callTimeoutMs;
      if (!(timeoutMs > 0)) throw new InvalidArgumentError("recv timeoutMs must be a positive number");
      if (this.status === "deactivating" || this.status === "deactivated") {
        throw new DeactivatedError(this.idString, "recv was called");
      }
      return this.#inboxOrNew().recv(channel, from, timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  remind(name: string, schedule: ReminderSchedule): Promise<void> {
    return this.ctx.remind(this, name, schedule);
  }

  forget(name: string): Promise<void> {
    return this.ctx.forget(this, name);
  }

  /** Messages waiting in the inbox (for tests and introspection). */
  get inboxSize(): number {
    return this.#inbox?.size ?? 0;
  }

  #inboxOrNew(): Inbox {
    this.#inbox ??= new Inbox(this.ctx.deadlines);
    return this.#inbox;
  }

  subscriberCount(event?: string): number {
    return this.ctx.subscriberCount(this, event);
  }

  // ---- call chains and deadlocks ----

  /** The chain an outgoing call from this activation carries. */
  outgoingChain(): readonly ChainLink[] {
    const turns = this.#turns;
    if (turns.length === 1) {
      const t = turns[0] as ActivationTurn;
      return [...t.chain, [this.idString, t.turnId]];
    }
    if (turns.length === 0) return EMPTY_CHAIN;
    // Several turns interleave and we cannot tell which one is calling: keep only
    // the links they all share, so a deadlock is never reported falsely.
    return commonLinks(turns.map((t) => t.chain));
  }

  /** Reject `call` with DeadlockError if it would wait on the turn that is waiting for it. */
  #deadlocks(call: Call): boolean {
    if (call.interleave || call.chain.length === 0) return false;
    const current = this.mailbox.current;
    if (current === undefined) return false;
    for (const [actor, turn] of call.chain) {
      if (actor === this.idString && turn === current.turnId) {
        call.reject(new DeadlockError(describeCycle(call.chain, this.idString)));
        return true;
      }
    }
    return false;
  }

  // ---- turns ----

  /** Run a call as a turn. True when it finished synchronously; otherwise the mailbox hears `done` later. */
  #runCall(call: Call): boolean {
    if (call.done) return true; // its deadline passed while it waited
    if (this.ctx.servingError() !== undefined) {
      // Not run: the silo holds it until it may serve again (or refuses it, retryable).
      this.ctx.dispatch(call);
      return true;
    }
    if (this.stale) {
      // Dropped (its silo lost its membership) or fenced out: its state may be old.
      call.reject(new StaleActivationError(this.idString));
      return true;
    }
    if (call.method === SYSTEM_METHODS.deliver) return this.#deliver(call);
    call.turnId = this.ctx.nextTurnId();
    this.#turns.push(call as unknown as ActivationTurn);
    let result: unknown;
    try {
      if (call.method === SYSTEM_METHODS.remind) {
        const [name, firing] = call.args as [string, ReminderFiring];
        result = (this.#instance as Actor<unknown>).onReminder(name, firing);
      } else {
        const method = (this.#instance as unknown as Record<string, (...a: unknown[]) => unknown>)[call.method];
        result = (method as (...a: unknown[]) => unknown).apply(this.#instance, call.args as unknown[]);
      }
    } catch (err) {
      return this.#finishCall(call, false, err);
    }
    if (isThenable(result)) {
      result.then(
        (value) => {
          if (this.#finishCall(call, true, value)) this.mailbox.done(call as unknown as ActivationTurn);
        },
        (err) => {
          if (this.#finishCall(call, false, err)) this.mailbox.done(call as unknown as ActivationTurn);
        },
      );
      return false;
    }
    return this.#finishCall(call, true, result);
  }

  /** Reply to a call whose method has returned. False when a "turn" write delays it (the mailbox hears `done` then). */
  #finishCall(call: Call, ok: boolean, value: unknown): boolean {
    this.#endTurn(call as unknown as ActivationTurn);
    if (this.info.persistence === "turn" && !this.stale) {
      // The reply leaves only once the write is durable: nothing acknowledged is lost.
      this.persist().then(
        () => {
          settle(call, ok, value, this);
          this.mailbox.done(call as unknown as ActivationTurn);
        },
        (err) => {
          call.reject(toCallerError(err));
          this.mailbox.done(call as unknown as ActivationTurn);
        },
      );
      return false;
    }
    settle(call, ok, value, this);
    return true;
  }

  #endTurn(turn: ActivationTurn): void {
    const turns = this.#turns;
    // Almost always the only (hence last) turn: pop instead of a splice that allocates.
    if (turns[turns.length - 1] === turn) {
      turns.pop();
      return;
    }
    const i = turns.indexOf(turn);
    if (i >= 0) turns.splice(i, 1);
  }

  /**
   * A message arriving for the inbox. Runs at once, beside any turn (a turn may
   * be waiting in `recv` for exactly this message). A durable message is
   * written to the store before it is handed on or acknowledged.
   */
  #deliver(call: Call): boolean {
    const [raw, durable] = call.args as [unknown, boolean | undefined];
    let message: ReturnType<typeof checkMessage>;
    try {
      message = checkMessage(raw);
    } catch (err) {
      call.reject(err);
      return true;
    }
    const inbox = this.#inboxOrNew();
    if (durable !== true) {
      inbox.deliver(message, false);
      call.resolve(undefined);
      return true;
    }
    if (inbox.seen(message.id)) {
      call.resolve(undefined); // a resend of a message already stored: acknowledge, don't deliver twice
      return true;
    }
    if (this.info.persistence === "none") {
      call.reject(
        new InvalidArgumentError(`durable send to ${this.idString}: its type keeps no state (persistence "none")`),
      );
      return true;
    }
    const snapshot = inbox.snapshot();
    snapshot.messages.push(message);
    snapshot.delivered.push(message.id);
    this.#checkpointInbox(snapshot.messages, snapshot.delivered).then(
      () => {
        inbox.deliver(message, true);
        call.resolve(undefined);
        this.mailbox.done(call as unknown as ActivationTurn);
      },
      (err) => {
        call.reject(toCallerError(err));
        this.mailbox.done(call as unknown as ActivationTurn);
      },
    );
    return false;
  }

  /**
   * Store the inbox beside the last *stored* state (not the in-memory one, which
   * a running turn may have half changed): read the record, replace its inbox,
   * write it back conditionally. Serialized with the other writes.
   */
  #checkpointInbox(messages: readonly unknown[], delivered: readonly string[]): Promise<void> {
    const write = (this.#saving ?? Promise.resolve()).then(async () => {
      if (this.stale) throw new StaleActivationError(this.idString);
      const { store } = this.ctx;
      const stored = await store.load(this.id);
      let stateVersion = this.info.stateVersion;
      let state: unknown;
      if (stored !== undefined) {
        const record = decodeStateRecord(stored.data, store.describe(this.id));
        stateVersion = record.stateVersion;
        state = record.state;
      } else {
        state = typeof this.info.cls.initialState === "function" ? this.info.cls.initialState() : undefined;
      }
      await this.#saveFenced(encodeStateRecord({ stateVersion, state, inbox: messages, delivered }));
      // The stored record no longer matches memory; the next persist writes the full state.
      this.#savedBytes = undefined;
    });
    this.#saving = write.catch(() => {});
    return write;
  }

  #armTimer(timer: ActorTimer, ms: number): void {
    timer.handle = this.ctx.clock.setTimeout(() => {
      if (timer.cancelled || this.status !== "active") return;
      this.mailbox.post(timer);
    }, ms);
  }

  #runTimer(timer: ActorTimer): boolean {
    if (timer.cancelled) return true;
    timer.turnId = this.ctx.nextTurnId();
    this.#turns.push(timer);
    const finish = (err?: unknown): true => {
      this.#endTurn(timer);
      if (err !== undefined) this.ctx.report("timer", this.idString, err);
      if (timer.periodMs === undefined) timer.cancel();
      else if (!timer.cancelled) this.#armTimer(timer, timer.periodMs);
      return true;
    };
    let result: unknown;
    try {
      result = timer.fn.call(this.#instance);
    } catch (err) {
      return finish(err);
    }
    if (isThenable(result)) {
      result.then(
        () => this.mailbox.done(finish() && timer),
        (err) => this.mailbox.done(finish(err ?? new Error("timer callback rejected")) && timer),
      );
      return false;
    }
    return finish();
  }

  // ---- state ----

  #initialState(): unknown {
    const cls = this.info.cls;
    return typeof cls.initialState === "function" ? cls.initialState() : undefined;
  }

  /** Write the state if it changed since it was loaded or last written. Serialized per activation. */
  persist(): Promise<void> {
    if (this.info.persistence === "none") return Promise.resolve();
    if (this.stale) return Promise.reject(new StaleActivationError(this.idString));
    const write = (this.#saving ?? Promise.resolve()).then(() => this.#write());
    this.#saving = write.catch(() => {});
    return write;
  }

  async #write(): Promise<void> {
    if (this.stale) throw new StaleActivationError(this.idString);
    const box = this.#inbox?.snapshot();
    const bytes = encodeStateRecord({
      stateVersion: this.info.stateVersion,
      state: this.state,
      inbox: box?.messages,
      delivered: box?.delivered,
    });
    if (this.#savedBytes === PRISTINE) {
      this.#savedBytes =
        this.version === null
          ? encodeStateRecord({ stateVersion: this.info.stateVersion, state: this.#initialState() })
          : undefined;
    }
    if (this.#savedBytes !== undefined && sameBytes(bytes, this.#savedBytes)) return;
    await this.#saveFenced(bytes);
    this.#savedBytes = bytes;
  }

  /**
   * The one conditional write of an activation: on the version it loaded or last
   * wrote. A conflict means someone wrote newer state: this activation is a
   * stale copy, so it goes (without saving) and the caller gets a retryable error.
   */
  async #saveFenced(bytes: Uint8Array): Promise<void> {
    try {
      this.version = await this.ctx.store.save(this.id, bytes, this.version);
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
      this.stale = true;
      void this.deactivate("stale");
      throw new StaleActivationError(this.idString);
    }
  }

  async #load(): Promise<void> {
    const { info } = this;
    const cls = info.cls;
    if (info.persistence !== "none") {
      const stored = await this.ctx.store.load(this.id);
      if (stored !== undefined) {
        const record = decodeStateRecord(stored.data, this.ctx.store.describe(this.id));
        if (record.stateVersion > info.stateVersion) {
          throw new StateVersionError(this.idString, record.stateVersion, info.stateVersion);
        }
        let state = record.state;
        if (record.stateVersion < info.stateVersion) {
          if (typeof cls.migrateState !== "function") {
            throw new StateVersionError(this.idString, record.stateVersion, info.stateVersion);
          }
          state = await cls.migrateState(state, record.stateVersion);
        }
        this.state = state;
        this.version = stored.version;
        this.#savedBytes = stored.data;
        if (record.inbox !== undefined || record.delivered !== undefined) {
          this.#inboxOrNew().restore(record.inbox ?? [], record.delivered ?? []);
        }
        return;
      }
    }
    this.state = typeof cls.initialState === "function" ? cls.initialState() : undefined;
    if (info.persistence !== "none") {
      assertEncodable(this.state, `initial state of ${info.name}`);
      // An untouched actor is never written; what "untouched" looks like is worked out lazily.
      this.#savedBytes = PRISTINE;
    }
  }

  async #activate(): Promise<void> {
    try {
      await this.#load();
      this.#instance = constructActor(this.info.cls as new () => Actor<unknown>, this);
      await this.#instance.onActivate();
    } catch (err) {
      this.status = "deactivated";
      this.ctx.release(this);
      const waiting = this.#waiting ?? [];
      this.#waiting = undefined;
      const callerError = toCallerError(err);
      for (const call of waiting) call.reject(callerError);
      this.ctx.report("activate", this.idString, err);
      return;
    }
    if (this.status === "activating") this.status = "active";
    this.ctx.activated(this);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) for (const call of waiting) this.accept(call);
  }

  // ---- deactivation ----

  /**
   * Swap this activation out: stop its timers, let running and queued turns
   * finish, run `onDeactivate`, save the state, leave the table. Calls that
   * arrive meanwhile wait and then go to a fresh activation. If an idle swap-out
   * cannot save, the activation stays (its state would otherwise be lost).
   */
  deactivate(reason: DeactivationReason): Promise<void> {
    this.#deactivation ??= this.#deactivate(reason);
    return this.#deactivation;
  }

  async #deactivate(reason: DeactivationReason): Promise<void> {
    if (this.status === "activating") await this.start();
    if (this.status === "deactivated") return;
    this.status = "deactivating";
    for (const t of this.timers ?? []) t.cancel();
    this.timers = undefined;
    // A turn blocked in recv would never let the mailbox drain: fail it with a clear error.
    this.#inbox?.failWaiters(this.idString);
    await this.mailbox.whenIdle();
    let saveError: unknown;
    const discard = reason === "stale" || reason === "delete" || reason === "lost" || this.stale;
    if (!discard) {
      try {
        await this.#instance?.onDeactivate();
      } catch (err) {
        this.ctx.report("deactivate", this.idString, err);
      }
      try {
        await this.persist();
      } catch (err) {
        saveError = err;
      }
      await this.mailbox.whenIdle();
    }
    if (saveError !== undefined && !this.stale && (reason === "idle" || reason === "capacity")) {
      // Keep the state in memory rather than lose it; the idle collector tries again later.
      this.ctx.report("save", this.idString, saveError);
      this.status = "active";
      this.#deactivation = undefined;
      const parked = this.#waiting;
      this.#waiting = undefined;
      for (const call of parked ?? []) this.accept(call);
      return;
    }
    if (reason === "delete") {
      // Delete before anyone waiting can activate afresh, so they start from nothing.
      try {
        await this.ctx.store.delete(this.id);
      } catch (err) {
        saveError = err;
      }
    }
    this.status = "deactivated";
    this.ctx.release(this);
    this.#instance = undefined;
    this.ctx.deactivated(this, this.stale && reason !== "lost" ? "stale" : reason);
    const parked = this.#waiting;
    this.#waiting = undefined;
    for (const call of parked ?? []) this.ctx.dispatch(call);
    if (saveError !== undefined && !(saveError instanceof StaleActivationError)) throw saveError;
  }
}

/** An actor reference, an ActorId or "Type/key", as an ActorId. */
export function toActorId(target: unknown): ActorId {
  const t = refTarget(target);
  if (t !== undefined) return t.id;
  if (typeof target === "object" && target !== null) {
    const id = target as Partial<ActorId>;
    if (typeof id.type === "string" && typeof id.key === "string") return { type: id.type, key: id.key };
  }
  throw new InvalidArgumentError("Expected an actor reference or { type, key }");
}

function senderString(from: unknown): string {
  if (typeof from === "string") return from;
  const id = toActorId(from);
  return `${id.type}/${id.key}`;
}

function settle(call: Call, ok: boolean, value: unknown, a: Activation): void {
  // The reply is where a read takes effect: without a lease, or from a stale copy, it must not leave.
  const refused = a.ctx.servingError();
  if (refused !== undefined || a.stale) {
    call.reject(refused === undefined ? new StaleActivationError(a.idString) : toCallerError(refused));
    return;
  }
  if (!ok) {
    call.reject(toCallerError(value));
    return;
  }
  try {
    assertEncodable(value, `result of ${call.type}.${call.method}`);
  } catch (err) {
    call.reject(err);
    return;
  }
  call.resolve(value);
}
