/**
 * The chat page and the modules it imports, served next to the gateway's API.
 * The page uses @praas/client in the browser: its ES modules (and those of
 * @praas/core, cbor-x and @opentelemetry/api, which core's tracing talks to)
 * are served from /lib/<package>/… and found through an import map, with no
 * bundler. Only files inside those packages' folders can be read.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pageFile = join(here, "../public/index.html");
const require = createRequire(import.meta.url);

/** The folder holding the package.json of the package `file` belongs to. */
function packageRoot(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
  }
  throw new Error(`No package.json above ${file}`);
}

/** Folder of each package the page may load, and the subfolder its browser modules are in. */
function packageDirs(): Map<string, string> {
  // Resolve the entry point (package.json itself is not exported), then walk up to the package.
  const dirOf = (name: string) => packageRoot(require.resolve(name));
  return new Map([
    ["@praas/client", join(dirOf("@praas/client"), "dist")],
    ["@praas/core", join(dirOf("@praas/core"), "dist")],
    ["cbor-x", dirOf("cbor-x")],
    // Its ES build imports siblings without the ".js" a browser needs: see EXTENSIONLESS.
    ["@opentelemetry/api", join(dirOf("@opentelemetry/api"), "build", "esm")],
  ]);
}

/** Packages whose ES modules import relative paths without an extension: "/x" is served as "/x.js". */
const EXTENSIONLESS: ReadonlySet<string> = new Set(["@opentelemetry/api"]);

let dirs: Map<string, string> | undefined;

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".html": "text/html; charset=utf-8",
};

/** An HTTP handler for the gateway's `fallback` (and `praas start`): true when it served the request. */
export async function praasWeb(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const path = (req.url ?? "/").split("?")[0] as string;
  if (path === "/" || path === "/index.html") {
    await send(res, pageFile, ".html");
    return true;
  }
  const m = /^\/lib\/(@praas\/client|@praas\/core|cbor-x|@opentelemetry\/api)\/(.+)$/.exec(path);
  if (m === null) return false;
  const pkg = m[1] as string;
  let rest = m[2] as string;
  if (!rest.endsWith(".js")) {
    if (!EXTENSIONLESS.has(pkg)) return false;
    rest = `${rest}.js`;
  }
  dirs ??= packageDirs();
  const base = dirs.get(pkg) as string;
  const file = normalize(join(base, decodeURIComponent(rest)));
  if (!file.startsWith(base + sep)) return false;
  return send(res, file, ".js");
}

async function send(res: ServerResponse, file: string, ext: string): Promise<boolean> {
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return false;
  }
  res.writeHead(200, { "content-type": TYPES[ext] ?? "application/octet-stream", "cache-control": "no-cache" });
  res.end(body);
  return true;
}
