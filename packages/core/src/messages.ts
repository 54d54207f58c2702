import { InvalidArgumentError } from "./errors.js";
import type { RetryPolicy } from "./retry.js";

/**
 * Keyed messages between processes (PraaS `send(pid, key, data)` /
 * `recv([pid], key)`). A message waits in the target's inbox under its channel
 * until a `recv` takes it; the inbox is saved with the state at swap-out.
 */
export interface InboxMessage {
  /** Unique id: durable messages are deduplicated by it. */
  readonly id: string;
  readonly channel: string;
  /** "Type/key" of the sending actor; undefined when sent from outside any actor. */
  readonly from: string | undefined;
  readonly data: unknown;
}

export interface SendOptions {
  /**
   * Resolve only once the message is stored in the target's state store
   * (deduplicated by message id), so a crash of the target's silo loses nothing.
   */
  readonly durable?: boolean;
  /**
   * Deadline in ms for the whole send, retries of a durable one included
   * (default: the silo's call timeout).
   */
  readonly timeoutMs?: number;
  /**
   * How a durable send paces its retries after a retryable failure (a
   * resend is safe: the target deduplicates by message id). Default
   * {@link DEFAULT_SEND_RETRY}. A plain send is never retried.
   */
  readonly retry?: RetryPolicy;
}

/**
 * Pauses of a durable send's retries: 50 ms growing to at most 1 s, fully
 * jittered (senders cut off together do not come back together), as many
 * tries as the send's deadline leaves room for.
 */
export const DEFAULT_SEND_RETRY: RetryPolicy = Object.freeze({ initialDelayMs: 50, maxDelayMs: 1_000, jitter: "full" });

export interface RecvOptions {
  /** Only take messages from this sender (a reference or "Type/key"). Default: any sender. */
  readonly from?: unknown;
  /** Give up with TimeoutError after this long (default: the silo's call timeout). */
  readonly timeoutMs?: number;
}

/** What `recv` resolves with. */
export interface ReceivedMessage<T = unknown> {
  readonly channel: string;
  readonly from: string | undefined;
  readonly data: T;
}

/** Longest channel name, in UTF-16 code units. */
export const MAX_CHANNEL_LENGTH = 256;

/** Methods the runtime routes like calls but handles itself; user methods can never have these names. */
export const SYSTEM_METHODS = {
  deliver: "#deliver",
  remind: "#remind",
  /** Control calls: answered by the owner silo without activating the actor. */
  locate: "#locate",
  deactivate: "#deactivate",
  deleteState: "#deleteState",
} as const;

/**
 * Calls the owner silo answers itself, never turning into a turn (or an
 * activation). The first-character test keeps this free on the call hot path.
 */
export function isControlMethod(method: string): boolean {
  return (
    method.charCodeAt(0) === 35 /* "#" */ &&
    (method === SYSTEM_METHODS.locate || method === SYSTEM_METHODS.deactivate || method === SYSTEM_METHODS.deleteState)
  );
}

/** What a channel name must be, for error messages wherever one is checked. */
export const CHANNEL_RULE = `A channel is a non-empty string of at most ${MAX_CHANNEL_LENGTH} chars`;

/** The one channel check (actors, client frames, HTTP routes, stored inboxes all use it). */
export function isChannel(channel: unknown): channel is string {
  return typeof channel === "string" && channel.length > 0 && channel.length <= MAX_CHANNEL_LENGTH;
}

/** Check a channel name (from an actor, a client or storage); returns it. */
export function validateChannel(channel: unknown): string {
  if (!isChannel(channel)) throw new InvalidArgumentError(CHANNEL_RULE);
  return channel;
}
