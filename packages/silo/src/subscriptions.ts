import { type ActorId, actorIdString, assertEncodable, InvalidArgumentError } from "@praas/core/internal";

/** Receives an actor's events. */
export type ActorEventListener = (event: string, payload: unknown) => void;

/**
 * Who listens to which actor's events. Subscriptions belong to the actor's id,
 * not to an activation, so they survive swap-out and swap-in.
 */
export class Subscriptions {
  /** "Type/key" → event name ("*" for all) → listeners. */
  readonly #byActor = new Map<string, Map<string, Set<ActorEventListener>>>();

  subscribe(id: ActorId, event: string, listener: ActorEventListener): () => void {
    if (typeof event !== "string" || event.length === 0 || event.length > 256) {
      throw new InvalidArgumentError("An event name is a non-empty string of at most 256 chars");
    }
    const key = actorIdString(id.type, id.key);
    let events = this.#byActor.get(key);
    if (events === undefined) {
      events = new Map();
      this.#byActor.set(key, events);
    }
    let set = events.get(event);
    if (set === undefined) {
      set = new Set();
      events.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) events.delete(event);
      if (events.size === 0) this.#byActor.delete(key);
    };
  }

  count(idString: string, event?: string): number {
    const events = this.#byActor.get(idString);
    if (events === undefined) return 0;
    if (event !== undefined) return (events.get(event)?.size ?? 0) + (event === "*" ? 0 : (events.get("*")?.size ?? 0));
    let n = 0;
    for (const set of events.values()) n += set.size;
    return n;
  }

  emit(idString: string, event: string, payload: unknown): void {
    if (typeof event !== "string" || event.length === 0) throw new InvalidArgumentError("emit needs an event name");
    assertEncodable(payload, `payload of event "${event}"`);
    const events = this.#byActor.get(idString);
    if (events === undefined) return;
    for (const name of [event, "*"]) {
      const set = events.get(name);
      if (set === undefined) continue;
      for (const listener of [...set]) {
        try {
          listener(event, payload);
        } catch {
          // A failing listener must not break the actor's turn or other listeners.
        }
      }
    }
  }
}
