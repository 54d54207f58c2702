/**
 * Cluster membership on Redis. Every silo runs ONE Lua script per heartbeat
 * that records its beat, declares dead every silo silent for longer than
 * deadAfterMs, prunes old dead entries and returns the membership version —
 * so any peer can declare a silo dead, atomically, and liveness is judged by
 * the Redis server's clock (`TIME`), not by the silos' clocks.
 *
 * Keys (the `{cluster}` hash tag keeps them in one Redis Cluster slot, which
 * multi-key scripts need):
 *   <prefix>:{<cluster>}:silos    hash  id → JSON {id, address, startedAt}
 *   <prefix>:{<cluster>}:status   hash  id → active | leaving | dead
 *   <prefix>:{<cluster>}:hb       zset  id → last heartbeat (server ms), live silos only
 *   <prefix>:{<cluster>}:dead     zset  id → when it was declared dead (for pruning)
 *   <prefix>:{<cluster>}:version  counter, +1 with every change
 *   <prefix>:{<cluster>}:changes  pub/sub channel: the new version after each change
 *
 * Changes reach silos by pub/sub; the version returned by every heartbeat is
 * the fallback when pub/sub is down (or disabled), so every silo converges
 * within one heartbeat either way.
 *
 * Leases: a heartbeat is recorded at the server's time, which is after we sent
 * it, and a peer declares us dead only once that record is older than
 * deadAfterMs. So until (our monotonic time when the last successful heartbeat
 * was sent) + deadAfterMs − margin, no peer can have declared us dead.
 */
import {
  type Clock,
  checkJoiningSilo,
  consoleLog,
  InvalidArgumentError,
  type LogFunction,
  leaseMarginMs,
  type MemberRecord,
  MembershipListeners,
  type MembershipProvider,
  type MembershipTimings,
  type MembershipView,
  type RetryPolicy,
  resolveMembershipTimings,
  retryDelay,
  type SiloInfo,
  type SiloStatus,
  systemClock,
  type TimerHandle,
} from "@praas/core/internal";
import { Redis } from "ioredis";
import {
  describeError,
  type HealthSource,
  healthSource,
  RedisUnavailableError,
  redisAddress,
  redisServer,
  watchRedis,
  whenReachable,
  withTimeout,
} from "./health.js";
import { defineScript, type RunScript, type ScriptArg } from "./lua-script.js";

export interface RedisMembershipOptions extends MembershipTimings {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. The provider owns both connections it opens. */
  readonly url?: string;
  /** An existing ioredis client for commands (not closed by the provider); a duplicate subscribes. */
  readonly client?: Redis;
  /** The cluster's name: silos with the same name (and prefix) see each other. */
  readonly cluster: string;
  /** First part of every key (default "praas"). */
  readonly keyPrefix?: string;
  /** Listen for changes on pub/sub (default true). False: learn them only by polling at each heartbeat. */
  readonly subscribe?: boolean;
  /**
   * How long `join()` waits for Redis to answer (the connection is retried
   * meanwhile) before it fails with `RedisUnavailableError` (default 10 s).
   */
  readonly connectTimeoutMs?: number;
  /** Where operational messages go: Redis unreachable / reachable again, once per outage (default: the console). */
  readonly log?: LogFunction;
  /**
   * Background failures other than Redis being unreachable (a malformed entry,
   * a view that could not be read). Default: a warning through `log`.
   */
  readonly onError?: (error: unknown) => void;
  /** Called when an onChange/onEvicted listener throws (default: an error line through `log`). */
  readonly onListenerError?: (error: unknown) => void;
}

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

// All scripts: KEYS = silos, status, hb, dead, version. Time is the server's, in ms.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// ARGV: id, info JSON, channel. Returns {version} or {-1, existing status}.
const JOIN = `${NOW}
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {-1, existing or 'unknown'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], 'active')
redis.call('ZADD', KEYS[3], now, ARGV[1])
local v = redis.call('INCR', KEYS[5])
redis.call('PUBLISH', ARGV[3], v)
return {v}
`;

// ARGV: id, deadAfterMs, pruneAfterMs, channel. Returns {1 = alive, version}, or
// {0 = evicted, version, status} with status "dead" or "" (no entry: pruned, or Redis lost its data).
// A silo judges its peers only if its own previous beat is recent: after it
// (or Redis) was unreachable, its first beat must not declare everyone dead
// before they had a chance to beat again.
const HEARTBEAT = `${NOW}
local st = redis.call('HGET', KEYS[2], ARGV[1])
if st ~= 'active' and st ~= 'leaving' then
  return {0, tonumber(redis.call('GET', KEYS[5]) or '0'), st or ''}
end
local prev = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1]) or '0')
redis.call('ZADD', KEYS[3], now, ARGV[1])
local changed = false
if now - prev <= tonumber(ARGV[2]) then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. (now - tonumber(ARGV[2])))
  for _, id in ipairs(stale) do
    redis.call('ZREM', KEYS[3], id)
    redis.call('HSET', KEYS[2], id, 'dead')
    redis.call('ZADD', KEYS[4], now, id)
    changed = true
  end
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - tonumber(ARGV[3])))
  for _, id in ipairs(old) do
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    changed = true
  end
end
local v
if changed then
  v = redis.call('INCR', KEYS[5])
  redis.call('PUBLISH', ARGV[4], v)
else
  v = tonumber(redis.call('GET', KEYS[5]) or '0')
end
return {1, v}
`;

// ARGV: id, channel. Active → leaving. Returns {1, version} or {0, version} if not active.
const MARK_LEAVING = `
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'active' then
  return {0, tonumber(redis.call('GET', KEYS[5]) or '0')}
end
redis.call('HSET', KEYS[2], ARGV[1], 'leaving')
local v = redis.call('INCR', KEYS[5])
redis.call('PUBLISH', ARGV[2], v)
return {1, v}
`;

// ARGV: id, channel. Removes every trace of the silo. Returns {1|0, version}.
const REMOVE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and not redis.call('HGET', KEYS[2], ARGV[1]) then
  return {0, tonumber(redis.call('GET', KEYS[5]) or '0')}
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
local v = redis.call('INCR', KEYS[5])
redis.call('PUBLISH', ARGV[2], v)
return {1, v}
`;

// A consistent snapshot: {version, silos (flat id/json pairs), status (flat id/status pairs)}.
const READ = `
return {tonumber(redis.call('GET', KEYS[5]) or '0'), redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
`;

/** The scripts, by the name of the ioredis command each becomes ("praasMembership" + capitalised key). */
const SCRIPTS = {
  join: JOIN,
  heartbeat: HEARTBEAT,
  markLeaving: MARK_LEAVING,
  remove: REMOVE,
  read: READ,
} as const;
type ScriptName = keyof typeof SCRIPTS;
/** Every script gets the same five keys. */
const KEY_COUNT = 5;

type State = "new" | "joining" | "joined" | "left" | "evicted" | "closed";

const EMPTY_VIEW: MembershipView = Object.freeze({ version: 0, silos: Object.freeze([]) });

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

class RedisMembership implements MembershipProvider {
  readonly clock: Clock = systemClock;
  readonly #client: Redis;
  readonly #ownsClient: boolean;
  readonly #url: string | undefined;
  readonly #keys: readonly string[];
  readonly #scripts: Record<ScriptName, RunScript>;
  readonly #channel: string;
  readonly #cluster: string;
  readonly #subscribe: boolean;
  readonly #timings: ReturnType<typeof resolveMembershipTimings>;
  readonly #margin: number;
  readonly #connectTimeoutMs: number;
  readonly #log: LogFunction;
  readonly #onError: (error: unknown) => void;
  /** Heartbeats as evidence that Redis is reachable (a partition shows no socket error). */
  readonly #health: HealthSource;
  readonly #listeners: MembershipListeners;
  #subscriber: Redis | undefined;
  #state: State = "new";
  #self: string | undefined;
  #view: MembershipView = EMPTY_VIEW;
  /** Highest version heard of (heartbeat reply or pub/sub); a refresh runs while it exceeds #view.version. */
  #heard = 0;
  #refreshing: Promise<void> | undefined;
  #timer: TimerHandle | undefined;
  #beat: Promise<void> | undefined;
  #leaseUntil = Number.NEGATIVE_INFINITY;
  /** The last eviction found no entry at all (Redis lost its data, or it was pruned): see join. */
  #vanished = false;
  /** Since when the client has been connected but not ready (see #maybeRedial). */
  #stuckSince: number | undefined;
  /** Cancels the pause before a rejoin (close() during it). */
  #abortPause: (() => void) | undefined;

  constructor(options: RedisMembershipOptions, client: Redis, ownsClient: boolean) {
    const prefix = options.keyPrefix ?? "praas";
    const base = `${prefix}:{${options.cluster}}`;
    this.#keys = [`${base}:silos`, `${base}:status`, `${base}:hb`, `${base}:dead`, `${base}:version`];
    const scripts: Partial<Record<ScriptName, RunScript>> = {};
    for (const [name, lua] of Object.entries(SCRIPTS) as [ScriptName, string][]) {
      const command = `praasMembership${name[0]?.toUpperCase()}${name.slice(1)}`;
      scripts[name] = defineScript(client, command, lua, KEY_COUNT).run;
    }
    this.#scripts = scripts as Record<ScriptName, RunScript>;
    this.#channel = `${base}:changes`;
    this.#cluster = options.cluster;
    this.#client = client;
    this.#ownsClient = ownsClient;
    this.#url = options.url;
    this.#subscribe = options.subscribe ?? true;
    this.#timings = resolveMembershipTimings(options, "redisMembership");
    this.#margin = leaseMarginMs(this.#timings.deadAfterMs);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const log = options.log ?? consoleLog;
    this.#log = log;
    this.#onError =
      options.onError ?? ((e) => log("warn", `redis membership of cluster ${this.#cluster}: ${describeError(e)}`));
    this.#listeners = new MembershipListeners(
      options.onListenerError ?? ((e) => log("error", `membership listener failed: ${describeError(e)}`, { error: e })),
    );
    this.#health = healthSource(client, log);
    if (ownsClient) watchRedis(client, log);
  }

  async join(self: Omit<SiloInfo, "status">): Promise<MembershipView> {
    const info = checkJoiningSilo(self, "redisMembership");
    if (this.#state !== "new" && this.#state !== "evicted")
      throw new InvalidArgumentError(`redisMembership: join() on a provider that is ${this.#state}`);
    const rejoin = this.#state === "evicted";
    this.#state = "joining";
    const started = performance.now();
    const left = () => this.#connectTimeoutMs - (performance.now() - started);
    const noAnswer = () =>
      new RedisUnavailableError(redisAddress(this.#client), performance.now() - started, 1, new Error("no answer"));
    try {
      if (rejoin && this.#vanished) {
        // Redis lost our entry, so it most likely lost everyone's: silos that
        // have not noticed yet still hold leases on keys we are about to own.
        // Wait until any such lease is over before anyone can route to us.
        await this.#pause(this.#timings.deadAfterMs);
      }
      if (this.#ownsClient) await whenReachable(this.#client, left());
      // Subscribe before joining, so no change after our join can slip by unheard.
      if (this.#subscribe && this.#subscriber === undefined)
        await withTimeout(this.#startSubscriber(), left(), noAnswer);
      const sentAt = this.clock.now();
      const reply = (await withTimeout(
        this.#eval("join", [info.id, JSON.stringify(info), this.#channel]),
        left(),
        noAnswer,
      )) as unknown[];
      if (reply[0] === -1) {
        throw new InvalidArgumentError(
          reply[1] === "dead"
            ? `Silo id "${info.id}" was declared dead in cluster "${this.#cluster}"; a restarted silo must join with a new id`
            : `Silo id "${info.id}" is already a member of cluster "${this.#cluster}"; silo ids must be unique`,
        );
      }
      if (this.#state !== "joining") throw new InvalidArgumentError("redisMembership: closed while joining");
      this.#self = info.id;
      // A new incarnation starts from nothing: after Redis lost its data, versions start again from 1.
      this.#heard = Number(reply[0]);
      this.#view = EMPTY_VIEW;
      this.#view = await withTimeout(this.#read(), left(), noAnswer);
      if (this.#state !== "joining") throw new InvalidArgumentError("redisMembership: closed while joining");
      this.#leaseUntil = sentAt + this.#timings.deadAfterMs - this.#margin;
      this.#vanished = false;
      this.#state = "joined";
      this.#health.ok();
    } catch (err) {
      if (this.#state === "joining") {
        // Back to where it was: join may be retried (e.g. Redis was unreachable).
        this.#state = rejoin ? "evicted" : "new";
        if (!rejoin) await this.#stopSubscriber();
      }
      throw err;
    }
    this.#schedule();
    // Changes announced while we were reading are fetched now.
    if (this.#heard > this.#view.version) void this.#refresh();
    return this.#view;
  }

  view(): MembershipView {
    return this.#view;
  }

  leaseValidUntil(): number {
    return this.#leaseUntil;
  }

  /** The status hash, for a Redis state store on the same server to fence its writes with. */
  memberRecord(): MemberRecord {
    return { kind: "redis", server: redisServer(this.#client), key: this.#keys[1] as string, member: () => this.#self };
  }

  onChange(listener: (view: MembershipView) => void): () => void {
    return this.#listeners.onChange(listener);
  }

  onEvicted(listener: (reason: string) => void): () => void {
    return this.#listeners.onEvicted(listener);
  }

  async leave(): Promise<void> {
    if (this.#state !== "joined" || this.#self === undefined) return;
    this.#state = "left";
    this.#leaseUntil = Number.NEGATIVE_INFINITY;
    await this.#stopBeating();
    // Two versions, as the interface says: peers first see it leaving (and
    // stop placing actors on it), then gone. Peers that poll may see only the second.
    await this.#eval("markLeaving", [this.#self, this.#channel]);
    await this.#eval("remove", [this.#self, this.#channel]);
    await this.#stopSubscriber();
    try {
      this.#view = await this.#read();
    } catch {
      // The view after leaving is informative only.
    }
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    // Without leave() the entry stays and peers declare it dead: a crash.
    this.#state = "closed";
    this.#leaseUntil = Number.NEGATIVE_INFINITY;
    this.#abortPause?.();
    await this.#stopBeating();
    await this.#refreshing?.catch(() => {});
    await this.#stopSubscriber();
    this.#health.release();
    if (this.#ownsClient) await quit(this.#client);
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#abortPause = undefined;
        resolve();
      }, ms);
      this.#abortPause = () => {
        clearTimeout(timer);
        this.#abortPause = undefined;
        reject(new InvalidArgumentError("redisMembership: closed while waiting to rejoin"));
      };
    });
  }

  async #startSubscriber(): Promise<void> {
    const name = `praas-membership-sub:${this.#cluster}`;
    // Re-subscribing after a reconnection is done here, not by ioredis: its
    // automatic re-subscribe leaves its promise unobserved, so closing the
    // connection while that SUBSCRIBE waits for its answer (an evicted silo
    // shutting down as a partition heals) crashed the process with an
    // unhandled "Connection is closed" rejection.
    const sub =
      this.#url !== undefined
        ? new Redis(this.#url, {
            connectionName: name,
            autoResubscribe: false,
            retryStrategy,
            connectTimeout: REDIAL_CONNECT_TIMEOUT_MS,
          })
        : this.#client.duplicate({ connectionName: name, autoResubscribe: false });
    this.#subscriber = sub;
    watchRedis(sub, this.#log);
    let connectedBefore = false;
    sub.on("ready", () => {
      if (!connectedBefore) {
        connectedBefore = true;
        return;
      }
      // Changes published while we were away arrive with the next heartbeat's version.
      if (this.#subscriber === sub) sub.subscribe(this.#channel).catch(() => {});
    });
    sub.on("message", (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const version = Number(message);
      if (!Number.isSafeInteger(version)) return;
      this.#heard = Math.max(this.#heard, version);
      if (this.#state === "joined" && version > this.#view.version) void this.#refresh();
    });
    await sub.subscribe(this.#channel);
  }

  async #stopSubscriber(): Promise<void> {
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    // Nothing a subscriber has pending is worth waiting for (a QUIT could wait for ever on a dead link).
    if (sub !== undefined) sub.disconnect();
  }

  #schedule(): void {
    this.#timer = systemClock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#beat = this.#heartbeat().finally(() => {
          this.#beat = undefined;
          if (this.#state === "joined") this.#schedule();
        });
      },
      this.#timings.heartbeatMs,
      true,
    );
  }

  async #stopBeating(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#beat;
  }

  async #heartbeat(): Promise<void> {
    const id = this.#self;
    if (this.#state !== "joined" || id === undefined) return;
    let reply: unknown[];
    // Read before sending: the lease counts from a moment no later than Redis records the beat.
    const sentAt = this.clock.now();
    let unanswered = false;
    try {
      const { deadAfterMs, pruneAfterMs } = this.#timings;
      // A beat that takes longer than deadAfterMs renews nothing; give up on it so the next one can go.
      reply = (await withTimeout(
        this.#eval("heartbeat", [id, deadAfterMs, pruneAfterMs, this.#channel]),
        deadAfterMs,
        () => {
          unanswered = true;
          return new Error(`heartbeat got no answer within ${deadAfterMs} ms`);
        },
      )) as unknown[];
    } catch (err) {
      this.#health.failed(err);
      this.#maybeRedial(unanswered, sentAt);
      return;
    }
    this.#stuckSince = undefined;
    this.#health.ok();
    if (this.#state !== "joined" || this.#self !== id) return;
    this.#heard = Math.max(this.#heard, Number(reply[1]));
    if (reply[0] === 0) {
      // Peers declared us dead (or Redis lost our entry). Never beat again:
      // resurrecting would let a silo that others consider gone keep serving its actors.
      this.#evict(reply[2] === "dead" ? "dead" : "gone");
      void this.#refresh();
      return;
    }
    this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#timings.deadAfterMs - this.#margin);
    // Polling fallback: the version rides on every heartbeat.
    if (this.#heard > this.#view.version) void this.#refresh();
  }

  /**
   * A heartbeat went unanswered on a connection that still looks open: the
   * link most likely dropped packets silently (a partition, a host gone), and
   * TCP would keep retransmitting into it with a growing pause — for 10 s and
   * more after the network is back. Drop the socket and dial afresh (every
   * ~0.5 s, each attempt bounded by REDIAL_CONNECT_TIMEOUT_MS), so the silo
   * reaches Redis again within about a second of the link coming back.
   * Only for a client this provider created: a client passed in belongs to the caller.
   */
  #maybeRedial(unanswered: boolean, now: number): void {
    if (!this.#ownsClient) return;
    const status = this.#client.status;
    if (status === "ready") {
      if (unanswered) this.#redial();
      return;
    }
    // Connected but never ready (its first commands went into the dead link): as stuck.
    if (status !== "connect") {
      this.#stuckSince = undefined;
      return;
    }
    this.#stuckSince ??= now;
    if (now - this.#stuckSince >= this.#timings.deadAfterMs) {
      this.#stuckSince = undefined;
      this.#redial();
    }
  }

  #redial(): void {
    this.#client.disconnect(true);
    // The pub/sub connection crosses the same link; it re-subscribes on "ready".
    const sub = this.#subscriber;
    if (sub !== undefined && this.#url !== undefined && sub.status === "ready") sub.disconnect(true);
  }

  /** Fetch views until we hold the newest version heard of. One fetch at a time keeps views in order. */
  #refresh(): Promise<void> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    const run = async (): Promise<void> => {
      try {
        while ((this.#state === "joined" || this.#state === "evicted") && this.#heard > this.#view.version) {
          const view = await this.#read();
          if (view.version < this.#heard) {
            // Publishes follow the version increment atomically, so a read after
            // hearing N sees at least N; a higher number was not ours (a stray
            // publish, or Redis lost its data and counts again from 1).
            this.#heard = view.version;
          }
          this.#accept(view);
        }
      } catch (err) {
        // Most likely Redis is away: one line per outage, with the heartbeat's.
        this.#health.failed(err);
      }
    };
    // Cleared in a later turn, never inside run(): with nothing to fetch, run()
    // finishes before this assignment, and clearing it there would leave a
    // settled promise behind that made every later refresh a no-op.
    const refreshing: Promise<void> = run().finally(() => {
      if (this.#refreshing === refreshing) this.#refreshing = undefined;
    });
    this.#refreshing = refreshing;
    return refreshing;
  }

  #accept(view: MembershipView): void {
    if (view.version <= this.#view.version) return;
    this.#view = view;
    if (this.#state !== "joined") return;
    const me = view.silos.find((s) => s.id === this.#self);
    if (me === undefined || me.status === "dead") {
      this.#evict(me === undefined ? "gone" : "dead");
      return;
    }
    this.#listeners.changed(view);
  }

  #evict(why: "dead" | "gone"): void {
    if (this.#state !== "joined") return;
    this.#state = "evicted";
    this.#leaseUntil = Number.NEGATIVE_INFINITY;
    this.#vanished = why === "gone";
    this.#timer?.cancel();
    this.#timer = undefined;
    const reason =
      why === "dead"
        ? `peers declared silo ${this.#self} dead (no heartbeat recorded for more than ${this.#timings.deadAfterMs} ms)`
        : `the membership entry of silo ${this.#self} is gone from Redis (Redis lost its data, or the entry was pruned)`;
    this.#listeners.evicted(reason);
  }

  async #read(): Promise<MembershipView> {
    const [version, flatSilos, flatStatus] = (await this.#eval("read", [])) as [number, string[], string[]];
    const status = new Map<string, string>();
    for (let i = 0; i + 1 < flatStatus.length; i += 2) status.set(flatStatus[i] as string, flatStatus[i + 1] as string);
    const silos: SiloInfo[] = [];
    for (let i = 0; i + 1 < flatSilos.length; i += 2) {
      const id = flatSilos[i] as string;
      const info = parseSilo(id, flatSilos[i + 1] as string, status.get(id));
      // Entries come from outside this process: a malformed one is reported and skipped, never trusted.
      if (info === undefined) this.#onError(new Error(`malformed membership entry for silo ${JSON.stringify(id)}`));
      else silos.push(info);
    }
    silos.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return Object.freeze({ version: Number(version), silos: Object.freeze(silos) });
  }

  /** Run one of the scripts on this cluster's keys (lua-script.ts: EVALSHA, or EVAL when the server lacks it). */
  #eval(name: ScriptName, args: ScriptArg[]): Promise<unknown> {
    return this.#scripts[name](...this.#keys, ...args);
  }
}

/** Longest one connection attempt of the membership client may take (ioredis' default is 10 s). */
const REDIAL_CONNECT_TIMEOUT_MS = 1_000;

/** Reconnect quickly (a silo without Redis cannot renew its lease): 50 ms, doubling, at most every 500 ms. */
const RECONNECT: RetryPolicy = { initialDelayMs: 50, maxDelayMs: 500, jitter: "none" };

function retryStrategy(attempt: number): number {
  return retryDelay(RECONNECT, attempt);
}

const STATUSES: ReadonlySet<string> = new Set<SiloStatus>(["active", "leaving", "dead"]);

function parseSilo(id: string, json: string, status: string | undefined): SiloInfo | undefined {
  if (status === undefined || !STATUSES.has(status)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (r.id !== id || typeof r.address !== "string" || typeof r.startedAt !== "number") return undefined;
  return Object.freeze({ id, address: r.address, startedAt: r.startedAt, status: status as SiloStatus });
}

async function quit(client: Redis): Promise<void> {
  if (client.status === "end") return;
  if (client.status !== "ready") {
    client.disconnect();
    return;
  }
  try {
    // QUIT lets commands already sent finish; on a dead link its answer may never come.
    await withTimeout(client.quit(), 2_000, () => new Error("QUIT got no answer"));
  } catch {
    client.disconnect();
  }
}

/**
 * Membership on Redis: `redisMembership({ url: "redis://host:6379", cluster: "shop" })`.
 * Defaults detect a dead silo within deadAfterMs + heartbeatMs = 2.5 s.
 */
export function redisMembership(options: RedisMembershipOptions): MembershipProvider {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError("redisMembership needs an options object: { url | client, cluster }");
  }
  const { url, client, cluster, keyPrefix, subscribe, connectTimeoutMs, log } = options;
  if ((url === undefined) === (client === undefined)) {
    throw new InvalidArgumentError("redisMembership needs exactly one of url or client");
  }
  if (typeof cluster !== "string" || !NAME.test(cluster)) {
    throw new InvalidArgumentError(
      `redisMembership: cluster must be 1–128 characters of letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(cluster)}`,
    );
  }
  if (keyPrefix !== undefined && (typeof keyPrefix !== "string" || !NAME.test(keyPrefix))) {
    throw new InvalidArgumentError(
      `redisMembership: keyPrefix must be 1–128 characters of letters, digits, "_", ".", ":" or "-", got ${JSON.stringify(keyPrefix)}`,
    );
  }
  if (subscribe !== undefined && typeof subscribe !== "boolean") {
    throw new InvalidArgumentError("redisMembership: subscribe must be a boolean");
  }
  if (
    connectTimeoutMs !== undefined &&
    (typeof connectTimeoutMs !== "number" ||
      !Number.isInteger(connectTimeoutMs) ||
      connectTimeoutMs < 1 ||
      connectTimeoutMs > 86_400_000)
  ) {
    throw new InvalidArgumentError(
      `redisMembership: connectTimeoutMs must be an integer number of ms in 1..86400000, got ${String(connectTimeoutMs)}`,
    );
  }
  if (log !== undefined && typeof log !== "function") {
    throw new InvalidArgumentError("redisMembership: log must be a function (level, message) => void");
  }
  // Validate timings before opening any connection.
  resolveMembershipTimings(options, "redisMembership");
  if (client !== undefined) {
    if (typeof client !== "object" || client === null || typeof (client as Redis).evalsha !== "function") {
      throw new InvalidArgumentError("redisMembership: client must be an ioredis client");
    }
    return new RedisMembership(options, client, false);
  }
  if (typeof url !== "string" || !/^rediss?:\/\/[^/]/.test(url)) {
    throw new InvalidArgumentError(
      `redisMembership: url must look like redis://host:port or rediss://host:port, got ${JSON.stringify(url)}`,
    );
  }
  // lazyConnect: creating a provider opens nothing; join() connects. No offline
  // queue: a heartbeat sent while disconnected fails at once instead of being
  // sent late, and nothing is left to run after join() gave up.
  const owned = new Redis(url, {
    connectionName: `praas-membership:${cluster}`,
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy,
    // A connection attempt into a dead link is abandoned soon and tried again (see #redial).
    connectTimeout: REDIAL_CONNECT_TIMEOUT_MS,
  });
  // The provider adds the error listener (outage reporting) before anything connects.
  return new RedisMembership(options, owned, true);
}
