import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { type ActorClass, InvalidArgumentError } from "@praas/core/internal";

/** A threaded type as the pool needs it: where a worker thread finds the class. */
export interface ThreadedType {
  /** Type name (what the class is registered as). */
  readonly name: string;
  /** `file:` URL of the module that exports the class. */
  readonly module: string;
  /** Export to take; undefined: the exported actor class with the type's name. */
  readonly exportName: string | undefined;
  /** A keyed type (its threaded methods see `this.key`); else stateless. */
  readonly keyed: boolean;
  /** The methods that run on threads; undefined: all of them (stateless types only). */
  readonly methods: ReadonlySet<string> | undefined;
}

/** Does a call of `method` go to the worker pool? */
export function runsOnThread(threads: ThreadedType | undefined, method: string): threads is ThreadedType {
  return threads !== undefined && (threads.methods === undefined || threads.methods.has(method));
}

/**
 * Check a class's `static threads` (undefined when it has none). A stateless
 * type may run all its methods on threads; a keyed type only the methods it
 * lists, which must not touch `this.state` — its state, mailbox and turns
 * live on the event loop, and these calls bypass them.
 */
export function threadedTypeOf(
  cls: ActorClass,
  name: string,
  stateless: boolean,
  callable: ReadonlySet<string>,
): ThreadedType | undefined {
  const threads = (cls as { threads?: unknown }).threads;
  if (threads === undefined) return undefined;
  if (typeof threads !== "object" || threads === null) {
    throw new InvalidArgumentError(`${name}.threads must be an object { module: import.meta.url }`);
  }
  const { module, export: exportName, methods } = threads as { module?: unknown; export?: unknown; methods?: unknown };
  if (exportName !== undefined && (typeof exportName !== "string" || exportName.length === 0)) {
    throw new InvalidArgumentError(`${name}.threads.export must be the name of an export`);
  }
  if (methods === undefined && !stateless) {
    throw new InvalidArgumentError(
      `${name}.threads: a keyed type must list the methods that run on threads (threads.methods), which cannot use this.state`,
    );
  }
  if (methods !== undefined) {
    if (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => typeof m !== "string")) {
      throw new InvalidArgumentError(`${name}.threads.methods must be a non-empty array of method names`);
    }
    for (const m of methods as string[]) {
      if (!callable.has(m))
        throw new InvalidArgumentError(`${name}.threads.methods names "${m}", which is not a callable method`);
    }
  }
  return {
    name,
    module: moduleUrl(name, module),
    exportName,
    keyed: !stateless,
    methods: methods === undefined ? undefined : new Set(methods as string[]),
  };
}

function moduleUrl(name: string, module: unknown): string {
  if (module instanceof URL) module = module.href;
  if (typeof module !== "string" || module.length === 0) {
    throw new InvalidArgumentError(
      `${name}.threads.module must be the module's URL (import.meta.url) or absolute path`,
    );
  }
  if (module.startsWith("file:")) return module;
  // A relative path would resolve against whatever the thread's working folder is: refuse it.
  if (isAbsolute(module)) return pathToFileURL(module).href;
  throw new InvalidArgumentError(
    `${name}.threads.module must be a file: URL (import.meta.url) or an absolute path, got ${JSON.stringify(module.slice(0, 200))}`,
  );
}
