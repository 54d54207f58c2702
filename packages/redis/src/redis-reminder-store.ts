import {
  type ActorId,
  CorruptStateError,
  consoleLog,
  decode,
  encode,
  InvalidArgumentError,
  isReminderRecord,
  type LogFunction,
  type ReminderRecord,
  type ReminderStore,
  reminderKey,
} from "@praas/core/internal";
import { Redis } from "ioredis";
import { watchRedis } from "./health.js";

export interface RedisReminderStoreOptions {
  /** `redis://…`; the store owns this connection and closes it. */
  readonly url?: string;
  /** An existing ioredis client (not closed by the store). */
  readonly client?: Redis;
  /** Key of the hash holding every reminder (default "praas:reminders"). One per cluster. */
  readonly key?: string;
  /** Where "Redis unreachable / reachable again" goes, once per outage (default: the console). */
  readonly log?: LogFunction;
}

/**
 * Durable reminders for a cluster: one Redis hash, field "Type/key#name", value
 * the CBOR record. Every silo can list them all, so the new owner of a dead
 * silo's actors picks up their reminders on its next refresh.
 */
export class RedisReminderStore implements ReminderStore {
  readonly kind = "redis";
  readonly key: string;
  readonly #client: Redis;
  readonly #owned: boolean;

  constructor(options: RedisReminderStoreOptions) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("RedisReminderStore needs { url } or { client }");
    }
    if ((options.url === undefined) === (options.client === undefined)) {
      throw new InvalidArgumentError("RedisReminderStore needs exactly one of url or client");
    }
    if (options.url !== undefined && (typeof options.url !== "string" || !/^rediss?:\/\//.test(options.url))) {
      throw new InvalidArgumentError(
        `RedisReminderStore url must start with redis:// or rediss://, got ${JSON.stringify(options.url)}`,
      );
    }
    this.key = options.key ?? "praas:reminders";
    if (typeof this.key !== "string" || this.key.length === 0)
      throw new InvalidArgumentError("RedisReminderStore key must be a non-empty string");
    this.#owned = options.client === undefined;
    this.#client = options.client ?? new Redis(options.url as string, { lazyConnect: false, maxRetriesPerRequest: 3 });
    if (this.#owned) watchRedis(this.#client, options.log ?? consoleLog);
  }

  async put(reminder: ReminderRecord): Promise<void> {
    await this.#client.hset(this.key, reminderKey(reminder.actor, reminder.name), Buffer.from(encode(reminder)));
  }

  async delete(actor: ActorId, name: string): Promise<void> {
    await this.#client.hdel(this.key, reminderKey(actor, name));
  }

  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    const field = reminderKey(actor, name);
    const bytes = await this.#client.hgetBuffer(this.key, field);
    return bytes === null ? undefined : this.#decode(field, bytes);
  }

  async list(): Promise<ReminderRecord[]> {
    const all = await this.#client.hgetallBuffer(this.key);
    return Object.entries(all).map(([field, bytes]) => this.#decode(field, bytes));
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#client.quit().catch(() => this.#client.disconnect());
  }

  #decode(field: string, bytes: Buffer): ReminderRecord {
    let value: unknown;
    try {
      value = decode(bytes);
    } catch {
      throw new CorruptStateError(`redis:${this.key}[${field}]`, "reminder is not valid CBOR");
    }
    if (!isReminderRecord(value)) throw new CorruptStateError(`redis:${this.key}[${field}]`, "not a PraaS reminder");
    return value;
  }
}

/** Durable reminders in Redis (for a cluster). */
export function redisReminderStore(options: RedisReminderStoreOptions): RedisReminderStore {
  return new RedisReminderStore(options);
}
