/**
 * `/dashboard`: the page (static files, no data, served to anyone: a browser
 * cannot send a bearer token when it navigates) and its JSON API under
 * `/dashboard/api/`, which needs the same authentication as `/metrics`.
 * The page polls the API once a second; deactivating an actor and deleting
 * its state go through the ordinary control routes (`POST
 * /v1/actors/:type/:key/deactivate`, `DELETE /v1/actors/:type/:key/state`),
 * with their authorization.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ActorTypeNotFoundError, InvalidArgumentError, MAX_NAME_LENGTH, validateKey } from "@praas/core/internal";
import { MethodNotAllowedError, RouteNotFoundError } from "../errors.js";
import type { HttpRoutesHost, Route } from "../http-routes.js";
import { toJson } from "../json.js";

/** Rows of the silo table per page, at most. */
export const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE = 1_000_000;

const ASSETS: Readonly<Record<string, string>> = {
  "": "index.html",
  "app.js": "app.js",
  "style.css": "style.css",
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

// src/gateway/dashboard/ and dist/gateway/dashboard/ are both three folders below the
// package, which ships src/: the files are read from there, with no build step.
const ASSET_DIR = new URL("../../../src/gateway/dashboard/assets/", import.meta.url);
const loaded = new Map<string, Buffer>();

function asset(file: string): Buffer {
  let body = loaded.get(file);
  if (body === undefined) {
    body = readFileSync(new URL(file, ASSET_DIR));
    loaded.set(file, body);
  }
  return body;
}

/** The route for `/dashboard/…` (segments after "dashboard"), or a 404/405. */
export function dashboardRoute<P>(method: string, rest: readonly string[], path: string): Route<P> {
  const only = (route: Route<P>): Route<P> => {
    if (method !== "GET") throw new MethodNotAllowedError(method, path, ["GET"]);
    return route;
  };
  if (rest.length <= 1) {
    const file = ASSETS[rest[0] ?? ""];
    if (file !== undefined) return only({ name: "dashboard", open: true, run: (_c, _q, r) => serveAsset(r, file) });
  }
  if (rest.length === 2 && rest[0] === "api") {
    if (rest[1] === "cluster") return only({ name: "dashboardApi", run: cluster });
    if (rest[1] === "actor") return only({ name: "dashboardApi", run: actor });
  }
  throw new RouteNotFoundError(method, path);
}

async function serveAsset(res: ServerResponse, file: string): Promise<void> {
  const body = asset(file);
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[file.slice(file.lastIndexOf(".") + 1)] ?? "application/octet-stream",
    "content-length": body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    // The page loads only its own files and talks only to this gateway.
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  });
  res.end(body);
}

function sendJson(res: ServerResponse, body: string): void {
  res.writeHead(200, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}

/** The query parameters of a request, refusing any not in `allowed` and repeated ones. */
export function queryOf(url: string, allowed: readonly string[]): Map<string, string> {
  const q = url.indexOf("?");
  const params = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
  const out = new Map<string, string>();
  for (const [name, value] of params) {
    if (!allowed.includes(name)) {
      throw new InvalidArgumentError(
        `Unknown query parameter ${JSON.stringify(name.slice(0, 100))}; allowed: ${allowed.join(", ")}`,
      );
    }
    if (out.has(name)) throw new InvalidArgumentError(`Query parameter ${name} given twice`);
    out.set(name, value);
  }
  return out;
}

/** A whole number in [min, max] from a query parameter, or `fallback` when absent. */
export function intParam(query: Map<string, string>, name: string, min: number, max: number, fallback: number): number {
  const raw = query.get(name);
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new InvalidArgumentError(`Query parameter ${name} must be a whole number from ${min} to ${max}`);
  }
  const n = Number(raw);
  if (n < min || n > max) {
    throw new InvalidArgumentError(`Query parameter ${name} must be a whole number from ${min} to ${max}, got ${n}`);
  }
  return n;
}

/** `GET /dashboard/api/cluster?page=&pageSize=`: the cluster, silos paged. */
async function cluster<P>(ctx: HttpRoutesHost<P>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const stats = ctx.dashboard;
  if (stats === undefined) throw new RouteNotFoundError("GET", "/dashboard/api/cluster");
  const query = queryOf(req.url ?? "", ["page", "pageSize"]);
  const page = intParam(query, "page", 0, MAX_PAGE, 0);
  const pageSize = intParam(query, "pageSize", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
  sendJson(res, toJson(await stats.snapshot(page, pageSize)));
}

/** `GET /dashboard/api/actor?type=&key=`: the inspector (authorized as "@status" on the actor). */
async function actor<P>(
  ctx: HttpRoutesHost<P>,
  req: IncomingMessage,
  res: ServerResponse,
  principal: P,
): Promise<void> {
  const stats = ctx.dashboard;
  if (stats === undefined) throw new RouteNotFoundError("GET", "/dashboard/api/actor");
  const query = queryOf(req.url ?? "", ["type", "key"]);
  const type = query.get("type");
  const key = query.get("key");
  if (type === undefined || type.length === 0 || type.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(`Query parameter type must name an actor type (1 to ${MAX_NAME_LENGTH} chars)`);
  }
  if (key === undefined) throw new InvalidArgumentError("Query parameter key is required");
  validateKey(key);
  if (ctx.silo.classOf(type) === undefined) throw new ActorTypeNotFoundError(type);
  const pending = ctx.auth.authorize(principal, type, key, "@status");
  if (pending !== undefined) await pending;
  sendJson(res, toJson(await stats.actor({ type, key })));
}
