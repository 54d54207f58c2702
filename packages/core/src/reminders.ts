import type { ActorId } from "./ids.js";
import type { MemberRecord } from "./membership.js";

/** A durable reminder as stored. */
export interface ReminderRecord {
  readonly actor: ActorId;
  readonly name: string;
  /** Next firing, epoch ms. */
  readonly dueAt: number;
  /** Period in ms for a repeating reminder; undefined for a one-shot. */
  readonly periodMs?: number;
  /** Total periods skipped so far (the record of missed firings). */
  readonly missedTotal: number;
  /** Last successful firing, epoch ms. */
  readonly lastFiredAt?: number;
  /** Consecutive failed attempts of the current firing. */
  readonly failures: number;
}

/**
 * Where durable reminders live: the state folder in the embedded default,
 * Redis in a cluster. Every silo can list all reminders, so when a silo dies
 * the new owners of its actors pick up their reminders.
 */
export interface ReminderStore {
  readonly kind: string;
  put(reminder: ReminderRecord): Promise<void>;
  delete(actor: ActorId, name: string): Promise<void>;
  get(actor: ActorId, name: string): Promise<ReminderRecord | undefined>;
  list(): Promise<ReminderRecord[]>;
  close(): Promise<void>;
  /**
   * Optional, as `StateStore.fenceWrites`: from now on refuse, on the server,
   * every put and delete made while `record` does not list this silo as a
   * member, so that a late write cannot bring back, drop or reschedule a
   * reminder its actor's new owner changed. Returns whether it will.
   */
  fenceWrites?(record: MemberRecord): boolean;
}

/** Check a reminder read back from storage. */
export function isReminderRecord(v: unknown): v is ReminderRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  const actor = r.actor as Record<string, unknown> | undefined;
  return (
    typeof actor === "object" &&
    actor !== null &&
    typeof actor.type === "string" &&
    typeof actor.key === "string" &&
    typeof r.name === "string" &&
    typeof r.dueAt === "number" &&
    (r.periodMs === undefined || (typeof r.periodMs === "number" && r.periodMs > 0)) &&
    typeof r.missedTotal === "number" &&
    typeof r.failures === "number"
  );
}

export function reminderKey(actor: ActorId, name: string): string {
  return `${actor.type}/${actor.key}#${name}`;
}

/** Reminders kept in this process only (tests, volatile deployments). */
export class MemoryReminderStore implements ReminderStore {
  readonly kind = "memory";
  readonly #items = new Map<string, ReminderRecord>();

  async put(reminder: ReminderRecord): Promise<void> {
    this.#items.set(reminderKey(reminder.actor, reminder.name), structuredClone(reminder));
  }
  async delete(actor: ActorId, name: string): Promise<void> {
    this.#items.delete(reminderKey(actor, name));
  }
  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    const r = this.#items.get(reminderKey(actor, name));
    return r === undefined ? undefined : structuredClone(r);
  }
  async list(): Promise<ReminderRecord[]> {
    return [...this.#items.values()].map((r) => structuredClone(r));
  }
  async close(): Promise<void> {}
}
