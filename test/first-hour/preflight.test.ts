/**
 * `npm test` on a machine missing a tool the tests use (redis-server, TeX, chromium)
 * installs it or stops at once with one line saying what to install. Tested
 * with fake tools and a fake apt-get on a PATH of our own.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "./shell.js";

const PREFLIGHT = join(REPO_ROOT, "scripts/preflight.mjs");

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "praas-preflight-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A folder to serve as the whole PATH, holding fake executables with these names. */
function pathWith(name: string, tools: readonly string[]): string {
  const bin = join(dir, name);
  for (const tool of tools) writeExecutable(join(bin, tool), "#!/bin/sh\nexit 0\n");
  return bin;
}

function writeExecutable(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

function preflight(env: Record<string, string>): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [PREFLIGHT], { env, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("npm test's preflight", () => {
  test("everything present: silent, exit 0", () => {
    expect(preflight({ PATH: pathWith("all", ["redis-server", "pdflatex", "bibtex", "chromium"]) })).toEqual({
      code: 0,
      out: "",
      err: "",
    });
  });

  test("TeX missing and no way to install it: one line naming the package, exit 1", () => {
    const r = preflight({ PATH: pathWith("no-tex", ["redis-server", "chromium"]), PRAAS_PREFLIGHT_INSTALL: "0" });
    expect(r).toEqual({
      code: 1,
      out: "",
      err:
        "npm test needs pdflatex (examples/latex), bibtex (examples/latex): install them with " +
        "`apt-get install texlive-latex-base` (Debian/Ubuntu, as root), then run npm test again\n",
    });
  });

  test("tools named by the variables the tests read count as present", () => {
    const elsewhere = pathWith("elsewhere", ["my-redis", "my-pdflatex", "my-bibtex", "my-chromium"]);
    const r = preflight({
      PATH: pathWith("empty", []),
      PRAAS_PREFLIGHT_INSTALL: "0",
      REDIS_SERVER_BIN: join(elsewhere, "my-redis"),
      PDFLATEX: join(elsewhere, "my-pdflatex"),
      BIBTEX: join(elsewhere, "my-bibtex"),
      CHROMIUM_BIN: join(elsewhere, "my-chromium"),
    });
    expect(r).toEqual({ code: 0, out: "", err: "" });
  });

  test("as root with apt-get: installs what is missing, then goes on", () => {
    const bin = pathWith("apt", ["redis-server", "chromium"]);
    const log = join(dir, "apt.log");
    // A fake apt-get: records its arguments; "install" puts the TeX commands on the PATH.
    writeExecutable(
      join(bin, "apt-get"),
      `#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> ${log}\n` +
        `if [ "$1" = install ]; then for t in pdflatex bibtex; do printf '#!/bin/sh\\n' > ${bin}/$t; /bin/chmod +x ${bin}/$t; done; fi\n`,
    );
    const r = preflight({ PATH: bin });
    if (process.getuid?.() === 0) {
      expect(r).toEqual({ code: 0, out: "npm test: installing texlive-latex-base (for pdflatex, bibtex)…\n", err: "" });
      expect(readFileSync(log, "utf8")).toBe(
        "noninteractive update -qq\nnoninteractive install -y -qq texlive-latex-base\n",
      );
    } else {
      // Not root: apt-get would fail; the one line says what to install.
      expect(r).toMatchObject({ code: 1, err: expect.stringMatching(/apt-get install texlive-latex-base/) });
    }
  });

  test("npm test runs it before building, and CI runs exactly npm test", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { scripts: { test: string } };
    expect(pkg.scripts.test).toMatch(/^node scripts\/preflight\.mjs && tsc -b && /);
    const ci = readFileSync(join(REPO_ROOT, ".ci/run"), "utf8");
    expect(ci.split("\n").filter((l) => /^\s*npm test\b/.test(l))).toEqual(["npm test"]);
  });
});
