/**
 * The package's public API is what its README documents: every name
 * src/index.ts exports is described in the README's "API" section, and every
 * type or class named there is exported (so an internal module never leaks
 * out unannounced, and the documentation never names what users cannot import).
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import * as api from "../src/index.js";

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");

/** Names in `export { … } from` / `export type { … } from` statements, without `type`. */
function exportedNames(source: string): Set<string> {
  const names = new Set<string>();
  for (const m of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of (m[1] as string).split(",")) {
      const name = part.trim().replace(/^type\s+/, "");
      if (name !== "") names.add(name);
    }
  }
  return names;
}

/** Identifiers at the start of inline code in the README's API section: `Client`, `ClientRef<T, E>`, `connect(url…)`. */
function documentedNames(readme: string): Set<string> {
  const start = readme.indexOf("\n## API");
  expect(start).toBeGreaterThan(0);
  const section = readme.slice(start);
  const names = new Set<string>();
  for (const m of section.matchAll(/`([A-Za-z][A-Za-z0-9]*)[^`]*`/g)) names.add(m[1] as string);
  return names;
}

/** The platform's names the README uses (`WebSocket` is also the option's name). */
const PLATFORM = new Set(["Promise", "WebSocket"]);

describe("public API", () => {
  const exported = exportedNames(read("../src/index.ts"));
  const documented = documentedNames(read("../README.md"));

  test("everything index.ts exports is documented in the README", () => {
    expect([...exported].filter((n) => !documented.has(n))).toEqual([]);
  });

  test("every class and type the README names is exported", () => {
    // Capitalized names with a lower-case letter: not error codes, not type parameters.
    const named = [...documented].filter((n) => /^[A-Z][A-Za-z0-9]*[a-z]/.test(n) && !PLATFORM.has(n));
    expect(named.filter((n) => !exported.has(n))).toEqual([]);
  });

  test("the runtime exports are exactly the documented values", () => {
    expect(Object.keys(api).sort()).toEqual([...exported].filter((n) => n in api).sort());
    expect(Object.keys(api).filter((n) => !exported.has(n))).toEqual([]);
  });
});
