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
 * state folder's LMDB environment, beside the actor state. Where the folder
 * is this process's alone, a reminder change goes through the same commit log
 * as the state writes (embedded-writes.ts), in the same appends: durable after
 * one flush, in LMDB a little later, and put back on the next open if it never
 * got there. Get it from the state store: `lmdbStore.reminderStore()`.
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
    const bytes = encode(reminder);
    const log = this.#env.writes;
    // Always through the log where there is one: a reminder record is a few KiB at most (names
    // and keys are bounded), and its table has no versions, so a replay relies on every write
    // of it being in the log, in order.
    if (log !== undefined) await log.write("reminders", key, new Uint8Array(bytes), 0);
    else await this.#env.durable(this.#env.reminders.put(key, Buffer.from(bytes)));
  }

  async delete(actor: ActorId, name: string): Promise<void> {
    const key = lmdbKey(reminderKey(actor, name));
    const log = this.#env.writes;
    if (log !== undefined) await log.write("reminders", key, null, 0);
    else await this.#env.durable(this.#env.reminders.remove(key));
  }

  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    const key = lmdbKey(reminderKey(actor, name));
    const pending = this.#env.writes?.pending("reminders", key);
    if (pending !== undefined) return pending.value === null ? undefined : this.#decode(key, pending.value);
    const bytes = this.#env.reminders.get(key);
    return bytes === undefined ? undefined : this.#decode(key, bytes);
  }

  async list(): Promise<ReminderRecord[]> {
    const pending = this.#env.writes?.pendingOf("reminders");
    const out: ReminderRecord[] = [];
    for (const { key, value } of this.#env.reminders.getRange()) {
      if (pending?.has(key) !== true) out.push(this.#decode(key, value));
    }
    // Writes LMDB does not hold yet: the newest state of their keys.
    for (const [key, p] of pending ?? []) if (p.value !== null) out.push(this.#decode(key, p.value));
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
