/**
 * The `cluster` option of `Silo.start`: checked once, defaults filled in.
 */
import {
  InvalidArgumentError,
  type MembershipProvider,
  OptionError,
  type OptionSpec,
  Options,
  readOption,
  showValue,
} from "@praas/core/internal";
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

/**
 * The cluster settings given as plain values, by their path under the
 * `cluster` option: defaults, checks and descriptions (`praas start` builds
 * its cluster flags from these).
 */
export const CLUSTER_OPTIONS = {
  "listen.host": Options.text({
    doc: "silo-to-silo listener interface",
    default: "127.0.0.1",
    expected: "a host",
  }),
  "listen.port": Options.integer({
    doc: "silo-to-silo listener port; 0: any free one",
    min: 0,
    max: 65_535,
    default: 0,
  }),
  advertise: Options.hostPort({
    doc: "address other silos dial (required when listening on 0.0.0.0 or ::)",
    defaultText: "the bound host and port",
  }),
  maxHops: Options.integer({ doc: "how often a call may be forwarded between silos", min: 0, max: 16, default: 3 }),
  drainTimeoutMs: Options.integer({
    doc: "longest a graceful stop waits for peers and in-flight calls",
    min: 1,
    max: 3_600_000,
    default: 10_000,
  }),
  rejoinTimeoutMs: Options.integer({
    doc: "longest the silo may be out of the cluster before it stops; 0: stop as soon as evicted",
    min: 0,
    max: 86_400_000,
    defaultText: "keeps trying for ever",
  }),
  "transport.maxFrameBytes": Options.integer({
    doc: "largest frame between silos, in bytes",
    min: 4096,
    max: 2 ** 31 - 1,
    default: 64 * 1024 * 1024,
  }),
  "transport.highWaterBytes": Options.integer({
    doc: "stop writing to a peer while its socket buffers more than this",
    min: 1,
    max: 2 ** 31 - 1,
    default: 4 * 1024 * 1024,
  }),
  "transport.maxQueued": Options.integer({
    doc: "calls queued for one peer beyond which new ones fail",
    min: 1,
    max: 10_000_000,
    default: 65_536,
  }),
  "transport.pingIntervalMs": Options.integer({
    doc: "ping idle connections this often; a peer silent for two intervals is cut off",
    min: 10,
    max: 3_600_000,
    default: 5_000,
  }),
  "transport.handshakeTimeoutMs": Options.integer({
    doc: "a connection must authenticate within this long",
    min: 10,
    max: 600_000,
    default: 5_000,
  }),
  "transport.backoffMs": Options.integer({
    doc: "first redial delay after a failed dial, doubled per failure",
    min: 1,
    max: 60_000,
    default: 50,
  }),
  "transport.maxBackoffMs": Options.integer({
    doc: "longest redial delay (at least transport.backoffMs)",
    min: 1,
    max: 600_000,
    defaultText: "max(2000, transport.backoffMs)",
  }),
} as const;

type ClusterOptionPath = keyof typeof CLUSTER_OPTIONS;

/** The value at `path` checked against its description (an OptionError naming `cluster.<path>`), or its default. */
function read<P extends ClusterOptionPath>(
  path: P,
  value: unknown,
): (typeof CLUSTER_OPTIONS)[P] extends OptionSpec<infer T> ? T | undefined : never {
  return readOption(CLUSTER_OPTIONS[path] as OptionSpec<unknown>, `cluster.${path}`, value) as never;
}

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

/**
 * Check the cluster option and fill in defaults. The library reads no
 * environment variable: `praas start` reads `$PRAAS_CLUSTER_SECRET` and passes
 * the secret, and so does a program that starts silos itself.
 */
export function resolveClusterOptions(o: ClusterOptions): ResolvedClusterOptions {
  if (typeof o !== "object" || o === null) throw new OptionError("cluster", o, "Silo option cluster must be an object");
  if (typeof o.name !== "string" || o.name.length === 0 || o.name.length > 256) {
    throw new OptionError(
      "cluster.name",
      o.name,
      `cluster.name must be a non-empty string of at most 256 characters, got ${showValue(o.name)}`,
    );
  }
  if (!isProvider(o.membership)) {
    throw new OptionError(
      "cluster.membership",
      o.membership,
      "cluster.membership must be a membership provider (e.g. redisMembership({ url }))",
    );
  }
  const host = read("listen.host", o.listen?.host) as string;
  const port = read("listen.port", o.listen?.port) as number;
  const advertise = read("advertise", o.advertise);
  if (advertise === undefined && (host === "0.0.0.0" || host === "::")) {
    throw new OptionError(
      "cluster.advertise",
      undefined,
      `cluster.advertise ("host:port" peers dial) is required when listening on ${host}`,
    );
  }
  const t = o.transport ?? {};
  const backoffMs = read("transport.backoffMs", t.backoffMs) as number;
  const maxBackoffMs = read("transport.maxBackoffMs", t.maxBackoffMs) ?? Math.max(2_000, backoffMs);
  if (maxBackoffMs < backoffMs) {
    throw new OptionError(
      "cluster.transport.maxBackoffMs",
      maxBackoffMs,
      `cluster.transport.maxBackoffMs must be at least cluster.transport.backoffMs (${backoffMs}), got ${maxBackoffMs}`,
    );
  }
  return {
    name: o.name,
    membership: o.membership,
    host,
    port,
    advertise,
    secret: clusterSecret(o),
    maxHops: read("maxHops", o.maxHops) as number,
    drainTimeoutMs: read("drainTimeoutMs", o.drainTimeoutMs) as number,
    rejoinTimeoutMs: read("rejoinTimeoutMs", o.rejoinTimeoutMs),
    limits: {
      maxFrameBytes: read("transport.maxFrameBytes", t.maxFrameBytes) as number,
      highWaterBytes: read("transport.highWaterBytes", t.highWaterBytes) as number,
      maxQueued: read("transport.maxQueued", t.maxQueued) as number,
      maxEnvelopesPerFrame: 4096,
      pingIntervalMs: read("transport.pingIntervalMs", t.pingIntervalMs) as number,
      handshakeTimeoutMs: read("transport.handshakeTimeoutMs", t.handshakeTimeoutMs) as number,
    },
    backoffMs,
    maxBackoffMs,
    inProcess: o.inProcess,
  };
}

/** The secret as bytes; a refused one is an OptionError on `cluster.secret` (front ends map it to their setting). */
function clusterSecret(o: ClusterOptions): Uint8Array {
  try {
    return resolveSecret(o.secret, o.membership.localSecret?.());
  } catch (err) {
    if (err instanceof InvalidArgumentError && !(err instanceof OptionError)) {
      throw new OptionError("cluster.secret", o.secret === undefined ? undefined : "***", err.message);
    }
    throw err;
  }
}

/** "host:port" for a bound address (IPv6 hosts in brackets). */
export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
