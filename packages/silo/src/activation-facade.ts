/**
 * The actor facade: what `this` in an actor reaches through its host — its
 * state, id, references to other actors, timers, explicit saves, events,
 * `send`/`recv` and reminders. Actor code is handed this surface (its
 * activation stays in a private field), not the activation with its
 * lifecycle (deactivate, abandon, the mailbox). The state is a plain field
 * here because the actor reads and writes it on every access; the state step
 * reads it from here to store it.
 */
import {
  type ActorClass,
  type ActorHost,
  type ActorId,
  type CallOptions,
  DeactivatedError,
  InvalidArgumentError,
  type ReceivedMessage,
  type RecvOptions,
  type ReminderSchedule,
  refTarget,
  type SendOptions,
  type TimerHandle,
  type TimerOptions,
  validateChannel,
} from "@praas/core/internal";
import type { Activation } from "./activation.js";
import { startTimer } from "./activation-timers.js";
import { traceRecv } from "./tracing.js";

/**
 * The host of one actor instance. It holds the whole activation, not a slice
 * of it: the silo's services (`ref`, `send`, `emit`, reminders) take the
 * activation itself as the caller.
 */
export class ActorFacade implements ActorHost {
  /** The actor's state: loaded or initial at activation, stored from here. */
  state: unknown = undefined;
  readonly id: ActorId;
  readonly #a: Activation;

  constructor(a: Activation) {
    this.#a = a;
    this.id = a.id;
  }

  ref(cls: ActorClass, key: string, options?: CallOptions): unknown {
    return this.#a.ctx.makeRef(cls, key, options, this.#a);
  }

  setTimer(fn: () => unknown, options: TimerOptions): TimerHandle {
    return startTimer(this.#a, fn, options);
  }

  saveState(): Promise<void> {
    return this.#a.persistence.persist();
  }

  emit(event: string, payload: unknown): void {
    this.#a.ctx.emit(this.#a, event, payload);
  }

  subscriberCount(event?: string): number {
    return this.#a.ctx.subscriberCount(this.#a, event);
  }

  send(target: unknown, channel: string, data: unknown, options?: SendOptions): Promise<void> {
    const a = this.#a;
    try {
      return a.ctx.send(a, toActorId(target), validateChannel(channel), data, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  recv(channel: string, options?: RecvOptions): Promise<ReceivedMessage> {
    const a = this.#a;
    try {
      validateChannel(channel);
      const from = options?.from === undefined ? undefined : senderString(options.from);
      const timeoutMs = options?.timeoutMs ?? a.ctx.callTimeoutMs;
      if (!(timeoutMs > 0)) throw new InvalidArgumentError("recv timeoutMs must be a positive number");
      if (a.status === "deactivating" || a.status === "deactivated") {
        throw new DeactivatedError(a.idString, "recv was called");
      }
      return traceRecv(a.id, channel, a.inboxOrNew().recv(channel, from, timeoutMs));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  remind(name: string, schedule: ReminderSchedule): Promise<void> {
    return this.#a.ctx.remind(this.#a, name, schedule);
  }

  forget(name: string): Promise<void> {
    return this.#a.ctx.forget(this.#a, name);
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
