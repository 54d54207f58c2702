import {
  type ActorId,
  CorruptStateError,
  decode,
  encode,
  isReminderRecord,
  type ReminderRecord,
  type ReminderStore,
  reminderKey,
} from "@praas/core/internal";
import { type EmbeddedEnvironment, lmdbKey } from "./embedded-environment.js";

/**
 * Durable reminders of the embedded default: a table of CBOR records in the
 * state folder's LMDB environment, beside the actor state, so a reminder
 * change and the state write of the same turn commit in one transaction.
 * Get it from the state store: `lmdbStore.reminderStore()`.
 */
export class LmdbReminderStore implements ReminderStore {
  readonly kind = "lmdb";
  readonly #env: EmbeddedEnvironment;
  #closed = false;

  /** Takes over one reference to `env` (released by `close()`). */
  /** @internal Use `LmdbStateStore.reminderStore()`. */
  constructor(env: EmbeddedEnvironment) {
    this.#env = env;
  }

  async put(reminder: ReminderRecord): Promise<void> {
    const key = lmdbKey(reminderKey(reminder.actor, reminder.name));
    await this.#env.durable(this.#env.reminders.put(key, Buffer.from(encode(reminder))));
  }

  async delete(actor: ActorId, name: string): Promise<void> {
    await this.#env.durable(this.#env.reminders.remove(lmdbKey(reminderKey(actor, name))));
  }

  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    const key = lmdbKey(reminderKey(actor, name));
    const bytes = this.#env.reminders.get(key);
    return bytes === undefined ? undefined : this.#decode(key, bytes);
  }

  async list(): Promise<ReminderRecord[]> {
    const out: ReminderRecord[] = [];
    for (const { key, value } of this.#env.reminders.getRange()) out.push(this.#decode(key, value));
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.release();
  }

  #decode(key: string, bytes: Uint8Array): ReminderRecord {
    const where = `${this.#env.path} reminder ${JSON.stringify(key)}`;
    let value: unknown;
    try {
      value = decode(bytes);
    } catch {
      throw new CorruptStateError(where, "reminder is not valid CBOR");
    }
    if (!isReminderRecord(value)) throw new CorruptStateError(where, "not a PraaS reminder");
    return value;
  }
}
