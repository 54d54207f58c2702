#!/usr/bin/env node
/**
 * The `praas` command's entry point. It is committed, not built, because npm
 * links a workspace's binary at install time only if its file exists then: an
 * entry point in dist/ would leave `npx praas` on a fresh clone asking the
 * public registry for a package named "praas". It runs dist/main.js; in a
 * source checkout that was not built yet, it builds this package first.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const main = join(packageDir, "dist", "main.js");

if (!existsSync(main)) build();
await import(new URL("../dist/main.js", import.meta.url).href);

/** Build with the checkout's TypeScript (`tsc -b`, this package and what it references), or say what to do. */
function build() {
  const fail = (why) => {
    process.stderr.write(`praas: ${main} is missing (${why}); run \`npm run build\` at the repository root\n`);
    process.exit(2);
  };
  // Only a source checkout has the tsconfig.json; an installed package ships dist/ ready.
  if (!existsSync(join(packageDir, "tsconfig.json"))) fail("this installation is incomplete");
  let tsc;
  try {
    tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin", "tsc");
  } catch {
    fail("TypeScript is not installed: run `npm ci` first");
  }
  process.stderr.write("praas: first run in this checkout: building it (npx tsc -b apps/praas)…\n");
  const result = spawnSync(process.execPath, [tsc, "-b", packageDir], { stdio: ["ignore", "inherit", "inherit"] });
  if (result.status !== 0 || !existsSync(main)) fail("the build failed");
}
