import {
  type ActorId,
  type Clock,
  formatActorId,
  InvalidArgumentError,
  type ReminderFiring,
  type ReminderRecord,
  type ReminderSchedule,
  type ReminderStore,
  type RetryPolicy,
  reminderKey,
  retryDelay,
  type TimerHandle,
} from "@praas/core/internal";

/** What the reminder service needs from its silo. */
export interface ReminderHost {
  readonly clock: Clock;
  /** Does this silo own the actor now (single silo: always)? */
  owns(actor: ActorId): boolean;
  /** Deliver a firing to the actor as a turn (activating it if swapped out). */
  fire(actor: ActorId, name: string, firing: ReminderFiring): Promise<void>;
  report(actor: string, error: unknown): void;
}

export interface ReminderOptions {
  /** How often to re-read the store for reminders this silo now owns (default 10 s). */
  readonly refreshMs?: number;
  /** First retry delay after a failed firing; doubles up to `maxRetryMs` (default 1 s … 60 s). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

/** Shortest period accepted, so a typo cannot turn a reminder into a busy loop. */
export const MIN_REMINDER_PERIOD_MS = 10;

/**
 * Durable reminders. The store is the truth; this service keeps one clock timer
 * per reminder this silo owns. Firings are at-least-once: a firing that fails
 * is retried with backoff and the store records the attempt; periods that pass
 * while nobody could fire (the silo was down) are counted as missed and
 * reported to the actor in the next firing instead of being replayed one by one.
 */
export class ReminderService {
  readonly #timers = new Map<string, { handle: TimerHandle; record: ReminderRecord }>();
  readonly #refreshMs: number;
  /** Pauses before a failed firing's next try, 1 s doubling to 60 s by default; not jittered: each reminder keeps its own schedule. */
  readonly #retry: RetryPolicy;
  #refresher: TimerHandle | undefined;
  #stopped = false;

  constructor(
    readonly store: ReminderStore,
    readonly host: ReminderHost,
    options: ReminderOptions = {},
  ) {
    this.#refreshMs = options.refreshMs ?? 10_000;
    this.#retry = {
      initialDelayMs: options.retryMs ?? 1_000,
      maxDelayMs: options.maxRetryMs ?? 60_000,
      jitter: "none",
    };
  }

  /** Load the reminders this silo owns and keep re-reading the store. */
  async start(): Promise<void> {
    await this.refresh();
    this.#scheduleRefresh();
  }

  /** Number of reminders this silo has timers for. */
  get scheduled(): number {
    return this.#timers.size;
  }

  /** Reminders scheduled here that are overdue (due at or before `now`) and due within `soonMs` after it. */
  dueCounts(now: number, soonMs: number): { overdue: number; soon: number } {
    let overdue = 0;
    let soon = 0;
    for (const { record } of this.#timers.values()) {
      if (record.dueAt <= now) overdue++;
      else if (record.dueAt <= now + soonMs) soon++;
    }
    return { overdue, soon };
  }

  async register(actor: ActorId, name: string, schedule: ReminderSchedule): Promise<void> {
    if (typeof name !== "string" || name.length === 0 || name.length > 256) {
      throw new InvalidArgumentError("A reminder name is a non-empty string of at most 256 chars");
    }
    const now = this.host.clock.now();
    let dueAt: number;
    let periodMs: number | undefined;
    if (typeof schedule !== "object" || schedule === null)
      throw new InvalidArgumentError("remind needs { at } or { every }");
    if ("every" in schedule) {
      periodMs = schedule.every;
      if (typeof periodMs !== "number" || !Number.isFinite(periodMs) || periodMs < MIN_REMINDER_PERIOD_MS) {
        throw new InvalidArgumentError(`A reminder period must be a number ≥ ${MIN_REMINDER_PERIOD_MS} ms`);
      }
      dueAt = schedule.startAt === undefined ? now + periodMs : toMs(schedule.startAt, "startAt");
    } else if ("at" in schedule) {
      dueAt = toMs(schedule.at, "at");
    } else {
      throw new InvalidArgumentError("remind needs { at } or { every, startAt? }");
    }
    const record: ReminderRecord = {
      actor,
      name,
      dueAt,
      missedTotal: 0,
      failures: 0,
      ...(periodMs === undefined ? {} : { periodMs }),
    };
    await this.store.put(record);
    this.#schedule(record);
  }

  async forget(actor: ActorId, name: string): Promise<void> {
    this.#cancel(reminderKey(actor, name));
    await this.store.delete(actor, name);
  }

  /** Re-read the store: schedule reminders this silo now owns, drop those it no longer owns. */
  async refresh(): Promise<void> {
    if (this.#stopped) return;
    const all = await this.store.list();
    const seen = new Set<string>();
    for (const r of all) {
      const key = reminderKey(r.actor, r.name);
      seen.add(key);
      if (!this.host.owns(r.actor)) this.#cancel(key);
      else if (!this.#timers.has(key)) this.#schedule(r);
    }
    for (const key of [...this.#timers.keys()]) if (!seen.has(key)) this.#cancel(key);
  }

  stop(): void {
    this.#stopped = true;
    this.#refresher?.cancel();
    for (const key of [...this.#timers.keys()]) this.#cancel(key);
  }

  #scheduleRefresh(): void {
    if (this.#stopped) return;
    this.#refresher = this.host.clock.setTimeout(
      () => {
        this.refresh().then(
          () => this.#scheduleRefresh(),
          (err) => {
            this.host.report("(reminders)", err);
            this.#scheduleRefresh();
          },
        );
      },
      this.#refreshMs,
      true,
    );
  }

  #schedule(record: ReminderRecord, at = record.dueAt): void {
    if (this.#stopped) return;
    const key = reminderKey(record.actor, record.name);
    this.#cancel(key);
    const handle = this.host.clock.setTimeout(
      () => void this.#fire(key, record),
      Math.max(0, at - this.host.clock.now()),
    );
    this.#timers.set(key, { handle, record });
  }

  #cancel(key: string): void {
    this.#timers.get(key)?.handle.cancel();
    this.#timers.delete(key);
  }

  async #fire(key: string, scheduled: ReminderRecord): Promise<void> {
    if (this.#stopped || this.#timers.get(key)?.record !== scheduled) return;
    // The store may have changed (forgotten, replaced, or fired by another silo meanwhile).
    const current = await this.store.get(scheduled.actor, scheduled.name).catch(() => scheduled);
    if (current === undefined) {
      this.#cancel(key);
      return;
    }
    if (current.dueAt !== scheduled.dueAt || current.periodMs !== scheduled.periodMs) {
      this.#schedule(current);
      return;
    }
    const now = this.host.clock.now();
    // Periods that passed entirely before now were missed; fire once for the latest.
    let missed = 0;
    if (current.periodMs !== undefined && now - current.dueAt >= current.periodMs) {
      missed = Math.floor((now - current.dueAt) / current.periodMs);
    }
    const dueAt = current.dueAt + missed * (current.periodMs ?? 0);
    const firing: ReminderFiring = { name: current.name, dueAt, missed, attempt: current.failures };
    try {
      await this.host.fire(current.actor, current.name, firing);
    } catch (err) {
      this.host.report(formatActorId(current.actor), err);
      const failed: ReminderRecord = { ...current, failures: current.failures + 1 };
      await this.store.put(failed).catch(() => {});
      const delay = retryDelay(this.#retry, failed.failures);
      if (!this.#stopped) this.#schedule(failed, now + delay);
      return;
    }
    if (current.periodMs === undefined) {
      this.#cancel(key);
      await this.store
        .delete(current.actor, current.name)
        .catch((e) => this.host.report(formatActorId(current.actor), e));
      return;
    }
    const next: ReminderRecord = {
      ...current,
      dueAt: dueAt + current.periodMs,
      missedTotal: current.missedTotal + missed,
      lastFiredAt: now,
      failures: 0,
    };
    // The actor may have forgotten or replaced this reminder during its turn.
    const after = await this.store.get(current.actor, current.name).catch(() => current);
    if (after === undefined || after.dueAt !== current.dueAt || after.periodMs !== current.periodMs) {
      if (after === undefined) this.#cancel(key);
      else this.#schedule(after);
      return;
    }
    await this.store.put(next).catch((e) => this.host.report(formatActorId(current.actor), e));
    this.#schedule(next);
  }
}

function toMs(v: Date | number, what: string): number {
  const ms = v instanceof Date ? v.getTime() : v;
  if (typeof ms !== "number" || !Number.isFinite(ms))
    throw new InvalidArgumentError(`reminder ${what} must be a Date or epoch ms`);
  return ms;
}
