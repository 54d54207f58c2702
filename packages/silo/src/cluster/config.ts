/**
 * The `cluster` option of `Silo.start`: checked once, defaults filled in.
 */
import { InvalidArgumentError, type MembershipProvider } from "@praas/core";
import type { WebSocket } from "ws";
import { resolveSecret } from "./auth.js";
import type { ConnectionLimits } from "./peer-connection.js";

export interface ClusterTransportOptions {
  /** Largest frame between silos, in bytes (default 64 MiB); a bigger call fails with CodecError. */
  readonly maxFrameBytes?: number;
  /** Stop writing to a peer while its socket buffers more than this (default 4 MiB). */
  readonly highWaterBytes?: number;
  /** Calls queued for one peer beyond which new ones fail with SiloUnavailableError (default 65,536). */
  readonly maxQueued?: number;
  /** Ping idle connections this often; a peer silent for two intervals is cut off (default 5 s). */
  readonly pingIntervalMs?: number;
  /** A connection must authenticate within this long (default 5 s). */
  readonly handshakeTimeoutMs?: number;
  /** First redial delay after a failed dial, doubled per failure (default 50 ms) … */
  readonly backoffMs?: number;
  /** … up to this (default 2 s). */
  readonly maxBackoffMs?: number;
}

export interface ClusterOptions {
  /** Name of the cluster; silos of another cluster cannot connect even with the same secret. */
  readonly name: string;
  /** Who is in the cluster (`redisMembership({ url })`, or `memoryMembership(registry)` in one process). */
  readonly membership: MembershipProvider;
  /** Where the silo-to-silo listener binds (default 127.0.0.1, any free port). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** "host:port" other silos dial (default: the bound host and port; required when binding 0.0.0.0 or ::). */
  readonly advertise?: string;
  /**
   * Shared secret every silo proves before any call is accepted (default
   * `$PRAAS_CLUSTER_SECRET`). Required, on loopback too, unless the membership
   * is in-process (memoryMembership), whose silos share a random one.
   */
  readonly secret?: string;
  /** How often a call may be forwarded between silos whose views disagree (default 3). */
  readonly maxHops?: number;
  /** Longest a graceful stop waits for peers and in-flight calls (default 10 s). */
  readonly drainTimeoutMs?: number;
  /**
   * Longest this silo may be out of the cluster — its membership lease
   * expired, or it was evicted and has not rejoined — before it gives up and
   * stops (event `membershipLost`). 0: never rejoin, stop as soon as evicted.
   * Default: it keeps trying for ever.
   */
  readonly rejoinTimeoutMs?: number;
  readonly transport?: ClusterTransportOptions;
  /**
   * For in-process test clusters (`TestCluster` of `@praas/testing`): silo
   * connections over an in-memory network instead of TCP, and a chosen silo id
   * (so that placement, which hashes ids, is the same in every run).
   */
  readonly inProcess?: InProcessClusterHooks;
}

/**
 * Opens silo-to-silo connections without sockets. The sockets it hands out
 * behave like `ws` WebSockets (binary messages, close codes, ping/pong).
 */
export interface SiloConnector {
  /** Accept connections for silo `siloId`; resolves with the address peers dial and how to stop. */
  listen(
    siloId: string,
    accept: (socket: WebSocket) => void,
  ): Promise<{ readonly host: string; readonly port: number; close(): Promise<void> }>;
  /** A connection from silo `fromId` to `address` (it closes with 1006 if nobody listens there). */
  dial(fromId: string, address: string): WebSocket;
  /** Random numbers in [0, 1) for redial jitter (default Math.random): seeded, a run replays. */
  random?(): number;
}

export interface InProcessClusterHooks {
  readonly connector?: SiloConnector;
  /** Id of the first incarnation (default: `silo-` and 8 random hex digits). */
  readonly siloId?: string;
}

export interface ResolvedClusterOptions {
  readonly name: string;
  readonly membership: MembershipProvider;
  readonly host: string;
  readonly port: number;
  readonly advertise: string | undefined;
  readonly secret: Uint8Array;
  readonly maxHops: number;
  readonly drainTimeoutMs: number;
  readonly rejoinTimeoutMs: number | undefined;
  readonly limits: ConnectionLimits;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly inProcess: InProcessClusterHooks | undefined;
}

function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`cluster.${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

function isProvider(m: unknown): m is MembershipProvider {
  if (typeof m !== "object" || m === null) return false;
  const p = m as Record<string, unknown>;
  return (
    ["join", "view", "onChange", "onEvicted", "leaseValidUntil", "leave", "close"].every(
      (k) => typeof p[k] === "function",
    ) &&
    typeof p.clock === "object" &&
    p.clock !== null
  );
}

export function resolveClusterOptions(o: ClusterOptions, env: NodeJS.ProcessEnv = process.env): ResolvedClusterOptions {
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("Silo option cluster must be an object");
  if (typeof o.name !== "string" || o.name.length === 0 || o.name.length > 256) {
    throw new InvalidArgumentError("cluster.name must be a non-empty string of at most 256 characters");
  }
  if (!isProvider(o.membership)) {
    throw new InvalidArgumentError("cluster.membership must be a membership provider (e.g. redisMembership({ url }))");
  }
  const host = o.listen?.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0)
    throw new InvalidArgumentError("cluster.listen.host must be a host");
  const port = int("listen.port", o.listen?.port, 0, 0, 65_535);
  if (o.advertise !== undefined && (typeof o.advertise !== "string" || !HOST_PORT.test(o.advertise))) {
    throw new InvalidArgumentError(`cluster.advertise must be "host:port", got ${JSON.stringify(o.advertise)}`);
  }
  if (o.advertise === undefined && (host === "0.0.0.0" || host === "::")) {
    throw new InvalidArgumentError(`cluster.advertise ("host:port" peers dial) is required when listening on ${host}`);
  }
  const t = o.transport ?? {};
  const pingIntervalMs = int("transport.pingIntervalMs", t.pingIntervalMs, 5_000, 10, 3_600_000);
  const backoffMs = int("transport.backoffMs", t.backoffMs, 50, 1, 60_000);
  return {
    name: o.name,
    membership: o.membership,
    host,
    port,
    advertise: o.advertise,
    secret: resolveSecret(o.secret, env.PRAAS_CLUSTER_SECRET, o.membership.localSecret?.()),
    maxHops: int("maxHops", o.maxHops, 3, 0, 16),
    drainTimeoutMs: int("drainTimeoutMs", o.drainTimeoutMs, 10_000, 1, 3_600_000),
    rejoinTimeoutMs:
      o.rejoinTimeoutMs === undefined ? undefined : int("rejoinTimeoutMs", o.rejoinTimeoutMs, 0, 0, 86_400_000),
    limits: {
      maxFrameBytes: int("transport.maxFrameBytes", t.maxFrameBytes, 64 * 1024 * 1024, 4096, 2 ** 31 - 1),
      highWaterBytes: int("transport.highWaterBytes", t.highWaterBytes, 4 * 1024 * 1024, 1, 2 ** 31 - 1),
      maxQueued: int("transport.maxQueued", t.maxQueued, 65_536, 1, 10_000_000),
      maxEnvelopesPerFrame: 4096,
      pingIntervalMs,
      handshakeTimeoutMs: int("transport.handshakeTimeoutMs", t.handshakeTimeoutMs, 5_000, 10, 600_000),
    },
    backoffMs,
    maxBackoffMs: int("transport.maxBackoffMs", t.maxBackoffMs, Math.max(2_000, backoffMs), backoffMs, 600_000),
    inProcess: o.inProcess,
  };
}

/** "host:port" for a bound address (IPv6 hosts in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
