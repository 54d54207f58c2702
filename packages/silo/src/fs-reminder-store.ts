import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
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
import { writeFileAtomic } from "./atomic-file.js";

/**
 * Durable reminders of the embedded default: one small CBOR file per reminder
 * in `<stateDir>/.reminders/`, written atomically and durably (see atomic-file.ts). Silos
 * sharing the folder all see every reminder.
 */
export class FileReminderStore implements ReminderStore {
  readonly kind = "fs";
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, ".reminders");
  }

  async put(reminder: ReminderRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.#file(reminder.actor, reminder.name), [encode(reminder)]);
  }

  async delete(actor: ActorId, name: string): Promise<void> {
    await rm(this.#file(actor, name), { force: true });
  }

  async get(actor: ActorId, name: string): Promise<ReminderRecord | undefined> {
    return this.#read(this.#file(actor, name));
  }

  async list(): Promise<ReminderRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: ReminderRecord[] = [];
    for (const name of names) {
      if (!name.endsWith(".reminder")) continue;
      const r = await this.#read(join(this.dir, name));
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  async close(): Promise<void> {}

  async #read(file: string): Promise<ReminderRecord | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    let value: unknown;
    try {
      value = decode(bytes);
    } catch {
      throw new CorruptStateError(file, "reminder file is not valid CBOR");
    }
    if (!isReminderRecord(value)) throw new CorruptStateError(file, "not a PraaS reminder");
    return value;
  }

  #file(actor: ActorId, name: string): string {
    return join(this.dir, `${createHash("sha256").update(reminderKey(actor, name)).digest("hex")}.reminder`);
  }
}
