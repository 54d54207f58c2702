import { randomBytes } from "node:crypto";
import {
  type ActorId,
  CorruptStateError,
  consoleLog,
  GroupCommit,
  InvalidArgumentError,
  type LogFunction,
  type MemberRecord,
  StateConflictError,
  type StateStore,
  type StoredState,
  StoreTimeoutError,
} from "@praas/core/internal";
import { Redis } from "ioredis";
import { commandTimeoutOf, withinDeadline } from "./deadline.js";
import { watchRedis } from "./health.js";
import { defineScript, type LuaScript } from "./lua-script.js";
import { fenceLua, WriteFence } from "./write-fence.js";

/**
 * Actor state in Redis: one string key per actor, `<keyPrefix><Type>/<key>`,
 * holding a 24-byte header and the state record:
 *
 *   bytes 0–6   "PRAASRD"   marks the value as ours (anything else is foreign)
 *   byte  7     format      this layout's version, so it can evolve
 *   bytes 8–23  token       random per write: the version (hex)
 *
 * Saves are group-committed: every save issued while a batch is on its way
 * (and those of the same event-loop turn) goes in the next batch, which is
 * one EVALSHA of a script that checks each key's token and sets the new value
 * — one round trip and one atomic step for the whole batch, each key checked
 * on its own (a conflict on one does not fail the others).
 *
 * A large value (over {@link BATCH_VALUE_LIMIT}) is saved on its own in two steps
 * sent back to back: SET the new value under a temporary key (with an expiry,
 * in case the client dies), then a Lua script checks the current token and
 * RENAMEs the temporary key over the state key, or drops it. Its bytes thus
 * never pass through Lua, which would copy them twice and run about three times
 * slower than a plain SET for a 10 MiB state.
 *
 * A random token rather than a counter: a counter would repeat after a delete,
 * and a stale activation could then match it.
 *
 * Fencing (`fenceWrites`, wired by a cluster silo whose membership is in the
 * same Redis): every script that writes first checks, in the same atomic
 * step, that the membership hash still lists this silo as "active" or
 * "leaving", and refuses with {@link WriteFencedError} otherwise. A write held
 * up in the network, or queued by ioredis while the connection was down, and
 * applied after peers declared the silo dead can then no longer overwrite
 * what the key's new owner stores.
 *
 * Standalone Redis (or a primary with replicas); for Redis Cluster both keys
 * of a save would need one hash slot.
 */
export const REDIS_STORE_FORMAT = 1;
const MAGIC = Buffer.from("PRAASRD", "ascii");
const HEADER_BYTES = 24;
const TOKEN_BYTES = 16;
/** A temporary key lives this long if the client dies between SET and the switch. */
const TEMP_TTL_MS = 10 * 60_000;
/** Values up to this size go through the batch script; larger ones take the two-step path. */
export const BATCH_VALUE_LIMIT = 256 * 1024;

export interface RedisStateStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. The store owns this connection and closes it. */
  readonly url?: string;
  /** An existing ioredis client (not closed by the store). Give `url` or `client`, not both. */
  readonly client?: Redis;
  /** Prefix of every key the store writes (default "praas:state:"). */
  readonly keyPrefix?: string;
  /** Where "Redis unreachable / reachable again" goes, once per outage (default: the console). */
  readonly log?: LogFunction;
  /**
   * How long a read, a batch of writes or a delete may wait for Redis, in ms, before it fails with
   * the retryable `StoreTimeoutError` (`STORE_TIMEOUT`). Without it a connection the network
   * black-holes would hold the writes, and the actors behind them, until TCP gives up (minutes).
   * A write given up on may still be applied later. Default 10,000.
   */
  readonly commandTimeoutMs?: number;
}

// KEYS: [fence], state key, temporary key with the new value. ARGV: fence, expected token (raw
// bytes; "" = nothing may be stored). Returns 1 when switched, 0 on a conflict,
// -1 when the temporary key is gone (expired: the caller took too long).
// A fenced refusal drops the temporary key (KEYS[3] when fenced).
const SWITCH = `${fenceLua("redis.call('DEL', KEYS[3])")}
local key, temp, expected = KEYS[k0 + 1], KEYS[k0 + 2], ARGV[2]
local kind = redis.call('TYPE', key).ok
local ok
if expected == '' then
  ok = kind == 'none'
else
  ok = false
  if kind == 'string' then
    local head = redis.call('GETRANGE', key, 0, 23)
    ok = string.sub(head, 1, 7) == 'PRAASRD' and string.sub(head, 9, 24) == expected
  end
end
if not ok then
  redis.call('DEL', temp)
  return 0
end
if redis.call('EXISTS', temp) == 0 then return -1 end
redis.call('RENAME', temp, key)
redis.call('PERSIST', key)
return 1
`;

// KEYS: [fence], the state keys of one batch. ARGV: fence, then per key its expected token (raw
// bytes; "" = nothing may be stored) and its new value. Keys are checked and
// set in order, each on its own. Returns per key: 1 when set; otherwise the
// token found ("" when nothing is stored) or 0 when the key holds something
// that is not ours.
const BATCH_SAVE = `${fenceLua()}
local out = {}
for i = 1, #KEYS - k0 do
  local key = KEYS[k0 + i]
  local kind = redis.call('TYPE', key).ok
  local found = false
  if kind == 'none' then
    found = ''
  elseif kind == 'string' then
    local head = redis.call('GETRANGE', key, 0, 23)
    if string.sub(head, 1, 7) == 'PRAASRD' and string.len(head) == 24 then found = string.sub(head, 9, 24) end
  end
  if found == ARGV[2 * i] then
    redis.call('SET', key, ARGV[2 * i + 1])
    out[i] = 1
  elseif found then
    out[i] = found
  else
    out[i] = 0
  end
end
return out
`;

// KEYS: [fence], state key. ARGV: fence, expected token ("*": delete whatever is there).
// Returns 1 when deleted or absent, 0 on a conflict.
const DELETE_IF = `${fenceLua()}
local key = KEYS[k0 + 1]
if ARGV[2] == '*' then
  redis.call('DEL', key)
  return 1
end
local kind = redis.call('TYPE', key).ok
if kind == 'none' then return 1 end
if kind ~= 'string' then return 0 end
local head = redis.call('GETRANGE', key, 0, 23)
if string.sub(head, 1, 7) ~= 'PRAASRD' or string.sub(head, 9, 24) ~= ARGV[2] then return 0 end
redis.call('DEL', key)
return 1
`;

/** One save waiting for its batch. */
interface PendingSave {
  readonly id: ActorId;
  readonly key: string;
  readonly expected: string | null;
  readonly expectedToken: Buffer;
  readonly value: Buffer;
  readonly version: string;
  resolve(version: string): void;
  reject(error: unknown): void;
}

export class RedisStateStore implements StateStore {
  readonly kind = "redis";
  readonly keyPrefix: string;
  readonly #client: Redis;
  readonly #owned: boolean;
  /** The scripts, as ioredis commands on the client (lua-script.ts). */
  readonly #switch: LuaScript;
  readonly #deleteIf: LuaScript;
  readonly #batchSave: LuaScript;
  readonly #batches = new GroupCommit<PendingSave>((batch) => this.#commit(batch), { maxBatch: 512 });
  /** Membership's check on every write (write-fence.ts), once a cluster silo turns it on. */
  readonly #fence: WriteFence;
  readonly #timeoutMs: number;

  constructor(options: RedisStateStoreOptions) {
    if (typeof options !== "object" || options === null) {
      throw new InvalidArgumentError("RedisStateStore needs an options object: { url } or { client }");
    }
    const { url, client, keyPrefix } = options;
    if ((url === undefined) === (client === undefined)) {
      throw new InvalidArgumentError("RedisStateStore needs exactly one of url or client");
    }
    if (keyPrefix !== undefined && typeof keyPrefix !== "string") {
      throw new InvalidArgumentError(`RedisStateStore keyPrefix must be a string, got ${typeof keyPrefix}`);
    }
    this.keyPrefix = keyPrefix ?? "praas:state:";
    this.#timeoutMs = commandTimeoutOf(options.commandTimeoutMs, "RedisStateStore");
    if (client !== undefined) {
      if (typeof client !== "object" || client === null || typeof (client as Redis).evalsha !== "function") {
        throw new InvalidArgumentError("RedisStateStore client must be an ioredis client");
      }
      this.#client = client;
      this.#owned = false;
    } else {
      if (typeof url !== "string" || !/^rediss?:\/\/[^/]/.test(url)) {
        throw new InvalidArgumentError(
          `RedisStateStore url must look like redis://host:port or rediss://host:port, got ${JSON.stringify(url)}`,
        );
      }
      this.#client = new Redis(url, { connectionName: "praas-state" });
      watchRedis(this.#client, options.log ?? consoleLog);
      this.#owned = true;
    }
    this.#fence = new WriteFence(this.#client, options.log ?? consoleLog, "state");
    // Their key counts vary (the fence's key, the batch's keys): given first.
    this.#switch = defineScript(this.#client, "praasStateSwitch", SWITCH);
    this.#deleteIf = defineScript(this.#client, "praasStateDeleteIf", DELETE_IF);
    this.#batchSave = defineScript(this.#client, "praasStateBatchSave", BATCH_SAVE);
  }

  /**
   * Check every write against `record` on the server (see the class comment):
   * only a Redis membership record on this store's own server (same host,
   * port and database). Returns whether writes are fenced from now on.
   */
  fenceWrites(record: MemberRecord): boolean {
    return this.#fence.use(record);
  }

  /** Writes (and deletes) Redis refused as fenced so far: sent by this silo but applied after it lost its membership. */
  get fencedWrites(): number {
    return this.#fence.refused;
  }

  /** The ioredis connection (for tests and diagnostics). */
  get client(): Redis {
    return this.#client;
  }

  /** The Redis key of an actor's state. Types cannot contain "/", so the split is unambiguous. */
  keyOf(id: ActorId): string {
    return `${this.keyPrefix}${id.type}/${id.key}`;
  }

  describe(id: ActorId): string {
    return `redis key ${JSON.stringify(this.keyOf(id))}`;
  }

  async load(id: ActorId): Promise<StoredState | undefined> {
    const key = this.keyOf(id);
    let value: Buffer | null;
    try {
      value = await this.#within(this.#client.getBuffer(key), "read", id);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("WRONGTYPE"))) throw err;
      const kind = await this.#client.type(key);
      throw new CorruptStateError(this.describe(id), `it holds a Redis ${kind}, not a PraaS state value`);
    }
    if (value === null) return undefined;
    if (value.length < HEADER_BYTES || !MAGIC.equals(value.subarray(0, MAGIC.length))) {
      throw new CorruptStateError(
        this.describe(id),
        "not a PraaS state value (no PraaS header; written by something else, or truncated)",
      );
    }
    const format = value[MAGIC.length];
    if (format !== REDIS_STORE_FORMAT) {
      throw new CorruptStateError(
        this.describe(id),
        `store format ${format} is not supported (expected ${REDIS_STORE_FORMAT})`,
      );
    }
    return {
      data: value.subarray(HEADER_BYTES),
      version: value.subarray(MAGIC.length + 1, HEADER_BYTES).toString("hex"),
    };
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    const value = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength);
    MAGIC.copy(value, 0);
    value[MAGIC.length] = REDIS_STORE_FORMAT;
    const token = randomBytes(TOKEN_BYTES);
    token.copy(value, MAGIC.length + 1);
    value.set(data, HEADER_BYTES);
    const key = this.keyOf(id);
    if (value.length > BATCH_VALUE_LIMIT) return this.#saveLarge(id, key, value, token, expected);
    const expectedToken = expected === null ? EMPTY : tokenOf(expected);
    return new Promise<string>((resolve, reject) => {
      this.#batches.add({ id, key, expected, expectedToken, value, version: token.toString("hex"), resolve, reject });
    });
  }

  /** Send one batch of saves: one script call, one round trip. */
  async #commit(batch: PendingSave[]): Promise<void> {
    const fence = this.#fence.args(`${batch.length} write(s) to ${this.keyPrefix}…`);
    const keys = [...fence.keys];
    for (const p of batch) keys.push(p.key);
    const args: (Buffer | string)[] = [fence.member];
    for (const p of batch) args.push(p.expectedToken, p.value);
    let reply: unknown;
    try {
      // Buffer replies: a token found instead is 16 raw bytes.
      reply = await this.#within(this.#batchSave.runBuffer(keys.length, ...keys, ...args), "write", batch);
    } catch (err) {
      throw this.#fence.failure(err, `${batch.length} write(s) to ${this.keyPrefix}…`, batch.length);
    }
    if (!Array.isArray(reply) || reply.length !== batch.length) {
      throw new Error(`Redis answered a batch of ${batch.length} saves with ${JSON.stringify(reply)}`);
    }
    for (const [i, p] of batch.entries()) {
      const result: unknown = reply[i];
      if (result === 1) p.resolve(p.version);
      else p.reject(new StateConflictError(this.describe(p.id), p.expected, foundVersion(result)));
    }
  }

  async #saveLarge(id: ActorId, key: string, value: Buffer, token: Buffer, expected: string | null): Promise<string> {
    const expectedToken = expected === null ? "" : tokenOf(expected);
    // NUL cannot occur in actor keys (control characters are refused), so no actor's key can clash with this.
    const temp = `${key}\u0000tmp\u0000${token.toString("hex")}`;
    // One round trip: both commands go out back to back on the one connection,
    // so the switch runs after the SET. (Not a pipeline: ioredis copies a
    // pipeline into one buffer, which costs a 10 MiB state another copy.)
    // (Should the server have lost the script, ioredis sends it again: the temporary key is still there.)
    const fence = this.#fence.args(this.describe(id));
    let result: unknown;
    try {
      [, result] = await this.#within(
        Promise.all([
          this.#client.set(temp, value, "PX", TEMP_TTL_MS),
          this.#switch.run(fence.keys.length + 2, ...fence.keys, key, temp, fence.member, expectedToken),
        ]),
        "write",
        id,
      );
    } catch (err) {
      throw this.#fence.failure(err, this.describe(id), 1);
    }
    if (result === 1) return token.toString("hex");
    if (result === 0) throw new StateConflictError(this.describe(id), expected);
    throw new Error(`The write to ${this.describe(id)} timed out between its two steps; nothing was written`);
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = this.keyOf(id);
    if (expected === undefined && !this.#fence.on) {
      await this.#within(this.#client.del(key), "delete", id);
      return;
    }
    const fence = this.#fence.args(this.describe(id));
    let deleted: unknown;
    try {
      deleted = await this.#within(
        this.#deleteIf.run(
          fence.keys.length + 1,
          ...fence.keys,
          key,
          fence.member,
          expected === undefined ? ANY : tokenOf(expected),
        ),
        "delete",
        id,
      );
    } catch (err) {
      throw this.#fence.failure(err, this.describe(id), 1);
    }
    if (deleted !== 1) throw new StateConflictError(this.describe(id), expected ?? null);
  }

  /** `op` under the command timeout; `about`: the actor, or a batch of saves (named by its first). */
  #within<T>(op: Promise<T>, what: "read" | "write" | "delete", about: ActorId | readonly PendingSave[]): Promise<T> {
    return withinDeadline(op, this.#timeoutMs, () => {
      if (!isBatch(about)) return new StoreTimeoutError("Redis", what, this.describe(about), this.#timeoutMs);
      const batch = about;
      const first = this.describe((batch[0] as PendingSave).id);
      const where = batch.length === 1 ? first : `${first} and ${batch.length - 1} more key(s) in one batch`;
      return new StoreTimeoutError("Redis", what, where, this.#timeoutMs);
    });
  }

  async close(): Promise<void> {
    await this.#batches.idle();
    if (!this.#owned || this.#client.status === "end") return;
    if (this.#client.status !== "ready") {
      this.#client.disconnect();
      return;
    }
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }
}

function isBatch(about: ActorId | readonly PendingSave[]): about is readonly PendingSave[] {
  return Array.isArray(about);
}

/**
 * The raw token of a version string. Anything else (a version from another
 * store, garbage) can never match a stored token: the save or delete then
 * fails as a conflict, the same as a stale version.
 */
function tokenOf(version: string): Buffer {
  return /^[0-9a-f]{32}$/.test(version) ? Buffer.from(version, "hex") : NEVER_MATCHES;
}
const NEVER_MATCHES = Buffer.from("not-a-token");
const EMPTY = Buffer.alloc(0);
/** DELETE_IF's "whatever is there" (never a token: those are 16 bytes). */
const ANY = "*";

/** What a batch reply says was found instead: a token, nothing (""), or something not ours (0). */
function foundVersion(result: unknown): string | null | undefined {
  if (!Buffer.isBuffer(result)) return undefined;
  if (result.length === 0) return null;
  return result.length === TOKEN_BYTES ? result.toString("hex") : undefined;
}

/** A Redis state store: `redisStateStore({ url: "redis://localhost:6379", keyPrefix: "app:" })`. */
export function redisStateStore(options: RedisStateStoreOptions): RedisStateStore {
  return new RedisStateStore(options);
}
