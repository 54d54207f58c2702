import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import {
  CLIENT_PROTOCOL_VERSION,
  CloseCode,
  OverloadedError,
  SiloStoppedError,
  serializeError,
} from "@praas/core/internal";
import { WebSocketServer } from "ws";
import type { Silo } from "../silo.js";
import { ClusterStats } from "../stats/cluster-stats.js";
import { SiloStats } from "../stats/collector.js";
import { Authenticator } from "./auth.js";
import { GatewayConnection } from "./connection.js";
import { ConnectionCap, connectionBudget, descriptorLimit } from "./connection-cap.js";
import { httpStatusOf, RouteNotFoundError } from "./errors.js";
import { EventStreams } from "./event-streams.js";
import { createHttpHandler } from "./http-routes.js";
import { GatewayMetrics } from "./metrics.js";
import { type GatewayOptions, resolveGatewayOptions } from "./options.js";
import { ArgsValidator } from "./schemas.js";
import { TargetCache } from "./targets.js";
import { helloFrame } from "./ws-protocol.js";

export interface Gateway {
  readonly host: string;
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  /** Base URL of the HTTP control plane, e.g. "http://127.0.0.1:7070". */
  readonly url: string;
  /** WebSocket endpoint for @praas/client, e.g. "ws://127.0.0.1:7070/ws". */
  readonly wsUrl: string;
  /** Connected WebSocket clients. */
  readonly connections: number;
  /**
   * The cap on open connections (HTTP and WebSocket together) in force:
   * `limits.maxConnections`, lowered when the process's file descriptor limit
   * (`ulimit -n`) would not leave a quarter of the descriptors (at least 128)
   * for everything else.
   */
  readonly maxConnections: number;
  /** Calls (WebSocket and HTTP) still running. */
  readonly inFlight: number;
  /** Is the gateway draining (readyz 503, no new work)? */
  readonly draining: boolean;
  /**
   * Graceful stop: refuse new connections and calls, wait for running calls
   * (up to `drainTimeoutMs`, default 10 s), then close every client connection
   * with 1001 (clients reconnect, to this silo or another) and the listener.
   * Does not stop the silo.
   */
  close(options?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

/**
 * Serve WebSocket clients (at `/ws`) and the HTTP control plane on one port.
 *
 * ```ts
 * const gw = await startGateway(silo, { port: 7070 });
 * console.log(gw.wsUrl, gw.url);
 * ```
 */
export async function startGateway<P = unknown>(silo: Silo, options?: GatewayOptions<P>): Promise<Gateway> {
  const o = resolveGatewayOptions(options);
  const limits = o.limits;
  const auth = new Authenticator<P>({ authenticate: o.authenticate, authorize: o.authorize, token: o.token });
  const validator = new ArgsValidator(silo);
  const targets = new TargetCache();
  const streams = new EventStreams(silo, limits.replayEvents, limits.replayRetentionMs);
  const connections = new Set<GatewayConnection<P>>();

  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const callStarted = () => {
    inFlight++;
  };
  const callEnded = () => {
    if (--inFlight === 0) drained?.();
  };

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Frames up to twice the limit are read and refused with an error reply (the
    // connection stays usable); only beyond that does ws close it (1009).
    maxPayload: limits.maxFrameBytes * 2,
  });

  const cap = new ConnectionCap(connectionBudget(limits.maxConnections, descriptorLimit()));
  const metrics = o.metrics
    ? new GatewayMetrics(
        silo,
        () => connections.size,
        () => cap,
      )
    : undefined;
  // The dashboard reads the call metrics: it is served when they are (like /metrics).
  const siloStats = metrics === undefined ? undefined : new SiloStats(silo, metrics.calls);
  const dashboard = siloStats === undefined ? undefined : new ClusterStats(silo);
  const server: Server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this interval (30 s by default, far too coarse).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    createHttpHandler<P>({
      silo,
      limits,
      auth,
      validator,
      targets,
      metrics,
      dashboard,
      fallback: o.fallback,
      draining: () => draining,
      callStarted,
      callEnded,
    }),
  );
  cap.attach(server);
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // Headers or body not complete within headersTimeoutMs / requestTimeoutMs: 408.
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\n\r\n`, () => socket.destroy());
    else socket.destroy();
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    void (async () => {
      const q = (req.url ?? "/").indexOf("?");
      const path = q < 0 ? req.url : req.url?.slice(0, q);
      if (path !== o.wsPath) throw new RouteNotFoundError("GET", path ?? "/");
      if (draining) throw new SiloStoppedError();
      if (connections.size >= cap.max) throw new OverloadedError(`At most ${cap.max} client connections`);
      const principal = await auth.authenticate(req, true);
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Checked again: other upgrades may have completed while this one authenticated.
        if (draining) {
          ws.close(CloseCode.GOING_AWAY, "draining");
          return;
        }
        const conn = new GatewayConnection<P>(ws, principal, {
          silo,
          limits,
          auth,
          validator,
          targets,
          streams,
          metrics,
          draining: () => draining,
          callStarted,
          callEnded,
          closed: (c) => connections.delete(c),
        });
        connections.add(conn);
        conn.send(
          helloFrame(
            silo.siloId,
            CLIENT_PROTOCOL_VERSION,
            limits.maxFrameBytes,
            limits.maxInFlightPerConnection,
            Math.min(silo.callTimeoutMs, limits.maxCallTimeoutMs),
          ),
        );
      });
    })().catch((err: unknown) => refuseUpgrade(socket, err));
  });

  // One sweep for all connections: idle timeout and heartbeat.
  const sweepEvery = Math.max(10, Math.min(limits.heartbeatMs, Math.floor(limits.idleTimeoutMs / 4)));
  let lastHeartbeat = Date.now();
  const sweeper = setInterval(() => {
    const now = Date.now();
    const beat = now - lastHeartbeat >= limits.heartbeatMs;
    if (beat) lastHeartbeat = now;
    for (const c of connections) {
      if (c.idle && now - c.lastFrameAt >= limits.idleTimeoutMs) {
        c.close(CloseCode.IDLE, "idle timeout");
        continue;
      }
      if (!beat) continue;
      if (!c.alive) c.terminate();
      else c.ping();
    }
  }, sweepEvery);
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch((err: unknown) => {
    // Not listening: let go of the silo's events and silo-request handlers.
    siloStats?.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = o.host.includes(":") ? `[${o.host}]` : o.host;

  let closing: Promise<void> | undefined;
  const close = async (drainTimeoutMs: number): Promise<void> => {
    draining = true;
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        setTimeout(resolve, drainTimeoutMs).unref();
      });
    }
    clearInterval(sweeper);
    const closedAll = [...connections].map(
      (c) =>
        new Promise<void>((resolve) => {
          c.onClosed(resolve);
          c.close(CloseCode.GOING_AWAY, "gateway shutting down");
        }),
    );
    // A peer that does not complete the close handshake is cut after a short wait.
    const cut = setTimeout(() => {
      for (const c of connections) c.terminate();
    }, 1000);
    await Promise.all(closedAll);
    clearTimeout(cut);
    streams.close();
    metrics?.close();
    siloStats?.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };

  return {
    host: o.host,
    port,
    url: `http://${hostInUrl}:${port}`,
    wsUrl: `ws://${hostInUrl}:${port}${o.wsPath}`,
    get connections() {
      return connections.size;
    },
    maxConnections: cap.max,
    get inFlight() {
      return inFlight;
    },
    get draining() {
      return draining;
    },
    close(options) {
      closing ??= close(options?.drainTimeoutMs ?? 10_000);
      return closing;
    },
  };
}

/** Answer a refused upgrade with a plain HTTP response (the WebSocket never opens). */
function refuseUpgrade(socket: Duplex, err: unknown): void {
  if (socket.destroyed) return;
  const e = serializeError(err);
  const status = httpStatusOf(e.code);
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  const extra = status === 401 ? "www-authenticate: Bearer\r\n" : "";
  socket.end(
    `HTTP/1.1 ${status} ${statusText(status)}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`,
  );
}

function statusText(status: number): string {
  switch (status) {
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}
