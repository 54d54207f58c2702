/**
 * The WebSocket the client runs on: the platform's global WebSocket where it
 * exists (browsers, Deno, Node ≥ 22), the `ws` package otherwise (Node 20).
 * `ws` is loaded with a dynamic import that bundlers do not follow, so the
 * browser path never pulls in a Node-only module.
 */
import { deserializeError, PraasError } from "@praas/core/internal";

/** The slice of the standard WebSocket API the client uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface SocketEvents {
  open(): void;
  message(data: Uint8Array): void;
  /** Called exactly once. `refused`: the server answered the upgrade with an error (e.g. 401). */
  close(code: number, reason: string, refused: PraasError | undefined): void;
}

export interface ClientSocket {
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  readonly bufferedAmount: number;
}

export type SocketFactory = (url: string, token: string | undefined, events: SocketEvents) => ClientSocket;

/** Pick the socket implementation once per client. */
export async function socketFactory(custom: WebSocketConstructor | undefined): Promise<SocketFactory> {
  if (custom !== undefined) return standardFactory(custom);
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined) return standardFactory(global);
  return wsFactory(await loadWs());
}

/** Browsers cannot set headers on a WebSocket: the token goes in the query. */
function withToken(url: string, token: string | undefined): string {
  if (token === undefined) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

function standardFactory(Ctor: WebSocketConstructor): SocketFactory {
  return (url, token, events) => {
    const ws = new Ctor(withToken(url, token));
    ws.binaryType = "arraybuffer";
    let closed = false;
    ws.onopen = () => events.open();
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (d instanceof ArrayBuffer) events.message(new Uint8Array(d));
      else if (d instanceof Uint8Array) events.message(d);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (closed) return;
      closed = true;
      events.close(ev.code, ev.reason, undefined);
    };
    return ws;
  };
}

// ---- Node: the ws package ----

interface WsResponse {
  readonly statusCode?: number;
  on(event: "data", fn: (chunk: Uint8Array) => void): void;
  on(event: "end" | "error", fn: () => void): void;
}
interface WsSocket {
  readonly bufferedAmount: number;
  on(event: "open", fn: () => void): void;
  on(event: "message", fn: (data: Uint8Array, isBinary: boolean) => void): void;
  on(event: "close", fn: (code: number, reason: Uint8Array) => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  on(event: "unexpected-response", fn: (req: { destroy(): void }, res: WsResponse) => void): void;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}
type WsConstructor = new (
  url: string,
  options: { headers?: Record<string, string>; perMessageDeflate: boolean; maxPayload?: number },
) => WsSocket;

let wsModule: Promise<WsConstructor> | undefined;

function loadWs(): Promise<WsConstructor> {
  // A variable specifier keeps bundlers from resolving "ws" for the browser.
  const specifier = "ws";
  wsModule ??= (import(/* @vite-ignore */ /* webpackIgnore: true */ specifier) as Promise<{ default: WsConstructor }>)
    .then((m) => m.default)
    .catch(() => {
      throw new PraasError(
        "NO_WEBSOCKET",
        "No global WebSocket and the ws package is not installed: npm install ws, or pass options.WebSocket",
      );
    });
  return wsModule;
}

function wsFactory(Ws: WsConstructor): SocketFactory {
  const decoder = new TextDecoder();
  return (url, token, events) => {
    const ws = new Ws(url, {
      headers: token === undefined ? undefined : { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    let closed = false;
    const finish = (code: number, reason: string, refused: PraasError | undefined) => {
      if (closed) return;
      closed = true;
      events.close(code, reason, refused);
    };
    ws.on("open", () => events.open());
    ws.on("message", (data, isBinary) => {
      if (isBinary) events.message(data);
    });
    ws.on("close", (code, reason) => finish(code, decoder.decode(reason), undefined));
    ws.on("error", (err) => finish(1006, err.message, undefined));
    // The gateway refuses an upgrade with an HTTP status and a JSON error body: read it for a typed error.
    ws.on("unexpected-response", (req, res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c) => chunks.push(c));
      const done = () => {
        req.destroy();
        finish(1006, `HTTP ${res.statusCode}`, refusal(res.statusCode ?? 0, chunks, decoder));
      };
      res.on("end", done);
      res.on("error", done);
    });
    return ws;
  };
}

function refusal(status: number, chunks: Uint8Array[], decoder: TextDecoder): PraasError {
  let code = status === 401 ? "UNAUTHENTICATED" : `HTTP_${status}`;
  let message = `Upgrade refused with HTTP ${status}`;
  try {
    const body = JSON.parse(decoder.decode(concat(chunks))) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not our JSON: keep the status.
  }
  // Registered codes (UNAUTHENTICATED, OVERLOADED, SILO_STOPPED…) come back as their own classes.
  return deserializeError({ name: "PraasError", code, message, retryable: status === 429 || status === 503 });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
