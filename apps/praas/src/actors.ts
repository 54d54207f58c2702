import { pathToFileURL } from "node:url";
import { Actor, type ActorClass, type HttpFallback } from "@praas/silo";
import { ConfigError } from "./errors.js";

export interface LoadedModules {
  readonly classes: readonly ActorClass[];
  /**
   * HTTP handlers the modules offer for routes the gateway does not serve
   * (an optional `export function praasWeb(req, res): boolean`), tried in order.
   */
  readonly web: readonly HttpFallback[];
}

/** Import each module and collect the Actor classes it exports (and its optional `praasWeb` handler). */
export async function loadActorModules(specs: readonly string[]): Promise<LoadedModules> {
  const classes = new Set<ActorClass>();
  const web: HttpFallback[] = [];
  for (const spec of specs) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec.startsWith("/") ? pathToFileURL(spec).href : spec)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`Cannot load actors module ${spec}: ${err instanceof Error ? err.message : String(err)}`);
    }
    let found = 0;
    for (const value of Object.values(mod)) {
      if (isActorClass(value)) {
        classes.add(value);
        found++;
      }
    }
    if (typeof mod.praasWeb === "function") web.push(mod.praasWeb as HttpFallback);
    if (found === 0) {
      throw new ConfigError(
        `Module ${spec} exports no Actor classes (export classes that extend Actor from @praas/silo; a second copy of @praas/core in its node_modules would also cause this)`,
      );
    }
  }
  return { classes: [...classes], web };
}

function isActorClass(v: unknown): v is ActorClass {
  return typeof v === "function" && (v as { prototype?: unknown }).prototype instanceof Actor;
}

/** Try each handler in turn. */
export function combineWeb(handlers: readonly HttpFallback[]): HttpFallback | undefined {
  if (handlers.length === 0) return undefined;
  return async (req, res) => {
    for (const h of handlers) if (await h(req, res)) return true;
    return false;
  };
}
