#!/usr/bin/env node
/**
 * Run by `npm test` before anything else (and so by .ci/run): the system tools
 * the tests use must be on this machine. What is missing is installed when we
 * can (root with apt-get, as on Debian CI machines); otherwise the run stops at
 * once with one line naming what to install, instead of a wall of failing tests.
 *
 * Tools can be pointed at elsewhere with the variables the tests read:
 * REDIS_SERVER_BIN, PDFLATEX, BIBTEX, CHROMIUM_BIN. PRAAS_PREFLIGHT_INSTALL=0 never installs.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";

/** What the tests need: the command, the variable that may name it, and the Debian package that has it. */
const TOOLS = [
  { command: "redis-server", variable: "REDIS_SERVER_BIN", aptPackage: "redis-server", usedBy: "the Redis tests" },
  { command: "pdflatex", variable: "PDFLATEX", aptPackage: "texlive-latex-base", usedBy: "examples/latex" },
  { command: "bibtex", variable: "BIBTEX", aptPackage: "texlive-latex-base", usedBy: "examples/latex" },
  // playwright-core drives the system's browser; it never downloads one.
  { command: "chromium", variable: "CHROMIUM_BIN", aptPackage: "chromium", usedBy: "the dashboard browser tests" },
];

/** Is `name` (a path, or a command looked up on the PATH) an executable file? */
function found(name) {
  const candidates = isAbsolute(name) || name.includes("/") ? [name] : pathDirs().map((dir) => join(dir, name));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function pathDirs() {
  return (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
}

function missingTools() {
  return TOOLS.filter((t) => !found(process.env[t.variable] || t.command));
}

function packagesFor(tools) {
  return [...new Set(tools.map((t) => t.aptPackage))];
}

/** Install with apt-get, as root; quiet unless it fails. */
function aptInstall(packages) {
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [
    ["update", "-qq"],
    ["install", "-y", "-qq", ...packages],
  ]) {
    const r = spawnSync("apt-get", args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.status !== 0) {
      process.stderr.write(r.stdout + r.stderr);
      return false;
    }
  }
  return true;
}

const canInstall = process.env.PRAAS_PREFLIGHT_INSTALL !== "0" && process.getuid?.() === 0 && found("apt-get");

let missing = missingTools();
if (missing.length > 0 && canInstall) {
  const packages = packagesFor(missing);
  process.stdout.write(
    `npm test: installing ${packages.join(" ")} (for ${missing.map((t) => t.command).join(", ")})…\n`,
  );
  aptInstall(packages);
  missing = missingTools();
}
if (missing.length > 0) {
  const names = missing.map((t) => `${t.command} (${t.usedBy})`).join(", ");
  process.stderr.write(
    `npm test needs ${names}: install them with \`apt-get install ${packagesFor(missing).join(" ")}\` ` +
      "(Debian/Ubuntu, as root), then run npm test again\n",
  );
  process.exit(1);
}
