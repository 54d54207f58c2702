import { ManualClock, Silo } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { Account } from "./actors.js";
import { nextDeactivation, providers, type StoreScope, storedState } from "./providers.js";

/** Swapping as in PraaS: on demand, by LRU under `maxActivations`, and removing swapped state for good. */
describe.each(providers)("swapping ($name)", (provider) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(maxActivations?: number): Promise<{ silo: Silo; scope: StoreScope }> {
    const scope = await provider.scope();
    cleanups.push(scope.cleanup);
    const silo = await Silo.start({
      actors: [Account],
      storage: scope.open(),
      clock: new ManualClock(),
      ...(maxActivations === undefined ? {} : { maxActivations }),
    });
    cleanups.push(() => silo.stop());
    return { silo, scope };
  }

  const id = (key: string) => ({ type: "Account", key });

  it("swaps out the least recently used activation when maxActivations is exceeded", async () => {
    const { silo, scope } = await start(2);
    const a = silo.ref(Account, "a");
    const b = silo.ref(Account, "b");
    const c = silo.ref(Account, "c");
    await a.deposit(1);
    await b.deposit(2);
    await a.balance(); // a is now more recent than b

    let swapped = nextDeactivation(silo);
    await c.deposit(3);
    expect(await swapped).toEqual([id("b"), "capacity"]);
    expect([silo.isActive(a), silo.isActive(b), silo.isActive(c)]).toEqual([true, false, true]);
    expect(silo.activationCount).toBe(2);
    expect(await storedState(scope, id("b"))).toEqual({ balance: 2 });

    // b comes back with its state; a is now the least recently used and goes.
    swapped = nextDeactivation(silo);
    expect(await b.deposit(10)).toBe(12);
    expect(await swapped).toEqual([id("a"), "capacity"]);
    expect(await storedState(scope, id("a"))).toEqual({ balance: 1 });
    expect([silo.isActive(a), silo.isActive(b), silo.isActive(c)]).toEqual([false, true, true]);
  });

  it("swaps one out on demand with silo.deactivate (a no-op when it is not active)", async () => {
    const { silo, scope } = await start();
    const ref = silo.ref(Account, "d");
    await silo.deactivate(ref); // never activated
    await ref.deposit(4);
    const swapped = nextDeactivation(silo);
    await silo.deactivate(ref);
    expect(await swapped).toEqual([id("d"), "request"]);
    expect(silo.activationCount).toBe(0);
    expect(await storedState(scope, id("d"))).toEqual({ balance: 4 });
    expect(await ref.balance()).toBe(4);
  });

  it("removes swapped state for good with deleteState", async () => {
    const { silo, scope } = await start();
    const ref = silo.ref(Account, "gone");
    await ref.deposit(5);
    await silo.deactivate(ref);
    expect(await storedState(scope, id("gone"))).toEqual({ balance: 5 });
    await silo.deleteState(ref);
    expect(await storedState(scope, id("gone"))).toBeUndefined();
    expect(await ref.balance()).toBe(0);
    await silo.deleteState({ type: "Account", key: "never-stored" }); // nothing to delete is fine
  });

  it("deleteState of an active actor drops it without saving its unsaved changes", async () => {
    const { silo, scope } = await start();
    const ref = silo.ref(Account, "live");
    await ref.depositAndSave(5);
    await ref.deposit(100); // unsaved
    const dropped = nextDeactivation(silo);
    await silo.deleteState(ref);
    expect(await dropped).toEqual([id("live"), "delete"]);
    expect(silo.isActive(ref)).toBe(false);
    expect(await storedState(scope, id("live"))).toBeUndefined();
    expect(await ref.balance()).toBe(0);
    await silo.stop();
    expect(await storedState(scope, id("live"))).toBeUndefined();
  });
});
