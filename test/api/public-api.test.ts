/**
 * The public API of each package is exactly what its README documents: every
 * name its entry point exports is listed in the README's "## API" section, and
 * every name listed there is exported. Internal modules stay out of the entry
 * points (the sibling packages share them through "@praas/core/internal").
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Names a module declares with a top-level `export`, and what its `export … from` lines bring in. */
function exportedNames(file: string, seen = new Set<string>()): Set<string> {
  const names = new Set<string>();
  if (seen.has(file)) return names;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  const declared =
    /^export\s+(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:class|function\*?|const|let|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm;
  for (const m of text.matchAll(declared)) names.add(m[1] as string);
  const lists = /^export\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s+"[^"]+")?;/gm;
  for (const m of text.matchAll(lists)) {
    for (const part of (m[1] as string).split(",")) {
      const spec = part.trim().replace(/^type\s+/, "");
      if (spec === "") continue;
      const alias = /\bas\s+([A-Za-z_$][\w$]*)$/.exec(spec);
      names.add(alias ? (alias[1] as string) : (spec.split(/\s/)[0] as string));
    }
  }
  for (const m of text.matchAll(/^export\s+\*\s+from\s+"(\.[^"]+)";/gm)) {
    const target = join(dirname(file), (m[1] as string).replace(/\.js$/, ".ts"));
    for (const n of exportedNames(target, seen)) names.add(n);
  }
  return names;
}

/** Identifiers in backticks in the README's "## API" section (`Silo.start(…)` counts as `Silo`). */
function documentedNames(readme: string): Set<string> | undefined {
  const start = readme.search(/^## API\s*$/m);
  if (start < 0) return undefined;
  const rest = readme.slice(start + 1);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const names = new Set<string>();
  for (const m of section.matchAll(/`([A-Za-z_$][\w$]*)/g)) names.add(m[1] as string);
  return names;
}

/** Every name any module of the package exports (public or not). */
function allModuleNames(dir: string): Set<string> {
  const names = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    for (const n of exportedNames(join(entry.parentPath, entry.name))) names.add(n);
  }
  return names;
}

const packages = ["core", "silo", "client", "redis", "storage-s3", "testing"];

describe("public API = README", () => {
  for (const pkg of packages) {
    it(`@praas/${pkg}: the entry point exports exactly the README's API section`, () => {
      const exported = exportedNames(join(root, "packages", pkg, "src", "index.ts"));
      const documented = documentedNames(readFileSync(join(root, "packages", pkg, "README.md"), "utf8"));
      expect(documented, `packages/${pkg}/README.md has no "## API" section`).toBeDefined();
      const doc = documented as Set<string>;
      const undocumented = [...exported].filter((n) => !doc.has(n)).sort();
      expect(undocumented, `exported by @praas/${pkg} but not in its README's API section`).toEqual([]);
      // A name the section lists that one of the package's modules exports must be exported by the
      // entry point (other words in backticks — option names, values — are not module exports).
      const all = allModuleNames(join(root, "packages", pkg, "src"));
      const missing = [...doc].filter((n) => all.has(n) && !exported.has(n)).sort();
      expect(missing, `listed in @praas/${pkg}'s README API section but internal`).toEqual([]);
    });
  }
});
