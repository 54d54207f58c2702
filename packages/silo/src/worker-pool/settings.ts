import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import { type ActorClass, InvalidArgumentError } from "@praas/core";

/** A threaded type as the pool needs it: where a worker thread finds the class. */
export interface ThreadedType {
  /** Type name (what the class is registered as). */
  readonly name: string;
  /** `file:` URL of the module that exports the class. */
  readonly module: string;
  /** Export to take; undefined: the exported actor class with the type's name. */
  readonly exportName: string | undefined;
}

/**
 * Check a class's `static threads` (undefined when it has none). Only
 * stateless types may run on threads: a keyed actor's turns need its state,
 * its mailbox and the silo's runtime, which live on the event loop.
 */
export function threadedTypeOf(cls: ActorClass, name: string, stateless: boolean): ThreadedType | undefined {
  const threads = (cls as { threads?: unknown }).threads;
  if (threads === undefined) return undefined;
  if (typeof threads !== "object" || threads === null) {
    throw new InvalidArgumentError(`${name}.threads must be an object { module: import.meta.url }`);
  }
  if (!stateless) {
    throw new InvalidArgumentError(
      `${name}.threads: only stateless types run on worker threads (a keyed actor's state lives on the event loop)`,
    );
  }
  const { module, export: exportName } = threads as { module?: unknown; export?: unknown };
  if (exportName !== undefined && (typeof exportName !== "string" || exportName.length === 0)) {
    throw new InvalidArgumentError(`${name}.threads.export must be the name of an export`);
  }
  return { name, module: moduleUrl(name, module), exportName };
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
