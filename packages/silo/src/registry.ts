import {
  Actor,
  type ActorClass,
  DuplicateActorTypeError,
  InvalidArgumentError,
  type PersistenceMode,
  validateTypeName,
} from "@praas/core/internal";
import { type ThreadedType, threadedTypeOf } from "./worker-pool/settings.js";

/** Everything the runtime needs to know about one actor type, checked once at start. */
export interface ActorTypeInfo {
  readonly name: string;
  readonly cls: ActorClass;
  /** The methods callers may call: `static expose`, or every public prototype method (callableMethods). */
  readonly methods: ReadonlySet<string>;
  readonly reentrant: boolean;
  readonly interleave: ReadonlySet<string>;
  readonly idleTimeoutMs: number;
  readonly persistence: PersistenceMode;
  readonly stateVersion: number;
  /** Stateless worker: no persisted state, a pool of activations per silo. */
  readonly stateless: boolean;
  readonly maxWorkers: number;
  /** `static threads`: which of its calls run on the silo's worker threads. */
  readonly threads: ThreadedType | undefined;
}

const PERSISTENCE_MODES: readonly PersistenceMode[] = ["deactivate", "turn", "none"];

/** Members of Actor itself: never callable from outside, whatever a subclass does. */
const baseMembers = new Set<string>([...Object.getOwnPropertyNames(Actor.prototype), "constructor"]);

/**
 * The methods callers may call on `cls`: its `static expose` list when it has
 * one (checked: each must be a public method), else every public method
 * declared by the class and its ancestors up to Actor. Never Actor's own
 * members, `_`-prefixed or `#private` methods (the last are not properties).
 * TypeScript `private`/`protected` leave no trace at run time: without
 * `expose` they are callable like any other method.
 */
export function callableMethods(cls: ActorClass): Set<string> {
  const candidates = prototypeMethods(cls);
  const expose = (cls as { expose?: unknown }).expose;
  if (expose === undefined) return candidates;
  const name = cls.actorType ?? cls.name;
  if (!Array.isArray(expose) || expose.some((m) => typeof m !== "string")) {
    throw new InvalidArgumentError(`${name}.expose must be an array of method names`);
  }
  for (const m of expose as string[]) {
    if (!candidates.has(m)) {
      const why =
        m.startsWith("_") || baseMembers.has(m)
          ? "which can never be called from outside (_-prefixed, or a member of Actor)"
          : `which is not a method of ${name}`;
      throw new InvalidArgumentError(`${name}.expose names "${m}", ${why}`);
    }
  }
  return new Set(expose as string[]);
}

/** Public methods declared by the class and its ancestors up to Actor. */
function prototypeMethods(cls: ActorClass): Set<string> {
  const methods = new Set<string>();
  for (let proto = cls.prototype as object | null; proto !== null && proto !== Actor.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (baseMembers.has(name) || name.startsWith("_")) continue;
      const desc = Object.getOwnPropertyDescriptor(proto, name);
      if (desc !== undefined && typeof desc.value === "function") methods.add(name);
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return methods;
}

export class ActorRegistry {
  readonly #types = new Map<string, ActorTypeInfo>();
  readonly #byClass = new Map<ActorClass, ActorTypeInfo>();

  constructor(classes: readonly ActorClass[], defaultIdleTimeoutMs: number) {
    for (const cls of classes) this.#register(cls, defaultIdleTimeoutMs);
  }

  get(name: string): ActorTypeInfo | undefined {
    return this.#types.get(name);
  }

  ofClass(cls: ActorClass): ActorTypeInfo | undefined {
    return this.#byClass.get(cls);
  }

  get types(): IterableIterator<ActorTypeInfo> {
    return this.#types.values();
  }

  #register(cls: ActorClass, defaultIdleTimeoutMs: number): void {
    if (typeof cls !== "function" || !(cls.prototype instanceof Actor)) {
      throw new InvalidArgumentError(`${describe(cls)} is not a class extending Actor`);
    }
    const name = validateTypeName(cls.actorType ?? cls.name);
    if (this.#types.has(name)) throw new DuplicateActorTypeError(name);
    const methods = callableMethods(cls);
    const interleave = new Set(cls.interleave ?? []);
    for (const m of interleave) {
      if (!methods.has(m)) {
        throw new InvalidArgumentError(`${name}.interleave names "${m}", which is not a callable method of ${name}`);
      }
    }
    const stateless = cls.stateless === true;
    const maxWorkers = cls.maxWorkers ?? 16;
    if (!Number.isInteger(maxWorkers) || maxWorkers < 1) {
      throw new InvalidArgumentError(`${name}.maxWorkers must be a positive integer`);
    }
    if (stateless && cls.persistence !== undefined && cls.persistence !== "none") {
      throw new InvalidArgumentError(`${name} is stateless, so its persistence can only be "none"`);
    }
    const persistence = stateless ? "none" : (cls.persistence ?? "deactivate");
    if (!PERSISTENCE_MODES.includes(persistence)) {
      throw new InvalidArgumentError(`${name}.persistence must be one of ${PERSISTENCE_MODES.join(", ")}`);
    }
    const stateVersion = cls.stateVersion ?? 1;
    if (!Number.isInteger(stateVersion) || stateVersion < 1) {
      throw new InvalidArgumentError(`${name}.stateVersion must be a positive integer`);
    }
    const idleTimeoutMs = cls.idleTimeoutMs ?? defaultIdleTimeoutMs;
    if (!(idleTimeoutMs > 0)) throw new InvalidArgumentError(`${name}.idleTimeoutMs must be a positive number`);
    const info: ActorTypeInfo = {
      name,
      cls,
      methods,
      reentrant: cls.reentrant === true,
      interleave,
      idleTimeoutMs,
      persistence,
      stateVersion,
      stateless,
      maxWorkers,
      threads: threadedTypeOf(cls, name, stateless, methods),
    };
    this.#types.set(name, info);
    this.#byClass.set(cls, info);
  }
}

function describe(v: unknown): string {
  return typeof v === "function" ? `class ${v.name || "(anonymous)"}` : (JSON.stringify(v) ?? String(v));
}
