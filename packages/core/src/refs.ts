import type { CallOptions } from "./actor.js";
import type { ActorId } from "./ids.js";

/** The target of a reference, as the invoker sees it. */
export interface RefTarget {
  readonly id: ActorId;
  /** "Type/key", computed once per reference. */
  readonly idString: string;
  readonly options: CallOptions | undefined;
  /** @internal The activation that made the reference, when inside an actor (for call chains). */
  readonly caller: unknown;
}

/** Sends a call to wherever the target lives (local mailbox, another silo, a gateway). */
export interface Invoker {
  invokeRef(target: RefTarget, method: string, args: unknown[]): Promise<unknown>;
}

/** Symbol under which a reference exposes its target (for the runtime and codecs). */
export const REF_TARGET: unique symbol = Symbol.for("praas.refTarget");

/** What a reference proxy wraps. */
interface RefHolder {
  readonly target: RefTarget;
  readonly invoker: Invoker;
  /**
   * The last method looked up and its function: a reference used in a loop
   * (`ref.add(x)` again and again) then allocates no closure per call. One
   * slot, not a map, so a one-shot reference stays small.
   */
  lastProp: string | undefined;
  lastFn: ((...args: unknown[]) => Promise<unknown>) | undefined;
}

const handler: ProxyHandler<RefHolder> = {
  get(holder, prop) {
    if (typeof prop !== "string") return prop === REF_TARGET ? holder.target : undefined;
    // A reference must not look like a promise, or `await ref` would call `then`.
    if (prop === "then") return undefined;
    if (prop === "id") return holder.target.id;
    if (prop === holder.lastProp) return holder.lastFn;
    const { target, invoker } = holder;
    const fn = (...args: unknown[]) => invoker.invokeRef(target, prop, args);
    holder.lastProp = prop;
    holder.lastFn = fn;
    return fn;
  },
  has(_holder, prop) {
    return prop === "id" || prop === REF_TARGET;
  },
  set() {
    return false;
  },
};

/** Create an untyped reference; typed wrappers cast it to `ActorRef<T>`. */
export function createRef(invoker: Invoker, target: RefTarget): unknown {
  const holder: RefHolder = { target, invoker, lastProp: undefined, lastFn: undefined };
  return new Proxy(holder, handler);
}

/** The target of a reference created by {@link createRef}, or undefined for anything else. */
export function refTarget(value: unknown): RefTarget | undefined {
  if ((typeof value !== "object" && typeof value !== "function") || value === null) return undefined;
  return (value as { [REF_TARGET]?: RefTarget })[REF_TARGET];
}
