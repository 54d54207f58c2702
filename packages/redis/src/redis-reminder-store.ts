import {
  type ActorId,
  CorruptStateError,
  consoleLog,
  decode,
  encode,
  InvalidArgumentError,
  isReminderRecord,
  type LogFunction,
  type MemberRecord,
  type ReminderRecord,
  type ReminderStore,
  reminderKey,
  StoreTimeoutError,
} from "@praas/core/internal";
import { Redis } from "ioredis";
import { commandTimeoutOf, withinDeadline } from "./deadline.js";
import { watchRedis } from "./health.js";
import { defineScript, type LuaScript } from "./lua-script.js";
import { fenceLua, WriteFence } from "./write-fence.js";

// KEYS: [fence], the hash. ARGV: fence, field, value ("" deletes the field).
const WRITE = `${fenceLua()}
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[k0 + 1], ARGV[2])
else
  redis.call('HSET', KEYS[k0 + 1], ARGV[2], ARGV[3])
end
return 1
`;

export interface RedisReminderStoreOptions {
  /** `redis://…`; the store owns this connection and closes it. */
  readonly url?: string;
  /** An existing ioredis client (not closed by the store). */
  readonly client?: Redis;
  /** Key of the hash holding every reminder (default "praas:reminders"). One per cluster. */
  readonly key?: string;
  /** Where "Redis unreachable / reachable again" goes, once per outage (default: the console). */
  readonly log?: LogFunction;
  /** How long a read or write may wait for Redis before it fails with `StoreTimeoutError` (ms; default 10,000). */
  readonly commandTimeoutMs?: number;
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
  /** Membership's check on every put and delete (write-fence.ts), once a cluster silo turns it on. */
  readonly #fence: WriteFence;
  readonly #write: LuaScript;
  readonly #timeoutMs: number;

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
    this.#timeoutMs = commandTimeoutOf(options.commandTimeoutMs, "RedisReminderStore");
    this.#owned = options.client === undefined;
    this.#client = options.client ?? new Redis(options.url as string, { lazyConnect: false, maxRetriesPerRequest: 3 });
    if (this.#owned) watchRedis(this.#client, options.log ?? consoleLog);
    this.#fence = new WriteFence(this.#client, options.log ?? consoleLog, "reminder");
    this.#write = defineScript(this.#client, "praasReminderWrite", WRITE);
  }

  /** As RedisStateStore.fenceWrites: puts and deletes checked against membership, on the server. */
  fenceWrites(record: MemberRecord): boolean {
    return this.#fence.use(record);
  }

  /** Puts and deletes Redis refused as fenced so far. */
  get fencedWrites(): number {
    return this.#fence.refused;
  }

  async put(reminder: ReminderRecord): Promise<void> {
    const field = reminderKey(reminder.actor, reminder.name);
    const value = Buffer.from(encode(reminder));
    if (!this.#fence.on) {
      await this.#within(this.#client.hset(this.key, field, value), "write", field);
      return;
    }
    await this.#fenced(field, value);
  }

  async delete(actor: ActorId, name: string): Promise<void> {
    const field = reminderKey(actor, name);
    if (!this.#fence.on) {
      await this.#within(this.#client.hdel(this.key, field), "delete", field);
      return;
    }
    await this.#fenced(field, "");
  }

  async #fenced(field: string, value: Buffer | string): Promise<void> {
    const where = `redis:${this.key}[${field}]`;
    const fence = this.#fence.args(where);
    try {
      await this.#within(
        this.#write.run(fence.keys.length + 1, ...fence.keys, this.key, fence.member, field, value),
        value === "" ? "delete" : "write",
        field,
      );
    } catch (err) {
      throw this.#fence.failure(err, where, 1);
    }
  }

  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    const field = reminderKey(actor, name);
    const bytes = await this.#within(this.#client.hgetBuffer(this.key, field), "read", field);
    return bytes === null ? undefined : this.#decode(field, bytes);
  }

  async list(): Promise<ReminderRecord[]> {
    const all = await this.#within(this.#client.hgetallBuffer(this.key), "read");
    return Object.entries(all).map(([field, bytes]) => this.#decode(field, bytes));
  }

  /** `op` under the command timeout (see deadline.ts); `field`: the reminder, or none for the whole hash. */
  #within<T>(op: Promise<T>, what: "read" | "write" | "delete", field?: string): Promise<T> {
    return withinDeadline(op, this.#timeoutMs, () => {
      const where = field === undefined ? `redis:${this.key}` : `redis:${this.key}[${field}]`;
      return new StoreTimeoutError("Redis", what, where, this.#timeoutMs);
    });
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
