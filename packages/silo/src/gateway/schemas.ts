import { type ArgsSchema, InvalidArgumentError } from "@praas/core/internal";
import { Schema } from "effect";
import type { Silo } from "../silo.js";

type Check = (args: readonly unknown[]) => readonly unknown[];

/**
 * Argument checks for calls from the network, built once from each actor
 * class's `static schemas`. Calls to methods without a schema pass unchanged,
 * at the cost of two map lookups.
 */
export class ArgsValidator {
  readonly #byType = new Map<string, Map<string, Check>>();

  constructor(silo: Silo) {
    for (const type of silo.actorTypes) {
      const schemas = silo.classOf(type)?.schemas;
      if (schemas === undefined) continue;
      if (typeof schemas !== "object" || schemas === null) {
        throw new InvalidArgumentError(`${type}.schemas must be an object mapping method names to schemas`);
      }
      const methods = silo.methodsOf(type) ?? new Set<string>();
      const checks = new Map<string, Check>();
      for (const [method, schema] of Object.entries(schemas)) {
        if (!methods.has(method)) {
          throw new InvalidArgumentError(
            `${type}.schemas names "${method}", which is not a callable method of ${type}`,
          );
        }
        checks.set(method, compile(type, method, schema));
      }
      this.#byType.set(type, checks);
    }
  }

  /** The arguments to pass (decoded by the schema), or an InvalidArgumentError naming the method and the problem. */
  check(type: string, method: string, args: readonly unknown[]): readonly unknown[] {
    const check = this.#byType.get(type)?.get(method);
    return check === undefined ? args : check(args);
  }
}

function compile(type: string, method: string, schema: ArgsSchema): Check {
  const where = `${type}.${method}`;
  if (Schema.isSchema(schema)) {
    const decode = Schema.decodeUnknownSync(schema as Schema.Top & Schema.ConstraintDecoder<unknown>);
    return (args) => {
      let out: unknown;
      try {
        out = decode(args);
      } catch (err) {
        throw new InvalidArgumentError(`Invalid arguments for ${where}: ${describe(err)}`);
      }
      if (!Array.isArray(out)) {
        throw new InvalidArgumentError(`The schema of ${where} must describe the argument list (use Schema.Tuple)`);
      }
      return out;
    };
  }
  if (typeof schema === "function") {
    return (args) => {
      let out: unknown;
      try {
        out = schema(args);
      } catch (err) {
        throw new InvalidArgumentError(`Invalid arguments for ${where}: ${describe(err)}`);
      }
      return Array.isArray(out) ? out : args;
    };
  }
  throw new InvalidArgumentError(`${type}.schemas.${method} must be an Effect Schema or a function`);
}

function describe(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  // Effect's messages span lines ("Expected number\n  at [1]"); keep them on one.
  return text.replace(/\s*\n\s*/g, " ");
}
