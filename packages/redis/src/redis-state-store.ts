import { createHash, randomBytes } from "node:crypto";
import {
  type ActorId,
  CorruptStateError,
  consoleLog,
  InvalidArgumentError,
  type LogFunction,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core";
import { Redis } from "ioredis";
import { watchRedis } from "./health.js";

/**
 * Actor state in Redis: one string key per actor, `<keyPrefix><Type>/<key>`,
 * holding a 24-byte header and the state record:
 *
 *   bytes 0–6   "PRAASRD"   marks the value as ours (anything else is foreign)
 *   byte  7     format      this layout's version, so it can evolve
 *   bytes 8–23  token       random per write: the version (hex)
 *
 * A save is a compare-and-set in two steps sent in one round trip: SET the new
 * value under a temporary key (with an expiry, in case the client dies), then
 * a Lua script checks the current token and RENAMEs the temporary key over the
 * state key, or drops it. The state bytes therefore never pass through Lua —
 * which would copy them twice and run about three times slower than a plain SET
 * for a 10 MiB state — and the check and the switch are one atomic step.
 *
 * A random token rather than a counter: a counter would repeat after a delete,
 * and a stale activation could then match it.
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

export interface RedisStateStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. The store owns this connection and closes it. */
  readonly url?: string;
  /** An existing ioredis client (not closed by the store). Give `url` or `client`, not both. */
  readonly client?: Redis;
  /** Prefix of every key the store writes (default "praas:state:"). */
  readonly keyPrefix?: string;
  /** Where "Redis unreachable / reachable again" goes, once per outage (default: the console). */
  readonly log?: LogFunction;
}

// KEYS: state key, temporary key with the new value. ARGV: expected token (raw
// bytes; "" = nothing may be stored). Returns 1 when switched, 0 on a conflict,
// -1 when the temporary key is gone (expired: the caller took too long).
const SWITCH = `
local kind = redis.call('TYPE', KEYS[1]).ok
local ok
if ARGV[1] == '' then
  ok = kind == 'none'
else
  ok = false
  if kind == 'string' then
    local head = redis.call('GETRANGE', KEYS[1], 0, 23)
    ok = string.sub(head, 1, 7) == 'PRAASRD' and string.sub(head, 9, 24) == ARGV[1]
  end
end
if not ok then
  redis.call('DEL', KEYS[2])
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('RENAME', KEYS[2], KEYS[1])
redis.call('PERSIST', KEYS[1])
return 1
`;

// KEYS: state key. ARGV: expected token. Returns 1 when deleted or absent, 0 on a conflict.
const DELETE_IF = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 1 end
if kind ~= 'string' then return 0 end
local head = redis.call('GETRANGE', KEYS[1], 0, 23)
if string.sub(head, 1, 7) ~= 'PRAASRD' or string.sub(head, 9, 24) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash("sha1").update(lua).digest("hex") };
}

const switchScript = script(SWITCH);
const deleteScript = script(DELETE_IF);

export class RedisStateStore implements StateStore {
  readonly kind = "redis";
  readonly keyPrefix: string;
  readonly #client: Redis;
  readonly #owned: boolean;
  #scriptsLoaded: Promise<void> | undefined;

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
      value = await this.#client.getBuffer(key);
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
    const expectedToken = expected === null ? "" : tokenOf(expected);
    const value = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength);
    MAGIC.copy(value, 0);
    value[MAGIC.length] = REDIS_STORE_FORMAT;
    const token = randomBytes(TOKEN_BYTES);
    token.copy(value, MAGIC.length + 1);
    value.set(data, HEADER_BYTES);
    const key = this.keyOf(id);
    // NUL cannot occur in actor keys (control characters are refused), so no actor's key can clash with this.
    const temp = `${key}\u0000tmp\u0000${token.toString("hex")}`;
    await this.#scripts();
    // One round trip: both commands go out back to back on the one connection,
    // so the switch runs after the SET. (Not a pipeline: ioredis copies a
    // pipeline into one buffer, which costs a 10 MiB state another copy.)
    const [, switched] = await Promise.all([
      this.#client.set(temp, value, "PX", TEMP_TTL_MS),
      this.#client.evalsha(switchScript.sha, 2, key, temp, expectedToken).then(
        (result) => [null, result] as const,
        (err: unknown) => [err, undefined] as const,
      ),
    ]);
    let switchReply: readonly [unknown, unknown] = switched;
    if (isNoScript(switchReply[0])) {
      // The server lost its script cache (restart, SCRIPT FLUSH): the temporary key is still there.
      this.#scriptsLoaded = undefined;
      switchReply = [null, await this.#client.eval(switchScript.lua, 2, key, temp, expectedToken)];
    }
    if (switchReply[0]) throw switchReply[0];
    const result = switchReply[1];
    if (result === 1) return token.toString("hex");
    if (result === 0) throw new StateConflictError(this.describe(id), expected);
    throw new Error(`The write to ${this.describe(id)} timed out between its two steps; nothing was written`);
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = this.keyOf(id);
    if (expected === undefined) {
      await this.#client.del(key);
      return;
    }
    const token = tokenOf(expected);
    await this.#scripts();
    let deleted: unknown;
    try {
      deleted = await this.#client.evalsha(deleteScript.sha, 1, key, token);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      this.#scriptsLoaded = undefined;
      deleted = await this.#client.eval(deleteScript.lua, 1, key, token);
    }
    if (deleted !== 1) throw new StateConflictError(this.describe(id), expected);
  }

  async close(): Promise<void> {
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

  /** Load the scripts once, so EVALSHA normally finds them. */
  #scripts(): Promise<void> {
    this.#scriptsLoaded ??= Promise.all([
      this.#client.script("LOAD", SWITCH),
      this.#client.script("LOAD", DELETE_IF),
    ]).then(
      () => undefined,
      (err: unknown) => {
        this.#scriptsLoaded = undefined;
        throw err;
      },
    );
    return this.#scriptsLoaded;
  }
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

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("NOSCRIPT");
}

/** A Redis state store: `redisStateStore({ url: "redis://localhost:6379", keyPrefix: "app:" })`. */
export function redisStateStore(options: RedisStateStoreOptions): RedisStateStore {
  return new RedisStateStore(options);
}
