/**
 * A cluster silo serves only under a fresh membership lease, and when it
 * loses its membership it says so, drops its activations unsaved and rejoins
 * under a new id. In-process silos on one manual clock (membership, deadlines
 * and timers all follow it), real silo-to-silo sockets.
 */
import {
  decodeStateRecord,
  HashRing,
  leaseMarginMs,
  ManualClock,
  type MembershipProvider,
  MemoryMembershipRegistry,
  memoryMembership,
  type PraasError,
} from "@praas/core/internal";
import { Actor, type DeactivationReason, type Gateway, Silo, startGateway } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { PARK_LIMIT_MS } from "../src/cluster/cluster.js";
import { SECRET, SharedStore } from "./cluster-helpers.js";

const HEARTBEAT = 500;
const DEAD_AFTER = 2000;
const timings = { heartbeatMs: HEARTBEAT, deadAfterMs: DEAD_AFTER };

/** Every increment is stored before it is acknowledged. */
class Tally extends Actor<{ value: number }> {
  static persistence = "turn" as const;
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

/** State saved only on deactivation: what is in memory is all there is. */
class Scratch extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
}

/** A turn that waits for the test to open the gate. */
class Gate extends Actor<{ value: number }> {
  static persistence = "turn" as const;
  static open: () => void = () => {};
  static initialState() {
    return { value: 0 };
  }
  async hold(): Promise<string> {
    await new Promise<void>((resolve) => {
      Gate.open = resolve;
    });
    this.state.value++;
    return "held";
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
}

/** "deactivate" persistence: a turn that waits for the test, then saves explicitly. */
class LateSaver extends Actor<{ value: number }> {
  static open: () => void = () => {};
  static initialState() {
    return { value: 0 };
  }
  async holdThenSave(): Promise<string> {
    await new Promise<void>((resolve) => {
      LateSaver.open = resolve;
    });
    this.state.value++;
    await this.saveState();
    return "saved";
  }
}

interface Member {
  readonly silo: Silo;
  readonly membership: MembershipProvider;
  readonly log: string[];
  readonly deactivations: [string, DeactivationReason][];
}

interface World {
  readonly clock: ManualClock;
  readonly registry: MemoryMembershipRegistry;
  readonly store: SharedStore;
  readonly members: Member[];
}

let world: World | undefined;
const gateways: Gateway[] = [];

afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close({ drainTimeoutMs: 100 })));
  if (world !== undefined) await Promise.allSettled(world.members.map((m) => m.silo.stop()));
  world = undefined;
});

async function start(size: number): Promise<World> {
  const clock = new ManualClock();
  const registry = new MemoryMembershipRegistry({ clock });
  const store = new SharedStore();
  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    const log: string[] = [];
    const membership = memoryMembership(registry, timings);
    const silo = await Silo.start({
      actors: [Tally, Scratch, Gate, LateSaver],
      clock,
      storage: store,
      idleTimeoutMs: 600_000,
      log: (level, message) => log.push(`${level} ${message}`),
      cluster: { name: "lease", membership, secret: SECRET },
    });
    const deactivations: [string, DeactivationReason][] = [];
    silo.on("deactivate", (id, reason) => deactivations.push([`${id.type}/${id.key}`, reason]));
    members.push({ silo, membership, log, deactivations });
  }
  world = { clock, registry, store, members };
  return world;
}

/** A key of `type` that `silo` owns in the registry's current view. */
function keyOwnedBy(w: World, type: string, silo: Silo): string {
  const ring = HashRing.fromView(w.registry.view());
  for (let i = 0; i < 100_000; i++) if (ring.owner(`${type}/k${i}`) === silo.siloId) return `k${i}`;
  throw new Error("no key found");
}

const statusIn = (w: World, id: string) => w.registry.view().silos.find((s) => s.id === id)?.status;

async function failure(p: Promise<unknown>): Promise<PraasError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as PraasError;
}

async function storedValue(w: World, type: string, key: string): Promise<unknown> {
  const stored = await w.store.load({ type, key });
  if (stored === undefined) return undefined;
  return (decodeStateRecord(stored.data, "test").state as { value: number }).value;
}

function lines(m: Member, pattern: RegExp): string[] {
  return m.log.filter((l) => pattern.test(l));
}

function rejoined(silo: Silo): Promise<string> {
  return new Promise((resolve) => silo.once("rejoined", (id) => resolve(id)));
}

describe("the membership lease", () => {
  it("stops a silo cut off from membership from serving reads and writes before any peer could take its keys; calls wait, and are served when a heartbeat gets through", async () => {
    const w = await start(2);
    const [, b] = w.members as [Member, Member];
    const key = keyOwnedBy(w, "Tally", b.silo);
    expect(await b.silo.ref(Tally, key).add(5)).toBe(5);
    w.registry.partition(b.silo.siloId);
    const leaseEnd = b.membership.leaseValidUntil();
    await w.clock.advance(leaseEnd - w.clock.now() - 1);
    // Still within the lease: serving.
    expect(b.silo.servingError()).toBeUndefined();
    expect(await b.silo.ref(Tally, key).get()).toBe(5);
    await w.clock.advance(1);
    const refusal = b.silo.servingError();
    expect(refusal?.code).toBe("SILO_UNAVAILABLE");
    expect(refusal?.message).toMatch(/membership lease expired/);
    // Calls made now are not served: they wait for membership's verdict.
    const settled: string[] = [];
    const read = b.silo.ref(Tally, key).get();
    const write = b.silo.ref(Tally, key).add(1);
    void read.then(() => settled.push("read"));
    void write.then(() => settled.push("write"));
    await w.clock.advance(1);
    expect(settled).toEqual([]);
    // Nobody has declared it dead yet: the lease ends first.
    expect(statusIn(w, b.silo.siloId)).toBe("active");
    expect(lines(b, /lease expired/)).toHaveLength(1);
    expect(b.silo.clusterView()).toMatchObject({ serving: false, reason: expect.stringMatching(/lease expired/) });
    // Healed before the detection bound: the next beat renews the lease, the activation was kept,
    // and the waiting calls are served in order.
    w.registry.partition(b.silo.siloId, false);
    await w.clock.advance(HEARTBEAT);
    expect(b.silo.servingError()).toBeUndefined();
    expect(await read).toBe(5);
    expect(await write).toBe(6);
    expect(b.silo.isActive({ type: "Tally", key })).toBe(true);
    expect(await b.silo.ref(Tally, key).add(1)).toBe(7);
    expect(lines(b, /lease renewed .* serving again/)).toHaveLength(1);
    expect(lines(b, /lease expired/)).toHaveLength(1);
  });

  it('writes nothing once its lease ran out: writes in flight are abandoned, a save is refused, a "turn" activation whose turn ends then is reset', async () => {
    const w = await start(2);
    const [, b] = w.members as [Member, Member];
    let abandoned = 0;
    (w.store as { abandonWrites?: () => void }).abandonWrites = () => abandoned++;
    const gateKey = keyOwnedBy(w, "Gate", b.silo);
    const saverKey = keyOwnedBy(w, "LateSaver", b.silo);
    // Two turns running when the lease runs out.
    const held = failure(b.silo.ref(Gate, gateKey).hold());
    const saving = failure(b.silo.ref(LateSaver, saverKey).holdThenSave());
    await w.clock.advance(1);
    w.registry.partition(b.silo.siloId);
    await w.clock.advance(b.membership.leaseValidUntil() - w.clock.now());
    expect(b.silo.servingError()?.code).toBe("SILO_UNAVAILABLE");
    expect(abandoned).toBe(1);
    Gate.open();
    LateSaver.open();
    expect((await held).code).toBe("SILO_UNAVAILABLE");
    expect((await saving).code).toBe("SILO_UNAVAILABLE");
    // Neither change reached the store: a peer may already have loaded these keys.
    expect(await storedValue(w, "Gate", gateKey)).toBeUndefined();
    expect(await storedValue(w, "LateSaver", saverKey)).toBeUndefined();
    // Healed before the detection bound: serving again. The "turn" activation was reset, so the
    // refused turn's change is gone rather than written by the next turn.
    w.registry.partition(b.silo.siloId, false);
    await w.clock.advance(HEARTBEAT);
    expect(b.silo.servingError()).toBeUndefined();
    expect(await b.silo.ref(Gate, gateKey).add(1)).toBe(1);
    expect(await storedValue(w, "Gate", gateKey)).toBe(1);
  });

  it("refuses (retryable) the calls that waited longer than the park limit for a lease that did not come back", async () => {
    const w = await start(2);
    const [, b] = w.members as [Member, Member];
    const key = keyOwnedBy(w, "Tally", b.silo);
    expect(await b.silo.ref(Tally, key).add(5)).toBe(5);
    w.registry.partition(b.silo.siloId);
    await w.clock.advance(b.membership.leaseValidUntil() - w.clock.now());
    const calls = [failure(b.silo.ref(Tally, key).get()), failure(b.silo.ref(Tally, key).add(1))];
    await w.clock.advance(PARK_LIMIT_MS);
    for (const call of calls) {
      const err = await call;
      expect(err.code).toBe("SILO_UNAVAILABLE");
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/lease expired/);
    }
    // The survivor took the key over from its stored state meanwhile.
    expect(statusIn(w, b.silo.siloId)).toBe("dead");
    expect(await w.members[0]?.silo.ref(Tally, key).get()).toBe(5);
  });

  it("a silo partitioned past the detection bound drops its activations unsaved when it hears it was evicted, rejoins under a new id and serves again", async () => {
    const w = await start(2);
    const [a, b] = w.members as [Member, Member];
    const key = keyOwnedBy(w, "Scratch", b.silo);
    const oldId = b.silo.siloId;
    // Unsaved: with the default persistence this lives in b's memory only.
    expect(await b.silo.ref(Scratch, key).add(5)).toBe(5);
    w.registry.partition(oldId);
    for (let i = 0; i < 20 && statusIn(w, oldId) !== "dead"; i++) await w.clock.advance(HEARTBEAT);
    expect(statusIn(w, oldId)).toBe("dead");
    // The survivor owns the key now (from its stored state: none).
    expect(await a.silo.ref(Scratch, key).add(1)).toBe(1);
    const evicted = new Promise<string>((resolve) => b.silo.once("evicted", resolve));
    const back = rejoined(b.silo);
    w.registry.partition(oldId, false);
    await w.clock.advance(HEARTBEAT);
    expect(await evicted).toMatch(/peers declared silo .* dead/);
    const newId = await back;
    expect(newId).toBe(`${oldId}.1`);
    expect(b.silo.siloId).toBe(newId);
    expect(b.silo.incarnation).toBe(1);
    expect(b.deactivations).toContainEqual([`Scratch/${key}`, "lost"]);
    // Dropped without saving: its stale 5 never reached the store, so the
    // survivor's acknowledged increment is saved (on hand-over or now) without a conflict.
    await a.silo.deactivate({ type: "Scratch", key });
    expect(await storedValue(w, "Scratch", key)).toBe(1);
    expect(await b.silo.ref(Scratch, key).add(1)).toBe(2);
    expect(lines(b, /lost its membership of cluster lease: peers declared silo .* dead/)).toHaveLength(1);
    expect(lines(b, new RegExp(`rejoined cluster lease as ${newId.replace(".", "\\.")}`))).toHaveLength(1);
    expect(statusIn(w, oldId)).toBe("dead");
    expect(statusIn(w, newId)).toBe("active");
  });

  it("fails the running call of a dropped activation (retryable) without storing it; its queued calls never run there and are served after the rejoin", async () => {
    const w = await start(2);
    const [, b] = w.members as [Member, Member];
    const key = keyOwnedBy(w, "Gate", b.silo);
    expect(await b.silo.ref(Gate, key).add(1)).toBe(1);
    const held = failure(b.silo.ref(Gate, key).hold());
    const queued = [b.silo.ref(Gate, key).add(1), b.silo.ref(Gate, key).add(1)];
    const back = rejoined(b.silo);
    w.registry.declareDead(b.silo.siloId);
    Gate.open();
    const err = await held;
    expect(err.code).toBe("SILO_UNAVAILABLE");
    expect(err.retryable).toBe(true);
    await back;
    // The held turn's increment was never stored; the queued calls ran once, on the key's owner now.
    expect(await Promise.all(queued)).toEqual([2, 3]);
    expect(await storedValue(w, "Gate", key)).toBe(3);
  });

  it("a turn that never returns on the dropped activation does not hold its key against the next incarnation", async () => {
    const w = await start(2);
    const [a, b] = w.members as [Member, Member];
    const oldId = b.silo.siloId;
    // A key b owns now and will own again as its next incarnation.
    const now = HashRing.fromView(w.registry.view());
    const next = new HashRing([a.silo.siloId, `${oldId}.1`]);
    let key = "";
    for (let i = 0; key === "" && i < 100_000; i++) {
      if (now.owner(`Gate/k${i}`) === oldId && next.owner(`Gate/k${i}`) === `${oldId}.1`) key = `k${i}`;
    }
    expect(await b.silo.ref(Gate, key).add(1)).toBe(1);
    const stuck = failure(b.silo.ref(Gate, key).hold());
    const back = rejoined(b.silo);
    w.registry.declareDead(oldId);
    expect(await back).toBe(`${oldId}.1`);
    expect(b.silo.isActive({ type: "Gate", key })).toBe(false);
    expect(await b.silo.ref(Gate, key).add(1)).toBe(2);
    // When it finally ends, its answer does not leave: that copy may be stale.
    Gate.open();
    expect((await stuck).code).toBe("STALE_ACTIVATION");
  });

  it("when the membership store loses its data, every silo says so (readyz 503, its real status), waits out the old leases, rejoins and serves with no action", async () => {
    const w = await start(2);
    const [a, b] = w.members as [Member, Member];
    const gw = await startGateway(b.silo, { host: "127.0.0.1", port: 0 });
    gateways.push(gw);
    const keys = [keyOwnedBy(w, "Tally", a.silo), keyOwnedBy(w, "Tally", b.silo)];
    for (const k of keys) expect(await a.silo.ref(Tally, k).add(7)).toBe(7);
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    const oldId = b.silo.siloId;
    const back = w.members.map((m) => rejoined(m.silo));
    const evictedReasons: string[] = [];
    b.silo.on("evicted", (reason) => evictedReasons.push(reason));
    w.registry.clear();
    expect(evictedReasons).toHaveLength(1);
    expect(evictedReasons[0]).toMatch(/entry of silo .* is gone/);
    // Out of the cluster: it says so everywhere, and serves nothing.
    const ready = await fetch(`${gw.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: "not-serving",
      reason: expect.stringMatching(/lost its cluster membership/),
    });
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const view = (await (await fetch(`${gw.url}/v1/cluster`)).json()) as {
      self: string;
      serving: boolean;
      silos: { id: string; status: string }[];
    };
    expect(view.self).toBe(oldId);
    expect(view.serving).toBe(false);
    expect(view.silos.find((s) => s.id === oldId)?.status).toBe("dead");
    // A call made now waits (it is served once the silo is back, within the park limit).
    const waiting = b.silo.ref(Tally, keys[1] as string).get();
    let answered = false;
    void waiting.then(() => {
      answered = true;
    });
    // Peers that had not noticed yet may still hold leases: nobody rejoins before they are over.
    await w.clock.advance(DEAD_AFTER - leaseMarginMs(DEAD_AFTER));
    expect(w.registry.view().silos).toEqual([]);
    expect(answered).toBe(false);
    await w.clock.advance(leaseMarginMs(DEAD_AFTER));
    await Promise.all(back);
    expect(await waiting).toBe(7);
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    const after = (await (await fetch(`${gw.url}/v1/cluster`)).json()) as { self: string; serving: boolean };
    expect(after).toMatchObject({ self: `${oldId}.1`, serving: true });
    for (const k of keys) expect(await b.silo.ref(Tally, k).add(1)).toBe(8);
    for (const m of w.members) {
      expect(lines(m, /lost its membership/)).toHaveLength(1);
      expect(lines(m, /rejoined cluster/)).toHaveLength(1);
    }
  });

  it("gives up after rejoinTimeoutMs out of the cluster: the silo stops and says so", async () => {
    const clock = new ManualClock();
    const registry = new MemoryMembershipRegistry({ clock });
    const log: string[] = [];
    const membership = memoryMembership(registry, timings);
    const silo = await Silo.start({
      actors: [Tally],
      clock,
      storage: new SharedStore(),
      log: (level, message) => log.push(`${level} ${message}`),
      cluster: {
        name: "lease",
        membership,
        secret: SECRET,
        rejoinTimeoutMs: 5_000,
      },
    });
    world = { clock, registry, store: new SharedStore(), members: [] };
    const lost = new Promise<PraasError>((resolve) => silo.once("membershipLost", resolve));
    let gaveUp = false;
    void lost.then(() => {
      gaveUp = true;
    });
    // Cut off for good: the lease runs out, and nothing renews it.
    registry.partition(silo.siloId);
    const leaseEnd = membership.leaseValidUntil();
    await clock.advance(leaseEnd + 5_000 - 1 - clock.now());
    expect(silo.servingError()).toBeDefined();
    expect(gaveUp).toBe(false);
    await clock.advance(1);
    const err = await lost;
    expect(err.code).toBe("MEMBERSHIP_LOST");
    expect(err.message).toMatch(/could not get back into cluster lease within 5000 ms/);
    expect(log.filter((l) => l.startsWith("error"))).toHaveLength(1);
    await silo.stop();
  });
});
