import { ManualClock, Silo, StaleActivationError } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { Account, TurnAccount } from "./actors.js";
import { nextDeactivation, providers, rejection, type StoreScope, storedState } from "./providers.js";

/**
 * Two silos share one store and one key, as two machines briefly disagreeing
 * about ownership would. Writes are conditional on the version each activation
 * loaded, so the one that is behind cannot overwrite newer state: its save
 * conflicts, it is dropped without saving, the call fails with a retryable
 * StaleActivationError, and the next call starts afresh from the newer state.
 */
describe.each(providers)("fencing across two silos ($name)", (provider) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function twoSilos(actors = [Account, TurnAccount]): Promise<{ a: Silo; b: Silo; scope: StoreScope }> {
    const scope = await provider.scope();
    cleanups.push(scope.cleanup);
    const clock = new ManualClock();
    const a = await Silo.start({ actors, storage: scope.open(), clock });
    const b = await Silo.start({ actors, storage: scope.open(), clock });
    cleanups.push(
      () => a.stop(),
      () => b.stop(),
    );
    return { a, b, scope };
  }

  it("drops the stale activation when its save conflicts, and the retry sees the newer state", async () => {
    const { a, b, scope } = await twoSilos();
    const onA = a.ref(Account, "acc");
    const onB = b.ref(Account, "acc");
    const id = { type: "Account", key: "acc" };

    expect(await onA.deposit(1)).toBe(1); // A: in memory, nothing stored yet
    expect(await onB.depositAndSave(10)).toBe(10); // B stores first
    expect(await storedState(scope, id)).toEqual({ balance: 10 });

    const dropped = nextDeactivation(a);
    const err = await rejection(onA.depositAndSave(1));
    expect(err).toBeInstanceOf(StaleActivationError);
    expect(err.code).toBe("STALE_ACTIVATION");
    expect(err.retryable).toBe(true);
    expect(await dropped).toEqual([id, "stale"]);
    expect(a.isActive(id)).toBe(false);
    // A's stale balance (2) never reached the store.
    expect(await storedState(scope, id)).toEqual({ balance: 10 });

    // Retrying activates afresh from B's state…
    expect(await onA.depositAndSave(1)).toBe(11);
    expect(await storedState(scope, id)).toEqual({ balance: 11 });
    // …and now B is the one behind.
    expect(await rejection(onB.depositAndSave(5))).toBeInstanceOf(StaleActivationError);
    expect(await onB.balance()).toBe(11);
    expect(await storedState(scope, id)).toEqual({ balance: 11 });
  });

  it('fences "turn" persistence on every write', async () => {
    const { a, b, scope } = await twoSilos();
    const onA = a.ref(TurnAccount, "t");
    const onB = b.ref(TurnAccount, "t");
    const id = { type: "TurnAccount", key: "t" };

    expect(await onA.deposit(1)).toBe(1);
    expect(await onB.deposit(10)).toBe(11); // B loaded A's write
    const err = await rejection(onA.deposit(100));
    expect(err).toBeInstanceOf(StaleActivationError);
    expect(await storedState(scope, id)).toEqual({ balance: 11 });
    expect(await onA.balance()).toBe(11);
    expect(await onA.deposit(1)).toBe(12);
    expect(await storedState(scope, id)).toEqual({ balance: 12 });
  });

  it("swaps a stale activation out (deactivate, stop) without writing its state", async () => {
    const { a, b, scope } = await twoSilos();
    const onA = a.ref(Account, "s");
    const id = { type: "Account", key: "s" };
    await onA.deposit(5);
    await b.ref(Account, "s").depositAndSave(7);

    const dropped = nextDeactivation(a);
    await a.deactivate(onA);
    expect(await dropped).toEqual([id, "stale"]);
    expect(await storedState(scope, id)).toEqual({ balance: 7 });
    expect(await onA.balance()).toBe(7);

    // The same at stop: the silo stops cleanly and the newer state stays.
    await onA.deposit(1); // 8 in A's memory, A is current
    await b.deleteState(b.ref(Account, "s"));
    await b.ref(Account, "s").depositAndSave(100); // a new object: A's version is gone
    await a.stop();
    expect(await storedState(scope, id)).toEqual({ balance: 100 });
  });
});
