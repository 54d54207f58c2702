import { type ActorId, encodeStateRecord, MemoryStateStore, type StateStore, type StoredState } from "@praas/core";
import { ManualClock, RESET_LOG_WINDOW_MS, Silo } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { Account, TurnAccount, VolatileAccount } from "./actors.js";
import { providers, rejection, type StoreScope, storedState } from "./providers.js";

/** Counts writes and can hold them back until released, to observe when the runtime writes. */
class WatchedStore implements StateStore {
  readonly kind: string;
  saves = 0;
  #gate: Promise<void> | undefined;
  #saveStarted: (() => void) | undefined;

  constructor(readonly inner: StateStore) {
    this.kind = inner.kind;
  }

  #failure: Error | undefined;
  /** While set, every save fails with it (an outage). */
  outage: Error | undefined;

  /** The next save fails with `err` (a store outage, a full disk) without reaching the store. */
  failNext(err: Error): void {
    this.#failure = err;
  }

  /** Hold every save until the returned function is called; `started` resolves when one is waiting. */
  hold(): { started: Promise<void>; release: () => void } {
    let release!: () => void;
    this.#gate = new Promise((r) => {
      release = r;
    });
    const started = new Promise<void>((r) => {
      this.#saveStarted = r;
    });
    return {
      started,
      release: () => {
        this.#gate = undefined;
        release();
      },
    };
  }

  load(id: ActorId): Promise<StoredState | undefined> {
    return this.inner.load(id);
  }
  async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    this.saves++;
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#saveStarted?.();
      await gate;
    }
    const failure = this.#failure ?? this.outage;
    this.#failure = undefined;
    if (failure !== undefined) throw failure;
    return this.inner.save(id, data, expected);
  }
  delete(id: ActorId, expected?: string): Promise<void> {
    return this.inner.delete(id, expected);
  }
  describe(id: ActorId): string {
    return this.inner.describe(id);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe.each(providers)("persistence modes ($name)", (provider) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(): Promise<{ silo: Silo; scope: StoreScope; store: WatchedStore }> {
    const scope = await provider.scope();
    cleanups.push(scope.cleanup);
    const store = new WatchedStore(scope.open());
    const silo = await Silo.start({
      actors: [Account, TurnAccount, VolatileAccount],
      storage: store,
      clock: new ManualClock(),
    });
    cleanups.push(() => silo.stop());
    return { silo, scope, store };
  }

  it('"deactivate" (default) writes on swap-out, on stop and on saveState, not after each call', async () => {
    const { silo, scope } = await start();
    const ref = silo.ref(Account, "a");
    const id = { type: "Account", key: "a" };
    await ref.deposit(5);
    expect(await storedState(scope, id)).toBeUndefined();
    await silo.deactivate(ref);
    expect(silo.isActive(ref)).toBe(false);
    expect(await storedState(scope, id)).toEqual({ balance: 5 });

    expect(await ref.deposit(1)).toBe(6); // swapped back in from the store
    expect(await storedState(scope, id)).toEqual({ balance: 5 });
    expect(await ref.depositAndSave(1)).toBe(7);
    expect(silo.isActive(ref)).toBe(true);
    expect(await storedState(scope, id)).toEqual({ balance: 7 });

    await ref.deposit(3);
    await silo.stop();
    expect(await storedState(scope, id)).toEqual({ balance: 10 });
  });

  it('"turn" writes after every changing turn, before the reply is released', async () => {
    const { silo, scope, store } = await start();
    const ref = silo.ref(TurnAccount, "t");
    const id = { type: "TurnAccount", key: "t" };
    for (const n of [1, 2, 3]) {
      const balance = await ref.deposit(n);
      expect(await storedState(scope, id)).toEqual({ balance });
    }

    // Hold the write: the reply must wait for it.
    const held = store.hold();
    let replied = false;
    const reply = ref.deposit(10).then((v) => {
      replied = true;
      return v;
    });
    await held.started;
    await new Promise((r) => setImmediate(r)); // give a premature reply every chance to arrive
    expect(replied).toBe(false);
    expect(await storedState(scope, id)).toEqual({ balance: 6 });
    held.release();
    expect(await reply).toBe(16);
    expect(await storedState(scope, id)).toEqual({ balance: 16 });
  });

  it('"turn": turns run on while a write is in flight; their replies wait for one shared write', async () => {
    const { silo, scope, store } = await start();
    const ref = silo.ref(TurnAccount, "g");
    const id = { type: "TurnAccount", key: "g" };
    await ref.deposit(1);
    const savesBefore = store.saves;
    const held = store.hold();
    const replied: number[] = [];
    const first = ref.deposit(1).then((v) => replied.push(v));
    await held.started;
    // Ten more turns and a read, all run while the first write is held…
    const more = Array.from({ length: 10 }, () => ref.deposit(1).then((v) => replied.push(v)));
    const read = ref.balance().then((v) => replied.push(-v));
    await new Promise((r) => setImmediate(r));
    // …yet nothing is acknowledged before the write holding it is durable.
    expect(replied).toEqual([]);
    expect(await storedState(scope, id)).toEqual({ balance: 1 });
    held.release();
    await Promise.all([first, ...more, read]);
    expect(replied.filter((v) => v > 0).sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(replied).toContain(-12);
    expect(await storedState(scope, id)).toEqual({ balance: 12 });
    // One write for the first turn, one shared by the eleven that ended while it was held.
    expect(store.saves - savesBefore).toBe(2);
  });

  it('"turn": a write that loses to newer state fails every reply waiting on it or after it', async () => {
    const { silo, scope, store } = await start();
    const ref = silo.ref(TurnAccount, "c");
    const id = { type: "TurnAccount", key: "c" };
    await ref.deposit(1);
    const held = store.hold();
    const pending = [ref.deposit(1), ref.deposit(1), ref.balance()].map((p) => p.catch((e: unknown) => e));
    await held.started;
    // Another writer stores newer state while our write waits.
    const current = await store.inner.load(id);
    await store.inner.save(
      id,
      encodeStateRecord({ stateVersion: 1, state: { balance: 100 } }),
      current?.version ?? null,
    );
    held.release();
    for (const r of await Promise.all(pending)) expect(r).toMatchObject({ code: "STALE_ACTIVATION" });
    expect(await storedState(scope, id)).toEqual({ balance: 100 });
    expect(await ref.deposit(1)).toBe(101);
  });

  it('"turn": a write that fails resets the activation: replies that could have seen its change fail, the next call starts from what is stored', async () => {
    const { silo, scope, store } = await start();
    const ref = silo.ref(TurnAccount, "f");
    const id = { type: "TurnAccount", key: "f" };
    await ref.deposit(1);
    const held = store.hold();
    store.failNext(new Error("disk full"));
    const first = ref.deposit(10).catch((e: unknown) => e);
    await held.started;
    // These run on the state the failing write holds (balance 11) while it is in flight.
    const after = [ref.deposit(1), ref.balance()].map((p) => p.catch((e: unknown) => e));
    held.release();
    expect(await first).toBeInstanceOf(Error);
    for (const r of await Promise.all(after)) expect(r).toMatchObject({ code: "STALE_ACTIVATION" });
    // Nothing acknowledged is lost and nothing refused was stored; a fresh activation goes on from there.
    expect(await storedState(scope, id)).toEqual({ balance: 1 });
    expect(await ref.deposit(1)).toBe(2);
    expect(await storedState(scope, id)).toEqual({ balance: 2 });
  });

  it("does not rewrite unchanged state (reads, no-op turns, swap-out after a load)", async () => {
    const { silo, store } = await start();
    const turn = silo.ref(TurnAccount, "u");
    await turn.deposit(1);
    expect(store.saves).toBe(1);
    await turn.balance();
    await turn.deposit(0);
    await silo.deactivate(turn);
    expect(store.saves).toBe(1);

    const plain = silo.ref(Account, "u");
    await plain.balance(); // activated with the initial state, never stored
    await silo.deactivate(plain);
    expect(store.saves).toBe(1);
    await plain.deposit(2);
    await silo.deactivate(plain);
    expect(store.saves).toBe(2);
    await plain.balance(); // loaded, untouched
    await silo.deactivate(plain);
    expect(store.saves).toBe(2);
  });

  it('"none" never writes: the state is volatile', async () => {
    const { silo, scope, store } = await start();
    const ref = silo.ref(VolatileAccount, "v");
    const id = { type: "VolatileAccount", key: "v" };
    await ref.deposit(5);
    await ref.depositAndSave(1); // saveState is a no-op here
    await silo.deactivate(ref);
    expect(await ref.deposit(1)).toBe(1);
    await silo.stop();
    expect(store.saves).toBe(0);
    expect(await storedState(scope, id)).toBeUndefined();
  });
});

describe('"turn" resets in a store outage', () => {
  it("are logged once, then summed up once per window while they go on, and reported one by one", async () => {
    const store = new WatchedStore(new MemoryStateStore());
    const clock = new ManualClock();
    const lines: string[] = [];
    const failures: string[] = [];
    const silo = await Silo.start({
      actors: [TurnAccount],
      storage: store,
      clock,
      log: (level, message) => {
        if (level === "error") lines.push(message);
      },
    });
    silo.on("failure", (f) => failures.push(`${f.kind} ${f.actor}`));
    try {
      const refs = Array.from({ length: 20 }, (_, i) => silo.ref(TurnAccount, `o${i}`));
      store.outage = new Error("store down");
      for (const r of await Promise.all(refs.map((ref) => ref.deposit(1).catch((e: unknown) => e)))) {
        expect(r).toBeInstanceOf(Error);
      }
      expect(failures.filter((f) => f.startsWith("save ")).length).toBe(20);
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^TurnAccount\/o0: a turn's write failed, so the activation is reset .*store down$/);
      await clock.advance(RESET_LOG_WINDOW_MS);
      expect(lines.length).toBe(2);
      expect(lines[1]).toMatch(
        /^19 more activation\(s\) reset in the last 10 s .*a turn's write failed: .*store down$/,
      );
      // Still down: the next burst is summed up a window later, not logged line by line.
      await Promise.all(refs.slice(0, 5).map((ref) => ref.deposit(1).catch(() => {})));
      expect(lines.length).toBe(2);
      await clock.advance(RESET_LOG_WINDOW_MS);
      expect(lines[2]).toMatch(/^5 more activation\(s\) reset/);
      // A quiet window, then a new outage starts with a line of its own.
      await clock.advance(2 * RESET_LOG_WINDOW_MS);
      expect(lines.length).toBe(3);
      await refs[7]?.deposit(1).catch(() => {});
      expect(lines.length).toBe(4);
      expect(lines[3]).toMatch(/^TurnAccount\/o7: a turn's write failed/);
      store.outage = undefined;
      expect(await refs[7]?.deposit(1)).toBe(1);
    } finally {
      await silo.stop();
    }
  });
});

/**
 * "Nothing acknowledged is lost": in "turn" mode the value is durable when
 * the reply arrives, so cutting the silo's store connection right after it
 * loses nothing. In "deactivate" mode the same cut loses the value, which
 * shows the check can fail.
 */
describe.each(providers.filter((p) => p.name === "redis" || p.name === "s3"))(
  "durability at the reply ($name)",
  (provider) => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    async function start(): Promise<{ silo: Silo; scope: StoreScope; kill: () => void }> {
      const scope = await provider.scope();
      cleanups.push(scope.cleanup);
      const killable = scope.openKillable?.();
      if (killable === undefined) throw new Error(`${provider.name} has no connection to kill`);
      const silo = await Silo.start({
        actors: [Account, TurnAccount],
        storage: killable.store,
        clock: new ManualClock(),
      });
      return { silo, scope, kill: killable.kill };
    }

    it('"turn": the value is already durable when the reply arrives', async () => {
      const { silo, scope, kill } = await start();
      const ref = silo.ref(TurnAccount, "d");
      await ref.deposit(1);
      const balance = await ref.deposit(41).then((v) => {
        kill(); // in the same tick as the reply: no write can follow it
        return v;
      });
      expect(balance).toBe(42);
      expect(await storedState(scope, { type: "TurnAccount", key: "d" })).toEqual({ balance: 42 });
      // With the connection gone, a changing call is not acknowledged…
      await expect(ref.deposit(1)).rejects.toThrow();
      expect(await storedState(scope, { type: "TurnAccount", key: "d" })).toEqual({ balance: 42 });
      // …and its change is not kept for a later write: the activation was reset, so a stop has
      // nothing left to save (what was acknowledged is stored).
      expect(silo.isActive(ref)).toBe(false);
      expect(await silo.stop()).toMatchObject({ failed: [] });
      expect(await storedState(scope, { type: "TurnAccount", key: "d" })).toEqual({ balance: 42 });
    });

    it('"deactivate": the same cut loses the value (it was never written)', async () => {
      const { silo, scope, kill } = await start();
      const ref = silo.ref(Account, "d");
      const balance = await ref.deposit(42).then((v) => {
        kill();
        return v;
      });
      expect(balance).toBe(42);
      expect(await storedState(scope, { type: "Account", key: "d" })).toBeUndefined();
      const err = await rejection(silo.stop());
      expect(err).toBeInstanceOf(AggregateError);
    });
  },
);
