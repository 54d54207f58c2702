/**
 * Cluster failover on a TestCluster (@praas/testing): silos in one process on
 * an in-memory network and simulated time, so failure detection takes no real
 * time and every run with the same seed is the same run.
 */
import { TestCluster } from "@praas/testing";
import { afterEach, describe, expect, it, onTestFailed } from "vitest";
import { Actor } from "../src/index.js";

/** Lets a test hold a turn in the middle (a slow turn, a GC pause inside it). */
let release: (() => void) | undefined;
let held: Promise<void> = Promise.resolve();
function hold(): void {
  held = new Promise((resolve) => {
    release = resolve;
  });
}

class Account extends Actor<{ balance: number }> {
  static persistence = "turn" as const;
  static initialState(): { balance: number } {
    return { balance: 0 };
  }
  deposit(n: number): number {
    this.state.balance += n;
    return this.state.balance;
  }
  /** A deposit whose turn waits for the test before it ends (and is stored). */
  async slowDeposit(n: number): Promise<number> {
    this.state.balance += n;
    await held;
    return this.state.balance;
  }
  balance(): number {
    return this.state.balance;
  }
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  release?.();
  await cluster?.stop();
  cluster = undefined;
});

async function start(seed: number): Promise<TestCluster> {
  onTestFailed(() =>
    console.error(`seed ${seed}; faults:\n${cluster?.faults.join("\n")}\n${cluster?.logs.slice(-20).join("\n")}`),
  );
  cluster = await TestCluster.start({ silos: 3, actors: [Account], seed, silo: { callTimeoutMs: 20_000 } });
  return cluster;
}

describe("cluster failover (simulated)", () => {
  it("fences a turn that was running on a silo cut off while peers took over its actor", async () => {
    const c = await start(11);
    await c.ref(Account, "acc").deposit(10);
    const owner = await c.ownerIndex(Account, "acc");
    const other = (owner + 1) % 3;
    hold();
    // A turn starts on the owner and stays in the middle of its work …
    const slow = c.ref(Account, "acc", { via: owner }).slowDeposit(100);
    await c.advance(10);
    // … while the owner loses its peers and membership: they declare it dead and take the account over.
    c.isolate(owner);
    await c.advance(5_000);
    expect(await c.ref(Account, "acc", { via: other, retry: true }).deposit(1)).toBe(11);
    // The old turn ends now: its write must not land (the lease ran out; the stored version moved on).
    release?.();
    await expect(slow).rejects.toMatchObject({ retryable: true });
    c.heal();
    await c.converge();
    expect(await c.ref(Account, "acc", { retry: true }).balance()).toBe(11);
    expect(await c.stored(Account, "acc")).toEqual({ balance: 11 });
  });

  it("moves a crashed silo's actors with nothing acknowledged lost, for every owner", async () => {
    const c = await start(12);
    const keys = ["a", "b", "c", "d", "e", "f"];
    for (const k of keys) await c.ref(Account, k).deposit(k.charCodeAt(0));
    const victim = await c.ownerIndex(Account, "a");
    await c.crash(victim);
    for (const k of keys) expect(await c.ref(Account, k, { retry: true }).balance()).toBe(k.charCodeAt(0));
    await c.restart(victim);
    for (const k of keys) expect(await c.ref(Account, k, { via: victim }).deposit(1)).toBe(k.charCodeAt(0) + 1);
  });
});
