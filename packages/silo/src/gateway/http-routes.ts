import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type ActorId,
  ActorTypeNotFoundError,
  CHANNEL_RULE,
  isChannel,
  PayloadTooLargeError,
  PraasError,
  ProtocolError,
  SiloStoppedError,
  serializeError,
  validateKey,
} from "@praas/core/internal";
import type { Silo } from "../silo.js";
import type { ClusterStats } from "../stats/cluster-stats.js";
import type { Authenticator } from "./auth.js";
import { dashboardRoute } from "./dashboard/routes.js";
import { httpStatusOf, MethodNotAllowedError, RouteNotFoundError } from "./errors.js";
import { toJson } from "./json.js";
import { checkJson } from "./json-check.js";
import { decodeLimitsOf, type GatewayLimits } from "./limits.js";
import type { GatewayMetrics } from "./metrics.js";
import type { HttpFallback } from "./options.js";
import type { ArgsValidator } from "./schemas.js";
import { sendPermission, type TargetCache } from "./targets.js";

export interface HttpRoutesHost<P> {
  readonly silo: Silo;
  readonly limits: GatewayLimits;
  readonly auth: Authenticator<P>;
  readonly validator: ArgsValidator;
  readonly targets: TargetCache;
  readonly metrics: GatewayMetrics | undefined;
  readonly fallback: HttpFallback | undefined;
  /** The dashboard's statistics (with metrics on), for `/dashboard/api/…`. */
  readonly dashboard?: ClusterStats | undefined;
  draining(): boolean;
  callStarted(): void;
  callEnded(): void;
}

/** A matched route: its metrics label, whether it needs a principal, and what it does. */
export interface Route<P> {
  readonly name: string;
  readonly open?: boolean;
  run(ctx: HttpRoutesHost<P>, req: IncomingMessage, res: ServerResponse, principal: P): Promise<void>;
}

/**
 * The HTTP control plane (docs/protocol.md): JSON in, JSON out, errors as
 * `{"error":{"code","message"}}` with a status that fits the code.
 */
export function createHttpHandler<P>(ctx: HttpRoutesHost<P>): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (res: ServerResponse, err: unknown) => {
    if (!res.headersSent) sendError(res, err);
    else res.destroy();
  };
  return (req, res) => {
    let routeName = "unknown";
    res.on("finish", () => ctx.metrics?.httpRequest(routeName, res.statusCode));
    let route: Route<P>;
    try {
      route = match<P>(req.method ?? "GET", req.url ?? "/");
    } catch (err) {
      if (err instanceof RouteNotFoundError && ctx.fallback !== undefined) {
        routeName = "fallback";
        Promise.resolve(ctx.fallback(req, res)).then(
          (served) => {
            if (!served) fail(res, err);
          },
          (e: unknown) => fail(res, e),
        );
      } else fail(res, err);
      return;
    }
    routeName = route.name;
    try {
      if (route.open) {
        route.run(ctx, req, res, undefined as P).catch((e: unknown) => fail(res, e));
        return;
      }
      if (ctx.draining()) throw new SiloStoppedError();
      const principal = ctx.auth.authenticate(req, false);
      // Without an authenticate hook the principal is known at once: no promise in between.
      if (principal instanceof Promise) {
        principal.then((p) => route.run(ctx, req, res, p)).catch((e: unknown) => fail(res, e));
      } else route.run(ctx, req, res, principal).catch((e: unknown) => fail(res, e));
    } catch (err) {
      fail(res, err);
    }
  };
}

export function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = serializeError(err);
  const status = httpStatusOf(e.code);
  if (err instanceof MethodNotAllowedError) res.setHeader("allow", err.allow.join(", "));
  if (status === 401) res.setHeader("www-authenticate", "Bearer");
  // The body of a refused upload may still be arriving: close rather than read it.
  if (status === 413) res.setHeader("connection", "close");
  sendJson(res, status, JSON.stringify({ error: { code: e.code, message: e.message } }));
}

function segmentsOf(url: string): string[] {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const parts = path.split("/").filter((s, i) => i > 0 || s !== "");
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    throw new ProtocolError(`Malformed percent-encoding in path ${JSON.stringify(path.slice(0, 200))}`);
  }
}

function match<P>(method: string, url: string): Route<P> {
  const s = segmentsOf(url);
  const path = `/${s.join("/")}`;
  const only = (allowed: string, route: Route<P>): Route<P> => {
    if (method !== allowed) throw new MethodNotAllowedError(method, path, [allowed]);
    return route;
  };
  if (s.length === 1 && s[0] === "healthz") return only("GET", { name: "healthz", open: true, run: healthz });
  if (s.length === 1 && s[0] === "readyz") return only("GET", { name: "readyz", open: true, run: readyz });
  if (s.length === 1 && s[0] === "metrics") return only("GET", { name: "metrics", run: metrics });
  if (s[0] === "dashboard") return dashboardRoute<P>(method, s.slice(1), path);
  if (s[0] === "v1") {
    if (s.length === 2 && s[1] === "cluster") return only("GET", { name: "cluster", run: cluster });
    if (s.length === 2 && s[1] === "types") return only("GET", { name: "types", run: types });
    if (s.length === 4 && s[1] === "functions") {
      const type = s[2] as string;
      const fn = s[3] as string;
      return only("POST", { name: "function", run: (c, q, r, p) => invokeFunction(c, q, r, p, type, fn) });
    }
    if (s.length === 6 && s[1] === "actors" && s[4] === "messages") {
      const id: ActorId = { type: s[2] as string, key: s[3] as string };
      const channel = s[5] as string;
      return only("POST", { name: "message", run: (c, q, r, p) => sendMessage(c, q, r, p, id, channel) });
    }
    if (s[1] === "actors" && (s.length === 4 || s.length === 5)) {
      const id: ActorId = { type: s[2] as string, key: s[3] as string };
      if (s.length === 4) return only("GET", { name: "status", run: (c, _q, r, p) => status(c, r, p, id) });
      const op = s[4] as string;
      if (op === "state") {
        // DELETE …/state removes stored state; POST …/state calls a method named "state".
        if (method === "DELETE") return { name: "deleteState", run: (c, _q, r, p) => deleteState(c, r, p, id) };
        return only("POST", { name: "call", run: (c, q, r, p) => invoke(c, q, r, p, id, op) });
      }
      if (op === "deactivate") {
        return only("POST", { name: "deactivate", run: (c, _q, r, p) => deactivate(c, r, p, id) });
      }
      return only("POST", { name: "call", run: (c, q, r, p) => invoke(c, q, r, p, id, op) });
    }
  }
  throw new RouteNotFoundError(method, path);
}

async function healthz<P>(_ctx: HttpRoutesHost<P>, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, '{"status":"ok"}');
}

async function readyz<P>(ctx: HttpRoutesHost<P>, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (ctx.draining()) {
    sendJson(res, 503, '{"status":"draining"}');
    return;
  }
  // A cluster silo without its membership lease (or evicted and rejoining) serves nothing.
  const refusal = ctx.silo.servingError();
  if (refusal !== undefined) sendJson(res, 503, toJson({ status: "not-serving", reason: refusal.message }));
  else sendJson(res, 200, '{"status":"ready"}');
}

async function metrics<P>(ctx: HttpRoutesHost<P>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (ctx.metrics === undefined) throw new RouteNotFoundError(req.method ?? "GET", "/metrics");
  const text = await ctx.metrics.registry.metrics();
  res.writeHead(200, { "content-type": ctx.metrics.registry.contentType });
  res.end(text);
}

async function cluster<P>(ctx: HttpRoutesHost<P>, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, toJson(ctx.silo.clusterView()));
}

/**
 * `GET /v1/types`: the hosted actor types and the methods clients may call on
 * each. `explicit` says whether the class lists them in `static expose`; when
 * not, they are every public prototype method, TypeScript private and
 * protected ones included.
 */
async function types<P>(ctx: HttpRoutesHost<P>, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  sendJson(res, 200, toJson({ types: describeTypes(ctx.silo) }));
}

export interface TypeDescription {
  readonly name: string;
  readonly stateless: boolean;
  readonly methods: readonly string[];
  readonly explicit: boolean;
}

/** What `GET /v1/types` and the `praas start` banner show. */
export function describeTypes(silo: Silo): TypeDescription[] {
  return silo.actorTypes.map((name) => {
    const cls = silo.classOf(name);
    return {
      name,
      stateless: cls?.stateless === true,
      methods: [...(silo.methodsOf(name) ?? [])].sort(),
      explicit: cls?.expose !== undefined,
    };
  });
}

/** Check the type and key of an actor route and the principal's right to `what` on it. */
async function admit<P>(ctx: HttpRoutesHost<P>, principal: P, id: ActorId, what: string): Promise<void> {
  if (ctx.silo.classOf(id.type) === undefined) throw new ActorTypeNotFoundError(id.type);
  validateKey(id.key);
  const pending = ctx.auth.authorize(principal, id.type, id.key, what);
  if (pending !== undefined) await pending;
}

async function status<P>(ctx: HttpRoutesHost<P>, res: ServerResponse, principal: P, id: ActorId): Promise<void> {
  await admit(ctx, principal, id, "@status");
  let body: Record<string, unknown>;
  // Asks the owner in a cluster (without activating anything), so any silo answers the same.
  const where = await ctx.silo.locate(id);
  if (where.active) body = { ...id, status: "active", silo: where.silo };
  else if ((await ctx.silo.store.load(id)) !== undefined) body = { ...id, status: "swapped" };
  else body = { ...id, status: "unknown" };
  sendJson(res, 200, toJson(body));
}

async function deactivate<P>(ctx: HttpRoutesHost<P>, res: ServerResponse, principal: P, id: ActorId): Promise<void> {
  await admit(ctx, principal, id, "@deactivate");
  const wasActive = await ctx.silo.deactivate(id);
  sendJson(res, 200, toJson({ ...id, deactivated: wasActive }));
}

async function deleteState<P>(ctx: HttpRoutesHost<P>, res: ServerResponse, principal: P, id: ActorId): Promise<void> {
  await admit(ctx, principal, id, "@deleteState");
  await ctx.silo.deleteState(id);
  sendJson(res, 200, toJson({ ...id, deleted: true }));
}

async function invoke<P>(
  ctx: HttpRoutesHost<P>,
  req: IncomingMessage,
  res: ServerResponse,
  principal: P,
  id: ActorId,
  method: string,
): Promise<void> {
  const args = await readArgs(req, ctx.limits);
  const timeoutMs = timeoutOf(req.url ?? "", ctx.limits.maxCallTimeoutMs);
  const pending = ctx.auth.authorize(principal, id.type, id.key, method);
  if (pending !== undefined) await pending;
  ctx.callStarted();
  try {
    const checked = ctx.validator.check(id.type, method, args);
    const target = ctx.targets.get(id.type, id.key, timeoutMs);
    const value = await ctx.silo.invokeRef(target, method, checked as unknown[]);
    sendJson(res, 200, toJson(value));
  } finally {
    ctx.callEnded();
  }
}

/** The JSON array of arguments in a request body (an empty body: none). */
async function readArgs(req: IncomingMessage, limits: GatewayLimits): Promise<unknown[]> {
  const args = await readJson(req, limits, []);
  if (!Array.isArray(args)) throw new ProtocolError("Request body must be a JSON array of the method's arguments");
  return args;
}

/** The JSON value of a request body, or `empty` when there is no body. */
async function readJson(req: IncomingMessage, limits: GatewayLimits, empty: unknown): Promise<unknown> {
  const body = await readBody(req, limits.maxBodyBytes);
  if (body.length === 0) return empty;
  checkJson(body, decodeLimitsOf(limits));
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new ProtocolError(`Request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `POST /v1/functions/:type/:method`: call a stateless worker type (authorized with key ""). */
async function invokeFunction<P>(
  ctx: HttpRoutesHost<P>,
  req: IncomingMessage,
  res: ServerResponse,
  principal: P,
  type: string,
  method: string,
): Promise<void> {
  const args = await readArgs(req, ctx.limits);
  const timeoutMs = timeoutOf(req.url ?? "", ctx.limits.maxCallTimeoutMs);
  const pending = ctx.auth.authorize(principal, type, "", method);
  if (pending !== undefined) await pending;
  ctx.callStarted();
  try {
    // Unknown type: ACTOR_TYPE_NOT_FOUND (404); a keyed type: INVALID_ARGUMENT (400).
    const target = ctx.targets.worker(ctx.silo, type, timeoutMs);
    const checked = ctx.validator.check(type, method, args);
    const value = await ctx.silo.invokeRef(target, method, checked as unknown[]);
    sendJson(res, 200, toJson(value));
  } finally {
    ctx.callEnded();
  }
}

/**
 * `POST /v1/actors/:type/:key/messages/:channel` with `{"data": …, "durable"?: bool}`:
 * put a message in the actor's inbox (authorized as "@send:<channel>"). 204 once it is there.
 */
async function sendMessage<P>(
  ctx: HttpRoutesHost<P>,
  req: IncomingMessage,
  res: ServerResponse,
  principal: P,
  id: ActorId,
  channel: string,
): Promise<void> {
  if (!isChannel(channel)) throw new ProtocolError(CHANNEL_RULE);
  const body = await readJson(req, ctx.limits, {});
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ProtocolError('Request body must be a JSON object: {"data": …, "durable"?: boolean}');
  }
  const { data, durable } = body as { data?: unknown; durable?: unknown };
  if (durable !== undefined && typeof durable !== "boolean") {
    throw new ProtocolError("Request body field durable must be a boolean");
  }
  const pending = ctx.auth.authorize(principal, id.type, id.key, sendPermission(channel));
  if (pending !== undefined) await pending;
  ctx.callStarted();
  try {
    // The silo checks the type (not stateless: INVALID_ARGUMENT), the key and the channel.
    await ctx.silo.send(id, channel, data, durable === true ? { durable: true } : undefined);
    res.writeHead(204);
    res.end();
  } finally {
    ctx.callEnded();
  }
}

/** `?timeoutMs=N`, clamped to the gateway's maximum. */
function timeoutOf(url: string, max: number): number | undefined {
  const q = url.indexOf("?");
  if (q < 0) return undefined;
  const raw = new URLSearchParams(url.slice(q + 1)).get("timeoutMs");
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new ProtocolError("Query parameter timeoutMs must be a positive number");
  return Math.min(n, max);
}

/** The request body, refusing (413) as soon as it is known to exceed `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (declared > max) return Promise.reject(new PayloadTooLargeError(declared, max));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > max) {
        failed = true;
        req.pause();
        reject(new PayloadTooLargeError(size, max));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (err) => {
      if (!failed) reject(err instanceof PraasError ? err : new ProtocolError(`Request body: ${err.message}`));
    });
  });
}
