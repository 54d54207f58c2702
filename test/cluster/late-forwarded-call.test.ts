/**
 * A call forwarded between silos and held up in a partition between them is
 * not run when it finally arrives after its deadline. Two in-process silos,
 * each reachable by the other only through a TCP proxy the test freezes
 * (`advertise` names the proxy). Real sockets, real time.
 */
import { MemoryMembershipRegistry, MemoryStateStore, memoryMembership } from "@praas/core/internal";
import { Silo } from "@praas/silo";
import { freePort, startTcpProxy, type TcpProxy } from "@praas/testing";
import { afterEach, describe, expect, it } from "vitest";
import { bothInBothViews, keyOwnedBy, Tally } from "./two-silos.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo().catch(() => {});
});

async function siloBehindProxy(registry: MemoryMembershipRegistry, store: MemoryStateStore) {
  const port = await freePort();
  const proxy = await startTcpProxy(port);
  const silo = await Silo.start({
    actors: [Tally],
    storage: store,
    log: () => {},
    cluster: {
      name: "late",
      membership: memoryMembership(registry),
      listen: { host: "127.0.0.1", port },
      advertise: `127.0.0.1:${proxy.port}`,
    },
  });
  cleanup.push(async () => {
    proxy.thaw();
    await silo.stop();
    await proxy.close();
  });
  return { silo, proxy };
}

describe("a call forwarded between silos", () => {
  it("is refused unrun when a partition between the two silos held it past its deadline", async () => {
    const registry = new MemoryMembershipRegistry();
    const store = new MemoryStateStore();
    const a = await siloBehindProxy(registry, store);
    const b = await siloBehindProxy(registry, store);
    await bothInBothViews(a.silo, b.silo, 10_000);
    const key = keyOwnedBy(a.silo, b.silo, "Tally");
    // Through a: forwarded to b, the owner. The first calls open the link and tell each side
    // what the other understands; later ones carry their send time.
    expect(await a.silo.ref(Tally, key).add(1)).toBe(1);
    expect(await a.silo.ref(Tally, key).add(1)).toBe(2);
    const proxies: TcpProxy[] = [a.proxy, b.proxy];
    for (const p of proxies) p.freeze();
    // Both held in the cut; the add's caller gives up after 100 ms, the read's after 1 s. The add
    // is then about 1 s late: refused even if a stalled event loop had made the reference slow.
    const add = a.silo.ref(Tally, key, { timeoutMs: 100 }).add(10);
    const read = a.silo.ref(Tally, key, { timeoutMs: 1_000 }).get();
    expect(await add.catch((e: unknown) => e)).toMatchObject({ code: "TIMEOUT" });
    expect(await read.catch((e: unknown) => e)).toMatchObject({ code: "TIMEOUT" });
    for (const p of proxies) p.thaw();
    // Delivered to b now, some 1 s after a sent it: refused there, unrun.
    expect(await a.silo.ref(Tally, key).get()).toBe(2);
    expect(await b.silo.ref(Tally, key).add(1)).toBe(3);
  });
});
