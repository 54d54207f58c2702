/**
 * PraaS process semantics across silos: send/recv between actors on two silos,
 * durable messages, stateless invocation staying local, and reminders taken
 * over by the survivor when their owner leaves.
 */
import { Actor, MemoryReminderStore, type ReminderFiring, type Silo } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { hosts, startCluster, type TestCluster } from "./cluster-helpers.js";

class Player extends Actor<{ hits: number }> {
  static initialState() {
    return { hits: 0 };
  }
  touch(): number {
    return this.state.hits;
  }
  async serve(opponent: string, rounds: number): Promise<number> {
    const other = this.ref(Player, opponent);
    for (let i = 0; i < rounds; i++) {
      await this.send(other, "ball", i);
      const back = await this.recv<number>("ball", { from: other });
      if (back.data !== i) throw new Error(`expected ${i}, got ${String(back.data)}`);
      this.state.hits++;
    }
    return this.state.hits;
  }
  async returner(rounds: number): Promise<number> {
    for (let i = 0; i < rounds; i++) {
      const m = await this.recv<number>("ball");
      await this.send({ type: "Player", key: (m.from as string).slice("Player/".length) }, "ball", m.data);
    }
    return rounds;
  }
  async take(): Promise<unknown> {
    return (await this.recv("inbox", { timeoutMs: 5_000 })).data;
  }
}

class Where extends Actor {
  static readonly stateless = true;
  whoami(): string {
    return this.key;
  }
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Activate `count` keys and return one hosted on each of the first two silos. */
async function keysOnTwoSilos(silos: Silo[]): Promise<[string, string]> {
  const [s0, s1] = silos as [Silo, Silo];
  for (let i = 0; i < 40; i++) await s0.ref(Player, `p${i}`).touch();
  const on = (s: Silo) => Array.from({ length: 40 }, (_, i) => `p${i}`).find((k) => hosts(silos, "Player", k)[0] === s);
  const a = on(s0);
  const b = on(s1);
  if (a === undefined || b === undefined) throw new Error("placement put no key on one of the silos");
  return [a, b];
}

describe("send/recv across silos", () => {
  it("plays ping-pong between actors on two silos", async () => {
    cluster = await startCluster([Player, Where], 2);
    const [a, b] = await keysOnTwoSilos(cluster.silos);
    const [s0, s1] = cluster.silos as [Silo, Silo];
    const returning = s1.ref(Player, b).returner(25);
    // Called through the other silo on purpose: the call itself is routed too.
    expect(await s1.ref(Player, a).serve(b, 25)).toBe(25);
    expect(await returning).toBe(25);
    expect(hosts(cluster.silos, "Player", a)).toEqual([s0]);
  });

  it("delivers a durable message sent through one silo to an actor owned by another", async () => {
    cluster = await startCluster([Player, Where], 2);
    const [, b] = await keysOnTwoSilos(cluster.silos);
    const [s0] = cluster.silos as [Silo, Silo];
    const writesBefore = cluster.store.writes;
    await s0.send({ type: "Player", key: b }, "inbox", { order: 1 }, { durable: true });
    expect(cluster.store.writes).toBe(writesBefore + 1);
    expect(await s0.ref(Player, b).take()).toEqual({ order: 1 });
  });

  it("runs stateless invocations on the calling silo", async () => {
    cluster = await startCluster([Player, Where], 2);
    const [s0, s1] = cluster.silos as [Silo, Silo];
    await Promise.all(Array.from({ length: 8 }, () => s0.invoke(Where, "whoami")));
    await Promise.all(Array.from({ length: 8 }, () => s1.invoke(Where, "whoami")));
    const workersOn = (s: Silo) => s.clusterView().silos.find((x) => x.id === s.siloId)?.perType?.Where ?? 0;
    expect(workersOn(s0)).toBeGreaterThan(0);
    expect(workersOn(s1)).toBeGreaterThan(0);
  });
});

describe("control calls reach the silo that hosts the actor", () => {
  it("locate, deactivate and deleteState through a silo that does not host it", async () => {
    cluster = await startCluster([Player, Where], 2);
    const [s0, s1] = cluster.silos as [Silo, Silo];
    const [, b] = await keysOnTwoSilos(cluster.silos); // b lives on s1
    const id = { type: "Player", key: b };
    // s0 does not host b, yet answers for it, and asking activates nothing.
    expect(await s0.locate(id)).toEqual({ active: true, silo: s1.siloId });
    const away = { type: "Player", key: "never-called" };
    expect((await s0.locate(away)).active).toBe(false);
    expect(hosts(cluster.silos, "Player", "never-called")).toEqual([]);

    expect(await s0.deactivate(id)).toBe(true);
    expect(hosts(cluster.silos, "Player", b)).toEqual([]);
    expect(await s0.deactivate(id)).toBe(false);

    // Give b state, then delete it for good through the other silo.
    await s1.send(id, "inbox", "x", { durable: true });
    expect(await cluster.store.load(id)).toBeDefined();
    expect(await s0.deleteState(id)).toBe(true);
    expect(await cluster.store.load(id)).toBeUndefined();
    expect(hosts(cluster.silos, "Player", b)).toEqual([]);
  });
});

describe("reminders in a cluster", () => {
  class Beacon extends Actor<{ fired: number }> {
    static readonly fired: string[] = [];
    static onFire: (() => void) | undefined;
    static initialState() {
      return { fired: 0 };
    }
    async arm(): Promise<void> {
      await this.remind("blink", { every: 200 });
    }
    override onReminder(_name: string, _firing: ReminderFiring): void {
      this.state.fired++;
      Beacon.fired.push(this.key);
      Beacon.onFire?.();
    }
    count(): number {
      return this.state.fired;
    }
  }

  it("fire on the owner and move to the survivor when the owner leaves", async () => {
    const reminders = new MemoryReminderStore();
    // Shared reminder store; a short refresh so the survivor picks reminders up quickly.
    cluster = await startCluster([Beacon], 2, { silo: { reminders, reminderRefreshMs: 100 } });
    const [s0, s1] = cluster.silos as [Silo, Silo];
    const keys = Array.from({ length: 12 }, (_, i) => `b${i}`);
    for (const k of keys) await s0.ref(Beacon, k).arm();
    const onS1 = keys.filter((k) => hosts(cluster?.silos ?? [], "Beacon", k)[0] === s1);
    expect(onS1.length).toBeGreaterThan(0);
    // Resolves once every one of `ks` has fired (the test's timeout bounds the wait).
    const firedAll = (ks: string[]) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (ks.every((k) => Beacon.fired.includes(k))) resolve();
        };
        Beacon.onFire = check;
        check();
      });
    await firedAll(keys);
    await s1.stop(); // the owner of some beacons leaves
    Beacon.fired.length = 0;
    await firedAll(onS1);
    for (const k of onS1) {
      expect(hosts(cluster.silos, "Beacon", k)).toEqual([s0]);
      expect(await s0.ref(Beacon, k).count()).toBeGreaterThanOrEqual(2);
    }
  });
});
