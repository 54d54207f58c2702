import {
  type DecodeLimits,
  MAX_BIGNUM_BYTES,
  MAX_DECODE_DEPTH,
  OptionError,
  type OptionSpec,
  Options,
  readOption,
} from "@praas/core/internal";

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
  /**
   * Open connections, HTTP and WebSocket together (default 10,000; lowered
   * to fit the process's file descriptor limit, see `gateway.maxConnections`).
   * At the cap a new connection takes the place of the oldest one that holds
   * no request (still sending its headers, or idle between keep-alive
   * requests); when there is none it is answered 429 and closed.
   */
  readonly maxConnections: number;
  /** An HTTP request (or WebSocket upgrade) must have sent its headers within this long of connecting (default 10 s); else 408 and closed. */
  readonly headersTimeoutMs: number;
  /** … and its whole body within this long (default 30 s). */
  readonly requestTimeoutMs: number;
  /** Close an HTTP keep-alive connection idle for this long between requests (default 5 s). */
  readonly keepAliveTimeoutMs: number;
  /**
   * Values in one frame or request body, of any kind (default 131,072): bounds
   * the time decoding costs whatever the byte size (a number costs ~40 ns).
   */
  readonly maxFrameValues: number;
  /**
   * Strings, byte strings, arrays, maps and objects, Dates, bigints, Maps and
   * Sets in one frame or request body (default 32,768): each costs 2–5 times
   * a number to decode (a bignum counts one more per 8 bytes).
   */
  readonly maxFrameObjects: number;
  /**
   * Numbers and bigints used as Map keys or Set items in one frame (default
   * 1,024): V8 hashes numbers without a secret seed, so colliding keys make a
   * big Map quadratic to build.
   */
  readonly maxFrameNumericKeys: number;
  /**
   * Distinct keys of plain objects in one frame or request body (default
   * 4,096): a new key costs V8 about 25 times a number. Repeated field names
   * (an array of records) are not counted; send big dictionaries as a Map.
   */
  readonly maxFrameObjectKeys: number;
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

const limit = (doc: string, dflt: number): OptionSpec<number> => Options.integer({ min: 1, doc, default: dflt });

/** Every gateway limit described once: its default, its check and its help (see GatewayLimits for each). */
export const LIMIT_OPTIONS: { readonly [K in keyof GatewayLimits]: OptionSpec<number> } = {
  maxFrameBytes: limit("largest WebSocket frame accepted, bytes", 1024 * 1024),
  maxBodyBytes: limit("largest HTTP request body, bytes", 1024 * 1024),
  maxInFlightPerConnection: limit("calls one WebSocket connection may have running", 256),
  maxConnections: limit("open connections, HTTP and WebSocket together", 10_000),
  headersTimeoutMs: limit("time for a request's headers, ms", 10_000),
  requestTimeoutMs: limit("time for a whole request, ms", 30_000),
  keepAliveTimeoutMs: limit("idle time of a keep-alive connection, ms", 5_000),
  maxFrameValues: limit("values in one frame or request body", 131_072),
  maxFrameObjects: limit("strings, arrays, maps and other objects in one frame or body", 32_768),
  maxFrameNumericKeys: limit("numbers used as Map keys or Set items in one frame", 1024),
  maxFrameObjectKeys: limit("distinct keys of plain objects in one frame or body", 4096),
  maxSubscriptionsPerConnection: limit("subscriptions one connection may hold", 1000),
  idleTimeoutMs: limit("close a connection with nothing going on after this long, ms", 300_000),
  heartbeatMs: limit("ping every connection this often, ms", 30_000),
  maxCallTimeoutMs: limit("upper bound of a call's deadline, ms", 300_000),
  maxBufferedBytes: limit("bytes queued for one client before it is dropped as too slow", 16 * 1024 * 1024),
  maxBadFrames: limit("malformed frames tolerated per connection within 10 s", 100),
  replayEvents: limit("events each stream keeps for replay after a reconnect", 256),
  replayRetentionMs: limit("how long a stream keeps recording after its last subscriber left, ms", 30_000),
};

export const DEFAULT_LIMITS: GatewayLimits = Object.freeze(
  Object.fromEntries(Object.entries(LIMIT_OPTIONS).map(([name, spec]) => [name, spec.default])),
) as unknown as GatewayLimits;

/** Fill in defaults; a bad or unknown limit is an OptionError naming it (`limits.<name>`). */
export function resolveLimits(given: Partial<GatewayLimits> | undefined): GatewayLimits {
  if (given === undefined) return DEFAULT_LIMITS;
  if (typeof given !== "object" || given === null)
    throw new OptionError("limits", given, "Gateway limits must be an object");
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(given)) {
    const spec = (LIMIT_OPTIONS as Record<string, OptionSpec<number>>)[name];
    if (spec === undefined) {
      throw new OptionError(
        `limits.${name}`,
        value,
        `Unknown gateway limit "${name}"; known: ${Object.keys(LIMIT_OPTIONS).join(", ")}`,
      );
    }
    const checked = readOption(spec, `limits.${name}`, value, `Gateway limit ${name}`);
    if (checked !== undefined) out[name] = checked;
  }
  if ((out.headersTimeoutMs as number) > (out.requestTimeoutMs as number)) {
    throw new OptionError(
      "limits.headersTimeoutMs",
      out.headersTimeoutMs,
      "Gateway limit headersTimeoutMs must not exceed requestTimeoutMs",
    );
  }
  return out as unknown as GatewayLimits;
}

/** What decoding a client's frame or request body may cost under `limits`. */
export function decodeLimitsOf(limits: GatewayLimits): DecodeLimits {
  return {
    maxDepth: MAX_DECODE_DEPTH,
    maxBignumBytes: MAX_BIGNUM_BYTES,
    maxHashedNumbers: limits.maxFrameNumericKeys,
    maxItems: limits.maxFrameValues,
    maxHeapItems: limits.maxFrameObjects,
    maxObjectKeys: limits.maxFrameObjectKeys,
  };
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
