import {
  ActorTypeNotFoundError,
  actorIdString,
  InvalidArgumentError,
  type RefTarget,
  validateKey,
  validateTypeName,
} from "@praas/core/internal";
import type { Silo } from "../silo.js";

/**
 * The `method` the authorize hook sees for a message sent to an actor's inbox:
 * "@send:<channel>" (no actor method can have this name).
 */
export function sendPermission(channel: string): string {
  return `@send:${channel}`;
}

/**
 * Call targets for network calls, reused across calls to the same actor with
 * the same deadline: building one (key check, id string, options object) costs
 * more than the rest of the gateway's per-call work. Bounded: the whole cache
 * is dropped when it grows past `max` entries (a hostile client cycling keys
 * only costs itself the cache).
 */
export class TargetCache {
  readonly #targets = new Map<string, RefTarget>();
  constructor(private readonly max = 10_000) {}

  /** A target for `type/key` (checking the key on first use; throws InvalidArgumentError). */
  get(type: string, key: string, timeoutMs: number | undefined): RefTarget {
    const k = timeoutMs === undefined ? `${type}/${key}` : `${type}/${key}\u0000${timeoutMs}`;
    let t = this.#targets.get(k);
    if (t === undefined) {
      validateTypeName(type);
      validateKey(key);
      t = {
        id: { type, key },
        idString: actorIdString(type, key),
        options: timeoutMs === undefined ? undefined : { timeoutMs },
        caller: undefined,
      };
      if (this.#targets.size >= this.max) this.#targets.clear();
      this.#targets.set(k, t);
    }
    return t;
  }

  /**
   * A target for a call to the stateless worker type `type` (no key: the silo
   * picks a worker). Throws ActorTypeNotFoundError for an unknown type and
   * InvalidArgumentError for a keyed one.
   */
  worker(silo: Silo, type: string, timeoutMs: number | undefined): RefTarget {
    const cls = silo.classOf(type);
    if (cls === undefined) throw new ActorTypeNotFoundError(type);
    if (cls.stateless !== true) {
      throw new InvalidArgumentError(`${type} is not stateless: call it through a reference with a key`);
    }
    // "type/" never collides with a keyed entry: keys are non-empty.
    const k = timeoutMs === undefined ? `${type}/` : `${type}/\u0000${timeoutMs}`;
    let t = this.#targets.get(k);
    if (t === undefined) {
      t = {
        id: { type, key: "" },
        idString: actorIdString(type, ""),
        options: timeoutMs === undefined ? undefined : { timeoutMs },
        caller: undefined,
      };
      if (this.#targets.size >= this.max) this.#targets.clear();
      this.#targets.set(k, t);
    }
    return t;
  }
}
