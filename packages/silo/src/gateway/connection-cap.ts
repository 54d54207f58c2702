import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * The soft limit on open file descriptors of this process (`ulimit -n`), from
 * /proc/self/limits; undefined where that file does not exist or says
 * "unlimited" (Node has no getrlimit).
 */
export function descriptorLimit(read: (path: string) => string = (p) => readFileSync(p, "utf8")): number | undefined {
  let text: string;
  try {
    text = read("/proc/self/limits");
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (m === null || m[1] === "unlimited") return undefined;
  return Number(m[1]);
}

/**
 * Connections a gateway may hold given a descriptor limit: a quarter of the
 * descriptors (at least 128) stay free for files, stores and other silos.
 */
export function connectionBudget(configured: number, fdLimit: number | undefined): number {
  if (fdLimit === undefined) return configured;
  return Math.max(1, Math.min(configured, fdLimit - Math.max(128, Math.floor(fdLimit / 4))));
}

const REFUSAL_BODY = JSON.stringify({
  error: { code: "OVERLOADED", message: "The gateway holds as many connections as it may; retry later" },
});
const REFUSAL =
  "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n" +
  `content-length: ${Buffer.byteLength(REFUSAL_BODY)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${REFUSAL_BODY}`;

/**
 * One cap over every connection of a gateway's server, HTTP and WebSocket
 * alike. At the cap a new connection takes the place of the oldest one that
 * holds no request — still sending its headers, or idle between keep-alive
 * requests — so sockets that never finish their headers (slowloris) cannot
 * keep a real client out; with none to displace, the newcomer gets 429.
 */
export class ConnectionCap {
  readonly max: number;
  readonly #sockets = new Set<Socket>();
  /** Sockets holding no request, oldest first (a Set keeps insertion order). */
  readonly #idle = new Set<Socket>();
  /** Connections closed to make room, and connections refused. */
  displaced = 0;
  refused = 0;

  constructor(max: number) {
    this.max = max;
  }

  get open(): number {
    return this.#sockets.size;
  }

  /** Track `server`'s connections (call before it listens). */
  attach(server: Server): void {
    server.on("connection", (socket: Socket) => this.#accept(socket));
    server.on("request", (req, res) => {
      const socket = req.socket;
      this.#idle.delete(socket);
      res.once("finish", () => {
        // Keep-alive: idle again until the next request's headers (re-added as the newest).
        if (!socket.destroyed) this.#idle.add(socket);
      });
    });
    server.on("upgrade", (req) => {
      this.#idle.delete(req.socket);
    });
  }

  #accept(socket: Socket): void {
    if (this.#sockets.size >= this.max) {
      const oldest = this.#idle.values().next();
      if (oldest.done === true) {
        this.refused++;
        socket.end(REFUSAL, () => socket.destroy());
        return;
      }
      this.#drop(oldest.value);
      this.displaced++;
      oldest.value.destroy();
    }
    this.#sockets.add(socket);
    this.#idle.add(socket);
    socket.once("close", () => this.#drop(socket));
  }

  #drop(socket: Socket): void {
    this.#sockets.delete(socket);
    this.#idle.delete(socket);
  }
}
