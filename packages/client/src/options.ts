/**
 * What a user may set on a client (ClientOptions, ReconnectOptions, the
 * options of `send`), and the one place they are checked and defaulted.
 */
import {
  consoleLog,
  type LogFunction,
  type OptionSpec,
  Options,
  readOption,
  type SendOptions,
} from "@praas/core/internal";
import type { ConnectionSettings } from "./connection.js";
import type { SocketFactory, WebSocketConstructor } from "./websocket.js";

export interface ClientOptions {
  /** Bearer token (a header in Node with `ws`; the `token` query parameter with a standard WebSocket). */
  readonly token?: string;
  /**
   * Default deadline of a call, ms; per reference: `client.ref(T, key, { timeoutMs })`.
   * Unset: the silo's own call timeout applies (announced when the client
   * connects; 30 s until then).
   */
  readonly timeoutMs?: number;
  /** How long the first connection may take (default 10 s). */
  readonly connectTimeoutMs?: number;
  /**
   * A call that times out on a connection from which nothing at all has
   * arrived for this long (default 10 s) means the connection is dead without
   * anyone having said so (a network cut TCP has not noticed yet: it would
   * keep retransmitting into it for minutes): the client drops it and the
   * next call connects afresh.
   */
  readonly deadAfterSilenceMs?: number;
  /** Reconnect with exponential backoff and jitter (default on); false: stay disconnected. */
  readonly reconnect?: ReconnectOptions | false;
  /** Calls that may wait for a connection or for room under the gateway's in-flight limit (default 1,000). */
  readonly maxQueuedCalls?: number;
  /** A WebSocket implementation to use instead of the global one or `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Where an "error" event nobody listens to goes (default: a line on stderr via `consoleLog`). */
  readonly log?: LogFunction;
}

/**
 * Options of `client.send`: durability, and the deadline for the gateway's
 * answer (sent along: it also bounds a durable send's retries on the silo,
 * which pace them by the silo's policy).
 */
export interface ClientSendOptions extends Omit<SendOptions, "retry" | "timeoutMs"> {
  /** Deadline in ms (default: the reference's, else the client's `timeoutMs`). */
  readonly timeoutMs?: number;
}

/**
 * How the client reconnects after a connection drops: the pause before
 * reconnect attempt n is core's `retryDelay` with this as its `RetryPolicy`
 * (full jitter: uniform in [0, min(maxDelayMs, initialDelayMs · 2^(n-1))]), so
 * that many clients cut off by the same failure do not all come back at once.
 * Unlike `RetryPolicy.maxAttempts`, which counts the first try, `maxAttempts`
 * here counts reconnect attempts only (the lost connection was the first try).
 */
export interface ReconnectOptions {
  /** Upper bound of the first pause (default 100 ms). */
  readonly initialDelayMs?: number;
  /** Upper bound of any pause (default 5 s). */
  readonly maxDelayMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  readonly maxAttempts?: number;
}

/** The options of a client, checked and defaulted. */
export interface ResolvedOptions {
  /** The deadline the user set for every call, if any. */
  readonly timeoutMs: number | undefined;
  readonly maxQueuedCalls: number;
  readonly log: LogFunction;
  readonly connection: ConnectionSettings;
}

/**
 * The client's plain-value options described once (default, check, help), as
 * the silo's and the CLI's are (core's option descriptions).
 */
export const CLIENT_OPTIONS = {
  timeoutMs: Options.positiveNumber({ doc: "deadline of every call, ms", defaultText: "the silo's call timeout" }),
  connectTimeoutMs: Options.positiveNumber({ doc: "how long the first connection may take, ms", default: 10_000 }),
  deadAfterSilenceMs: Options.positiveNumber({
    doc: "a call timing out on a connection silent this long drops it, ms",
    default: 10_000,
  }),
  maxQueuedCalls: Options.positiveNumber({ doc: "calls that may wait for a connection or room", default: 1000 }),
  "reconnect.initialDelayMs": Options.positiveNumber({
    doc: "upper bound of the first reconnect pause, ms",
    default: 100,
  }),
  "reconnect.maxDelayMs": Options.positiveNumber({ doc: "upper bound of any reconnect pause, ms", default: 5000 }),
  "reconnect.maxAttempts": {
    expected: "a positive number (Infinity: never give up)",
    doc: "reconnect attempts in a row before giving up",
    default: Number.POSITIVE_INFINITY,
    defaultText: "never give up",
    accept: (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined),
  } satisfies OptionSpec<number>,
} as const;

function read(name: keyof typeof CLIENT_OPTIONS, value: unknown): number | undefined {
  return readOption(CLIENT_OPTIONS[name], name, value, `Client option ${name}`);
}

/** Check and default a client's options; throws an OptionError (an InvalidArgumentError) naming the first bad one. */
export function resolveOptions(url: string, options: ClientOptions, factory: SocketFactory): ResolvedOptions {
  const timeoutMs = read("timeoutMs", options.timeoutMs);
  const connectTimeoutMs = read("connectTimeoutMs", options.connectTimeoutMs) as number;
  const deadAfterSilenceMs = read("deadAfterSilenceMs", options.deadAfterSilenceMs) as number;
  const maxQueuedCalls = read("maxQueuedCalls", options.maxQueuedCalls) as number;
  const r = options.reconnect;
  const reconnect =
    r === false
      ? false
      : {
          initialDelayMs: read("reconnect.initialDelayMs", r?.initialDelayMs) as number,
          maxDelayMs: read("reconnect.maxDelayMs", r?.maxDelayMs) as number,
          maxAttempts: read("reconnect.maxAttempts", r?.maxAttempts) as number,
        };
  return {
    timeoutMs,
    maxQueuedCalls,
    log: options.log ?? consoleLog,
    connection: { url, token: options.token, factory, connectTimeoutMs, deadAfterSilenceMs, reconnect },
  };
}
