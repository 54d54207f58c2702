import { InvalidArgumentError } from "@praas/core";

/**
 * Resource limits of a gateway. Every queue and buffer a client can grow has one
 * here, so a misbehaving client costs a bounded amount of memory.
 */
export interface GatewayLimits {
  /** Largest WebSocket frame accepted (default 1 MiB). Frames up to twice this get an error reply; bigger ones close the connection (1009). */
  readonly maxFrameBytes: number;
  /** Largest HTTP request body (default 1 MiB); bigger is 413. */
  readonly maxBodyBytes: number;
  /** Calls one WebSocket connection may have running (default 256); past this the gateway stops reading from it. */
  readonly maxInFlightPerConnection: number;
  /** Open WebSocket connections (default 10,000); past this upgrades get 429. */
  readonly maxConnections: number;
  /** Subscriptions one connection may hold (default 1,000). */
  readonly maxSubscriptionsPerConnection: number;
  /** Close a connection with no frame, no subscription and nothing in flight for this long (default 5 min). */
  readonly idleTimeoutMs: number;
  /** Ping every connection this often; one that missed the previous pong is dropped (default 30 s). */
  readonly heartbeatMs: number;
  /** Upper bound of a call's deadline; larger `timeoutMs` are clamped (default 5 min). */
  readonly maxCallTimeoutMs: number;
  /** Bytes queued for sending to one client before it is dropped as too slow (default 16 MiB). */
  readonly maxBufferedBytes: number;
  /** Malformed frames tolerated per connection within 10 s before it is closed (default 100). */
  readonly maxBadFrames: number;
  /** Events each stream (actor + event name) keeps for replay after a reconnect (default 256). */
  readonly replayEvents: number;
  /** How long a stream keeps recording after its last subscriber dropped (default 30 s). */
  readonly replayRetentionMs: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxFrameBytes: 1024 * 1024,
  maxBodyBytes: 1024 * 1024,
  maxInFlightPerConnection: 256,
  maxConnections: 10_000,
  maxSubscriptionsPerConnection: 1000,
  idleTimeoutMs: 300_000,
  heartbeatMs: 30_000,
  maxCallTimeoutMs: 300_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxBadFrames: 100,
  replayEvents: 256,
  replayRetentionMs: 30_000,
};

/** Fill in defaults; a bad or unknown limit is an InvalidArgumentError naming it. */
export function resolveLimits(given: Partial<GatewayLimits> | undefined): GatewayLimits {
  if (given === undefined) return DEFAULT_LIMITS;
  if (typeof given !== "object" || given === null) throw new InvalidArgumentError("Gateway limits must be an object");
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(given)) {
    if (!(name in DEFAULT_LIMITS)) {
      throw new InvalidArgumentError(
        `Unknown gateway limit "${name}"; known: ${Object.keys(DEFAULT_LIMITS).join(", ")}`,
      );
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`Gateway limit ${name} must be a positive integer, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  return out as unknown as GatewayLimits;
}

/**
 * Counts malformed frames in a sliding 10 s window: a client with a bug gets
 * error replies, a client flooding garbage gets disconnected.
 */
export class BadFrameCounter {
  #count = 0;
  #windowStart = 0;
  constructor(readonly max: number) {}

  /** Record one bad frame; true when the connection is over the limit. */
  hit(now: number): boolean {
    if (now - this.#windowStart > 10_000) {
      this.#windowStart = now;
      this.#count = 0;
    }
    return ++this.#count > this.max;
  }
}
