/**
 * Messaging (PraaS `send`): checks a message, routes its delivery to the
 * target's inbox like a call, and retries a durable one — deduplicated by id
 * at the target, so a resend is safe — with paced pauses within one deadline.
 */
import { randomUUID } from "node:crypto";
import {
  type ActorId,
  ActorTypeNotFoundError,
  assertEncodable,
  type Clock,
  DEFAULT_SEND_RETRY,
  type InboxMessage,
  InvalidArgumentError,
  type RetryPolicy,
  retry,
  type SendOptions,
  validateChannel,
  validateKey,
} from "@praas/core/internal";
import type { ActorRegistry } from "./registry.js";

/** What messaging needs from its silo. */
export interface MessagingHost {
  readonly clock: Clock;
  /** Deadline of a send that names none. */
  readonly callTimeoutMs: number;
  /** Route `message` to `target`'s inbox (a system call, activating the target if needed). */
  deliver(target: ActorId, message: InboxMessage, durable: boolean, timeoutMs: number): Promise<unknown>;
  /** Is the silo stopping (a durable send stops retrying)? */
  stopping(): boolean;
}

export class Messaging {
  readonly #registry: ActorRegistry;
  readonly #host: MessagingHost;

  constructor(registry: ActorRegistry, host: MessagingHost) {
    this.#registry = registry;
    this.#host = host;
  }

  /** Put `data` in `target`'s inbox under `channel`; `from` is the sending actor's "Type/key", if any. */
  async send(
    from: string | undefined,
    target: ActorId,
    channel: string,
    data: unknown,
    options: SendOptions | undefined,
  ): Promise<void> {
    validateChannel(channel);
    const info = this.#registry.get(target.type);
    if (info === undefined) throw new ActorTypeNotFoundError(target.type);
    if (info.stateless) throw new InvalidArgumentError(`${info.name} is stateless and has no inbox`);
    validateKey(target.key);
    assertEncodable(data, `message on channel "${channel}"`);
    const host = this.#host;
    const timeoutMs = options?.timeoutMs ?? host.callTimeoutMs;
    if (!(timeoutMs > 0)) throw new InvalidArgumentError("timeoutMs must be a positive number");
    const message: InboxMessage = { id: randomUUID(), channel, from, data };
    if (options?.durable !== true) {
      await host.deliver(target, message, false, timeoutMs);
      return;
    }
    const policy = checkRetryPolicy(options.retry ?? DEFAULT_SEND_RETRY);
    const clock = host.clock;
    // Durable messages are deduplicated by id at the target, so resending after a
    // failure that may or may not have stored it is safe. Every try gets what is
    // left of the one deadline, so the send as a whole ends by it.
    await retry((n, remainingMs) => host.deliver(target, message, true, n === 1 ? timeoutMs : Math.ceil(remainingMs)), {
      policy,
      deadline: clock.now() + timeoutMs,
      clock,
      stop: () => host.stopping(),
    });
  }
}

/** `policy` if its numbers make sense (a send's options come from users), else InvalidArgumentError. */
function checkRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const { initialDelayMs, maxDelayMs, maxAttempts, jitter } = policy;
  if (!(initialDelayMs >= 0) || !(maxDelayMs >= initialDelayMs)) {
    throw new InvalidArgumentError("retry needs 0 <= initialDelayMs <= maxDelayMs");
  }
  if (maxAttempts !== undefined && !(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
    throw new InvalidArgumentError("retry.maxAttempts must be a whole number >= 1");
  }
  if (jitter !== undefined && jitter !== "full" && jitter !== "equal" && jitter !== "none") {
    throw new InvalidArgumentError('retry.jitter must be "full", "equal" or "none"');
  }
  return policy;
}
