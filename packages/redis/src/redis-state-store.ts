import { createHash, randomBytes } from "node:crypto";
import {
  type ActorId,
  CorruptStateError,
  InvalidArgumentError,
  StateConflictError,
  type StateStore,
  type StoredState,
} from "@praas/core";
import { Redis } from "ioredis";

/**
 * Actor state in Redis: one hash per actor at `<keyPrefix><Type>/<key>` with
 *
 * - `f`: the store format ("1"), so the layout can evolve and foreign keys are recognised;
 * - `v`: the version token, random per write (a counter would repeat after a
 *   delete, and a stale activation could then match it);
 * - `d`: the state record bytes.
 *
 * Saves and conditional deletes are compare-and-set Lua scripts, so the check
 * and the write are one atomic step on the server.
 */
export const REDIS_STORE_FORMAT = "1";

export interface RedisStateStoreOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. The store owns this connection and closes it. */
  readonly url?: string;
  /** An existing ioredis client (not closed by the store). Give `url` or `client`, not both. */
  readonly client?: Redis;
  /** Prefix of every key the store writes (default "praas:state:"). */
  readonly keyPrefix?: string;
}

// Returns 1 when written, 0 when the stored version is not the expected one.
// ARGV: expected version ("" = must not exist), new version, format, data.
const SAVE = `
local kind = redis.call('TYPE', KEYS[1]).ok
local current = ''
if kind == 'hash' then
  current = redis.call('HGET', KEYS[1], 'v') or '?'
elseif kind ~= 'none' then
  current = '?'
end
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'f', ARGV[3], 'v', ARGV[2], 'd', ARGV[4])
return 1
`;

// Returns 1 when deleted or absent, 0 when something else than the expected version is stored.
const DELETE_IF = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 1 end
if kind ~= 'hash' or redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
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

const saveScript = script(SAVE);
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
    // TYPE and HMGET in one MULTI: one round trip, and no write can slip in
    // between "is it a hash?" and reading it.
    const replies = await this.#client.multi().type(key).hmgetBuffer(key, "f", "v", "d").exec();
    if (replies === null) throw new Error(`Redis aborted the read of ${this.describe(id)}`);
    const [[typeError, kind] = [], [fieldsError, fields] = []] = replies;
    if (typeError) throw typeError;
    if (kind === "none") return undefined;
    if (kind !== "hash") {
      throw new CorruptStateError(this.describe(id), `it holds a Redis ${String(kind)}, not a PraaS state hash`);
    }
    if (fieldsError) throw fieldsError;
    const [format, version, data] = (fields ?? []) as (Buffer | null | undefined)[];
    if (format === null || format === undefined) {
      throw new CorruptStateError(this.describe(id), "a hash without the PraaS format field (not written by PraaS)");
    }
    const f = format.toString();
    if (f !== REDIS_STORE_FORMAT) {
      throw new CorruptStateError(
        this.describe(id),
        `store format ${JSON.stringify(f)} is not supported (expected ${REDIS_STORE_FORMAT})`,
      );
    }
    if (version === null || version === undefined || data === null || data === undefined) {
      throw new CorruptStateError(this.describe(id), "the hash lacks its version or data field");
    }
    return { data, version: version.toString() };
  }

  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    if (expected === "") throw new InvalidArgumentError("expected version must be null or a version token");
    const version = randomBytes(12).toString("base64url");
    // A Buffer view, not a copy: ioredis writes it to the socket as it is.
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const written = await this.#eval(saveScript, this.keyOf(id), [expected ?? "", version, REDIS_STORE_FORMAT, bytes]);
    if (written !== 1) throw new StateConflictError(this.describe(id), expected);
    return version;
  }

  async delete(id: ActorId, expected?: string): Promise<void> {
    const key = this.keyOf(id);
    if (expected === undefined) {
      await this.#client.del(key);
      return;
    }
    const deleted = await this.#eval(deleteScript, key, [expected]);
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

  /**
   * EVALSHA, with the scripts loaded once up front: falling back to EVAL on
   * NOSCRIPT would send a large state twice. EVAL covers a server that lost
   * its script cache (restart, SCRIPT FLUSH) since.
   */
  async #eval(s: Script, key: string, args: (string | Buffer)[]): Promise<unknown> {
    this.#scriptsLoaded ??= this.#loadScripts();
    try {
      await this.#scriptsLoaded;
    } catch (err) {
      this.#scriptsLoaded = undefined;
      throw err;
    }
    try {
      return await this.#client.evalsha(s.sha, 1, key, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      this.#scriptsLoaded = undefined;
      return this.#client.eval(s.lua, 1, key, ...args);
    }
  }

  async #loadScripts(): Promise<void> {
    await Promise.all([this.#client.script("LOAD", SAVE), this.#client.script("LOAD", DELETE_IF)]);
  }
}

/** A Redis state store: `redisStateStore({ url: "redis://localhost:6379", keyPrefix: "app:" })`. */
export function redisStateStore(options: RedisStateStoreOptions): RedisStateStore {
  return new RedisStateStore(options);
}
