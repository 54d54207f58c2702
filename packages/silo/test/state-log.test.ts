import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type LogRecord, readLog, StateLog } from "../src/state-log.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function logPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "praas-log-"));
  dirs.push(dir);
  return join(dir, "commit.log");
}
const rec = (key: string, version: number, text: string | null, table: LogRecord["table"] = "state"): LogRecord => ({
  table,
  key,
  version,
  value: text === null ? null : new TextEncoder().encode(text),
});

describe("commit log", () => {
  it("reads back what was appended, deletions included, in order", async () => {
    const path = logPath();
    const log = new StateLog(path, 64 * 1024, 7);
    await log.append([rec("T/a", 1, "one"), rec("T/é", 2, "")]);
    await log.append([
      rec("T/a", 3, null),
      rec("T/a\u0000r", 0, "remind", "reminders"),
      rec("T/a\u0000r", 0, null, "reminders"),
    ]);
    log.close();
    const { records, generation } = readLog(path);
    expect(generation).toBe(7);
    expect(records).toEqual([
      rec("T/a", 1, "one"),
      rec("T/é", 2, ""),
      rec("T/a", 3, null),
      rec("T/a\u0000r", 0, "remind", "reminders"),
      rec("T/a\u0000r", 0, null, "reminders"),
    ]);
  });

  it("after starting again, reads only the new generation, not the older records past it", async () => {
    const path = logPath();
    const log = new StateLog(path, 64 * 1024, 1);
    await log.append([rec("T/a", 1, "a long value from the first pass"), rec("T/b", 2, "b")]);
    log.restart(5);
    await log.append([rec("T/c", 6, "c")]);
    log.close();
    expect(readLog(path)).toEqual({ records: [rec("T/c", 6, "c")], generation: 5 });
  });

  it("stops at a record whose bytes do not match its checksum, and at a length past the file", async () => {
    const path = logPath();
    const log = new StateLog(path, 64 * 1024, 1);
    await log.append([rec("T/a", 1, "one"), rec("T/b", 2, "two"), rec("T/c", 3, "three")]);
    log.close();
    const bytes = readFileSync(path);
    const second = bytes.readUInt32LE(0);
    bytes[second + 30] = (bytes[second + 30] ?? 0) ^ 0xff; // inside the second record's key
    writeFileSync(path, bytes);
    expect(readLog(path).records).toEqual([rec("T/a", 1, "one")]);
    // A length that runs past the file is not trusted (nor allocated).
    bytes.writeUInt32LE(0xffffffff, 0);
    writeFileSync(path, bytes);
    expect(readLog(path).records).toEqual([]);
  });

  it("refuses an append that does not fit in what is left, and has nothing to read after clear()", async () => {
    const path = logPath();
    const log = new StateLog(path, 1024, 1);
    await expect(log.append([rec("T/a", 1, "x".repeat(2000))])).rejects.toThrow(/do not fit/);
    await log.append([rec("T/a", 1, "fits")]);
    expect(log.free).toBe(1024 - StateLog.recordBytes("T/a", 4));
    log.clear();
    log.close();
    expect(readLog(path).records).toEqual([]);
    expect(readLog(join(path, "..", "missing.log")).records).toEqual([]);
  });
});
