/**
 * The state step of an activation: loading its record (migrating an older
 * `stateVersion`), and every write of it — the one fenced conditional save, the
 * group commit of "turn" persistence, explicit saves, and the pause before a
 * failed swap-out's save is tried again. Writes of one activation run one at a
 * time, in order, so a later write never lands under an earlier one; a write
 * that finds newer state marks the activation stale and sends it away. Kept
 * apart from the lifecycle so "what is stored, and when" reads in one place
 * (Orleans' grain storage plays this part).
 */
import {
  type ActorClass,
  type ActorId,
  assertEncodable,
  decodeStateRecord,
  describeError,
  encodeStateRecord,
  type RetryPolicy,
  retryDelay,
  StaleActivationError,
  StateConflictError,
  StateVersionError,
} from "@praas/core/internal";
import type { ActivationHost, DeactivationOutcome, DeactivationReason } from "./activation-host.js";
import type { Inbox } from "./inbox.js";
import type { ActorTypeInfo } from "./registry.js";
import { logReset } from "./reset-log.js";

/** What the state step needs from its activation. */
export interface PersistentStateHost {
  readonly id: ActorId;
  readonly idString: string;
  readonly info: ActorTypeInfo;
  readonly ctx: Pick<ActivationHost, "store" | "clock" | "report" | "log">;
  /** Holds the actor's state as its turns leave it (what is encoded), and where a load puts it. */
  readonly facade: { state: unknown };
  /** True once a conditional write found newer state: never write again. */
  stale: boolean;
  /** The inbox, if the activation has one: stored beside the state. */
  readonly inbox: Inbox | undefined;
  inboxOrNew(): Inbox;
  deactivate(reason: DeactivationReason): Promise<DeactivationOutcome>;
}

/**
 * Pauses before a failed swap-out is tried again: 1 s, doubling, at most 5 min
 * (exact, no jitter: only this silo retries this save, there is no herd to spread).
 */
const SAVE_RETRY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 300_000, jitter: "none" };

const RESOLVED: Promise<void> = Promise.resolve();

/** Marks a never-stored activation whose initial-state digest has not been computed yet. */
const PRISTINE: unique symbol = Symbol("pristine");

/** Byte-for-byte equality (a memcmp: an order of magnitude faster than hashing both sides). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** A fresh actor's state: its class's `initialState()`, if it has one. */
export function initialStateOf(cls: ActorClass): unknown {
  return typeof cls.initialState === "function" ? cls.initialState() : undefined;
}

/** The stored state of one activation, and the queue of its writes. */
export class PersistentState {
  /** Version token of what this activation loaded or last wrote; null while nothing is stored. */
  #version: string | null = null;
  /** Failed swap-out attempts in a row, and when the next may run (clock ms). */
  saveFailures = 0;
  saveRetryAt = 0;
  /**
   * The record last loaded or written, to skip writes of unchanged state with a
   * byte comparison; never changed (it may be the store's own bytes: see
   * StateStore.loadShared). `PRISTINE` for a never-stored actor: its initial
   * state is only encoded if it is ever about to be written.
   */
  #savedBytes: Uint8Array | typeof PRISTINE | undefined;
  /** The last write queued (its failure swallowed): the next one runs after it. */
  #saving: Promise<void> | undefined;
  /** Writes queued or running. */
  #writing = 0;
  /** The turn commit waiting behind the write in progress: turns that end meanwhile join it. */
  #nextCommit: Promise<void> | undefined;
  /** The record as the last turn left it, encoded at its end: what the next turn commit writes. */
  #boundary: Uint8Array | undefined;

  readonly #host: PersistentStateHost;

  constructor(host: PersistentStateHost) {
    this.#host = host;
  }

  /** Read the stored record into the host (migrating an older `stateVersion`), or start from the initial state. */
  async load(): Promise<void> {
    const host = this.#host;
    const { info } = host;
    const cls = info.cls;
    if (info.persistence !== "none") {
      const { store } = host.ctx;
      // Shared where the store offers it: nothing here changes the bytes (decoding copies what
      // the state keeps), and a swap-in saves the copy.
      const stored = await (store.loadShared?.(host.id) ?? store.load(host.id));
      if (stored !== undefined) {
        const record = decodeStateRecord(stored.data, () => store.describe(host.id));
        if (record.stateVersion > info.stateVersion) {
          throw new StateVersionError(host.idString, record.stateVersion, info.stateVersion);
        }
        let state = record.state;
        if (record.stateVersion < info.stateVersion) {
          if (typeof cls.migrateState !== "function") {
            throw new StateVersionError(host.idString, record.stateVersion, info.stateVersion);
          }
          state = await cls.migrateState(state, record.stateVersion);
        }
        host.facade.state = state;
        this.#version = stored.version;
        this.#savedBytes = stored.data;
        if (record.inbox !== undefined || record.delivered !== undefined) {
          host.inboxOrNew().restore(record.inbox ?? [], record.delivered ?? []);
        }
        return;
      }
    }
    const state = initialStateOf(cls);
    host.facade.state = state;
    if (info.persistence !== "none") {
      assertEncodable(state, `initial state of ${info.name}`);
      // An untouched actor is never written; what "untouched" looks like is worked out lazily.
      this.#savedBytes = PRISTINE;
    }
  }

  /** Write the state (as it is when the write starts) if it changed since it was loaded or last written. */
  persist(): Promise<void> {
    const host = this.#host;
    if (host.info.persistence === "none") return Promise.resolve();
    if (host.stale) return Promise.reject(new StaleActivationError(host.idString));
    // With no write queued it starts now: a swap-out waits for its write, and a promise hop
    // (right after an idle wait: a cold one) is that much more before the store sees it.
    return this.enqueue(() => this.#writeBytes(this.#encode()), this.#writing === 0);
  }

  /**
   * "turn" persistence: make the state as this turn left it durable. It is
   * encoded now, at the turn boundary — never mid-way through a later turn —
   * and written at once if no write is running; otherwise by the next write,
   * which every turn ending meanwhile joins (one write per batch of turns,
   * carrying the newest boundary). A turn that changed nothing still waits
   * for writes in flight: it may have read what they hold.
   */
  commitTurn(): Promise<void> {
    try {
      this.#boundary = this.#encode();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#nextCommit !== undefined) return this.#nextCommit;
    if (this.#writing === 0 && this.#unchanged(this.#boundary)) return RESOLVED;
    let started = false;
    // With no write queued or running it starts at once (a promise hop less before the flush).
    const commit = this.enqueue(() => {
      started = true;
      // Turns that end from now on wait for the write after this one.
      this.#nextCommit = undefined;
      return this.#writeBytes(this.#boundary as Uint8Array);
    }, this.#writing === 0);
    // Still waiting to start: turns that end meanwhile join it.
    if (!started) this.#nextCommit = commit;
    // Beside the callers' chain, not on it (no hop added to a reply), and before their handlers run.
    commit.catch((err: unknown) => this.reset(err, "write failed"));
    return commit;
  }

  /**
   * Drop this activation's changes since its last durable write ("turn"
   * persistence), as Durable Objects reset an object. When a turn's write
   * fails (the store is down, the disk full), or a turn ends while the silo
   * is not serving, its caller is told the call failed — yet the state in
   * memory holds its changes, and turns that ran since may have seen them.
   * Written later, those changes would become durable after all; answered, a
   * reply would be computed from them. So the activation never writes or
   * answers again (calls waiting on it fail with the retryable
   * STALE_ACTIVATION), and the next call loads what the store holds. A
   * conflict has done this already.
   */
  reset(err: unknown, cause: "write failed" | "not serving"): void {
    const host = this.#host;
    if (host.stale) return;
    host.stale = true;
    void host.deactivate("stale");
    if (cause === "write failed") host.ctx.report("save", host.idString, err);
    // One line for a burst (a store outage resets every "turn" actor that writes).
    logReset(
      host.ctx,
      host.idString,
      cause === "write failed" ? "a turn's write failed" : "a turn ended while the silo was not serving",
      err,
    );
  }

  /**
   * Writes of an activation run one at a time, in order: turn commits, saves, inbox checkpoints.
   * `now`: no write is queued or running, so `write` starts before this returns rather than a
   * microtask later.
   */
  enqueue(write: () => Promise<void>, now = false): Promise<void> {
    this.#writing++;
    const done = (): void => {
      this.#writing--;
    };
    let p: Promise<void>;
    if (now) {
      try {
        p = write();
      } catch (err) {
        p = Promise.reject(err);
      }
    } else p = (this.#saving ?? RESOLVED).then(write);
    // Never rejects: the next write runs after this one, whatever its outcome (one promise, not two).
    this.#saving = p.then(done, done);
    return p;
  }

  /** The stored record was written from elsewhere than memory (an inbox checkpoint): the next persist writes in full. */
  forgetSavedBytes(): void {
    this.#savedBytes = undefined;
  }

  /**
   * The one conditional write of an activation: on the version it loaded or last
   * wrote. A conflict means someone wrote newer state: this activation is a
   * stale copy, so it goes (without saving) and the caller gets a retryable error.
   */
  // Not async: a `then` on the store's promise is one promise and a reaction, where an async
  // function adds its own promise and a resumption (this runs on every durable turn).
  saveFenced(bytes: Uint8Array, keepBytes = false): Promise<void> {
    const host = this.#host;
    const expected = this.#version;
    let saved: Promise<string>;
    try {
      saved = host.ctx.store.save(host.id, bytes, expected);
    } catch (err) {
      saved = Promise.reject(err);
    }
    return saved.then(
      (version) => {
        this.#version = version;
        // What later writes compare with (only the runtime's own records: not an inbox checkpoint's).
        if (keepBytes) this.#savedBytes = bytes;
      },
      (err: unknown) => {
        if (!(err instanceof StateConflictError)) throw err;
        host.stale = true;
        void host.deactivate("stale");
        this.#reportConflict(err, expected);
        throw new StaleActivationError(host.idString);
      },
    );
  }

  /** A swap-out could not save: count it, and set when the next attempt may run. */
  saveFailed(err: unknown): void {
    const host = this.#host;
    this.saveFailures++;
    this.saveRetryAt = host.ctx.clock.now() + retryDelay(SAVE_RETRY, this.saveFailures);
    host.ctx.report("save", host.idString, err);
    // One line per activation, not one per attempt: the state is safe in memory meanwhile.
    if (this.saveFailures === 1) {
      host.ctx.log(
        "error",
        `${host.idString}: swap-out failed, keeping it in memory and retrying with backoff: ${describeError(err)}`,
        host.idString,
        err,
      );
    }
  }

  #encode(): Uint8Array {
    const host = this.#host;
    const box = host.inbox?.snapshot();
    const last = this.#savedBytes;
    return encodeStateRecord(
      {
        stateVersion: host.info.stateVersion,
        state: host.facade.state,
        inbox: box?.messages,
        delivered: box?.delivered,
      },
      last instanceof Uint8Array ? last.byteLength : 0,
    );
  }

  /** Are these the bytes last loaded or written? (So there is nothing to write.) */
  #unchanged(bytes: Uint8Array): boolean {
    if (this.#savedBytes === PRISTINE) {
      const { info } = this.#host;
      this.#savedBytes =
        this.#version === null
          ? encodeStateRecord({ stateVersion: info.stateVersion, state: initialStateOf(info.cls) })
          : undefined;
    }
    return this.#savedBytes !== undefined && sameBytes(bytes, this.#savedBytes);
  }

  #writeBytes(bytes: Uint8Array): Promise<void> {
    if (this.#host.stale) return Promise.reject(new StaleActivationError(this.#host.idString));
    if (this.#unchanged(bytes)) return RESOLVED;
    return this.saveFenced(bytes, true);
  }

  /**
   * A conditional write lost: someone else stored newer state. With "turn"
   * persistence nothing acknowledged is lost (the caller gets the error); in
   * the other modes the changes made here since the last save are — so say so
   * loudly, naming both versions.
   */
  #reportConflict(err: StateConflictError, expected: string | null): void {
    const { ctx, idString, id, info } = this.#host;
    ctx.report("conflict", idString, err);
    const lost = info.persistence !== "turn";
    const was = expected === null ? "expected no stored state" : `expected version ${expected}`;
    ctx.store.load(id).then(
      (current) => {
        const found = current === undefined ? "found none" : `found version ${current.version}`;
        ctx.log(
          lost ? "error" : "warn",
          `${idString}: conflicting write (${was}, ${found}): another activation stored newer state; ` +
            (lost
              ? "this activation's changes since its last save are dropped"
              : "the call was refused with STALE_ACTIVATION, nothing acknowledged is lost"),
          idString,
          err,
        );
      },
      (loadErr) =>
        ctx.log(
          "error",
          `${idString}: conflicting write (${was}); reading the current version failed: ${describeError(loadErr)}`,
          idString,
          err,
        ),
    );
  }
}
