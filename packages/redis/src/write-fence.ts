/**
 * Writes fenced by cluster membership, on the Redis server itself: the piece
 * of Lua every writing script of a store starts with, and the store's side of
 * it (which record to check, what to send, what a refusal becomes).
 *
 * Where a store shares its Redis with the cluster's membership (same host,
 * port and database), a cluster silo hands it membership's record
 * (`fenceWrites`). From then on each write carries the silo's current member
 * id, and its script checks — in the same atomic step as the write — that the
 * membership hash lists that id as "active" or "leaving". Peers declare a silo
 * dead in that hash before they take over its actors, so a write that reaches
 * Redis after that (held in a partition, resent by ioredis after a
 * reconnection) is refused there, whenever it arrives.
 */
import { type LogFunction, type MemberRecord, PraasError, registerErrorClass } from "@praas/core/internal";
import type { Redis } from "ioredis";
import { redisServer } from "./health.js";

/**
 * The fence in Lua: ARGV[1] is the writing silo's id in the membership hash
 * KEYS[1], or "" for an unfenced store (KEYS[1] is then the script's own first
 * key). Unless the silo is a member, runs `cleanUp` and refuses with a
 * PRAASFENCED error reply naming the status found. Leaves `k0`: how many keys
 * the fence took (0 or 1), so a script's own keys start at KEYS[k0 + 1] and
 * its own arguments at ARGV[2].
 */
export function fenceLua(cleanUp = ""): string {
  return `
local k0 = 0
if ARGV[1] ~= '' then
  local st = redis.call('HGET', KEYS[1], ARGV[1])
  if st ~= 'active' and st ~= 'leaving' then
    ${cleanUp}
    return redis.error_reply('PRAASFENCED silo ' .. ARGV[1] .. ' is ' .. (st or 'not in the membership'))
  end
  k0 = 1
end
`;
}

/**
 * A write refused because this silo is not a member of its cluster (any more):
 * peers may own its actors now. Checked by Redis itself when the write is
 * applied, so it holds for a write that was delayed in the network too.
 * Nothing was written. Retryable: the call belongs on the key's owner.
 */
export class WriteFencedError extends PraasError {
  constructor(location: string, why: string) {
    super(
      "STORE_WRITE_FENCED",
      `The write to ${location} was refused: ${why} (another silo may own its actors now); nothing was written`,
      { retryable: true },
    );
  }
}
// Rebuilt as itself when it reaches a caller in this process.
registerErrorClass("STORE_WRITE_FENCED", WriteFencedError);

const UNFENCED: { readonly keys: readonly string[]; readonly member: string } = { keys: [], member: "" };

/** One store's fence: the record it checks, and its refusals (counted; logged once per silo id). */
export class WriteFence {
  readonly #client: Redis;
  readonly #log: LogFunction;
  /** What the store keeps, for its log line ("state", "reminder"). */
  readonly #what: string;
  #record: MemberRecord | undefined;
  readonly #logged = new Set<string>();
  #refused = 0;

  constructor(client: Redis, log: LogFunction, what: string) {
    this.#client = client;
    this.#log = log;
    this.#what = what;
  }

  /** Fence with `record` if it is a Redis record on this client's own server and database. */
  use(record: MemberRecord): boolean {
    if (record.kind !== "redis" || record.server !== redisServer(this.#client)) return false;
    this.#record = record;
    return true;
  }

  get on(): boolean {
    return this.#record !== undefined;
  }

  /** Writes Redis refused as fenced so far. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * The fence's leading key and first argument for a script: none and "" when
   * unfenced. Throws before this silo's first join (no write may go out yet).
   */
  args(location: string): { readonly keys: readonly string[]; readonly member: string } {
    const record = this.#record;
    if (record === undefined) return UNFENCED;
    const member = record.member();
    if (member === undefined) throw new WriteFencedError(location, "this silo has not joined its cluster yet");
    return { keys: [record.key], member };
  }

  /** A script's failure: a fenced refusal becomes a WriteFencedError (counted, said once per silo id); else as it is. */
  failure(err: unknown, location: string, writes: number): unknown {
    if (!(err instanceof Error && err.message.startsWith("PRAASFENCED "))) return err;
    const why = err.message.slice("PRAASFENCED ".length);
    this.#refused += writes;
    const member = this.#record?.member() ?? "";
    if (!this.#logged.has(member)) {
      this.#logged.add(member);
      this.#log(
        "warn",
        `Redis refused ${this.#what} writes of silo ${member} as fenced (${why}): they reached Redis after the silo lost its membership, and nothing of them was written; later refusals of this silo id are counted, not logged`,
      );
    }
    return new WriteFencedError(location, why);
  }
}
