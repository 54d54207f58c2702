/**
 * What one silo reports, and what the cluster view does with a silo that
 * cannot report: stuck turns and last errors on an embedded silo, and a
 * cluster silo without a gateway listed as such while the rest is shown.
 */
import { MemoryMembershipRegistry, MemoryStateStore, memoryMembership } from "@praas/core";
import { Actor, type ActorDetails, type ClusterSnapshot, type Gateway, Silo, startGateway } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { api, Counter, TOKEN } from "./cluster.js";

/** The dashboard refreshes about once a second; its data may be a couple of seconds old. */
const SOON = { timeout: 10_000 };

class Hang extends Actor {
  forever(): Promise<void> {
    return new Promise(() => {});
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(silo: Silo, gateway: boolean): Promise<Gateway | undefined> {
  cleanups.push(() => silo.stop().catch(() => {}));
  if (!gateway) return undefined;
  const gw = await startGateway(silo, { port: 0, host: "127.0.0.1", token: TOKEN });
  cleanups.push(() => gw.close({ drainTimeoutMs: 100 }));
  return gw;
}

describe("silo statistics", () => {
  it("report stuck turns, and the inspector shows the actor's last failure", async () => {
    const silo = await Silo.start({
      actors: [Hang],
      storage: new MemoryStateStore(),
      callTimeoutMs: 100,
      stuckTurnGraceMs: 100,
    });
    const gw = (await started(silo, true)) as Gateway;
    await expect(silo.call("Hang", "h1", "forever", [])).rejects.toMatchObject({ code: "TIMEOUT" });
    await expect
      .poll(async () => (await api<ClusterSnapshot>(gw, "/dashboard/api/cluster")).body.totals.stuckTotal, SOON)
      .toBe(1);
    const { body } = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster");
    expect(body.stuck[0]).toMatchObject({ actor: "Hang/h1", silo: silo.siloId });
    expect(body.silos.rows).toHaveLength(1);
    const inspected = await api<ActorDetails>(gw, "/dashboard/api/actor?type=Hang&key=h1");
    expect(inspected.body.lastError).toMatchObject({ kind: "stuck" });
  });

  it("list a cluster silo that runs no gateway as unavailable, and show the others", async () => {
    const registry = new MemoryMembershipRegistry();
    const store = new MemoryStateStore();
    const cluster = { name: "partial", secret: "dashboard-test-secret" };
    const withGateway = await Silo.start({
      actors: [Counter],
      storage: store,
      cluster: { ...cluster, membership: memoryMembership(registry) },
    });
    const gw = (await started(withGateway, true)) as Gateway;
    const bare = await Silo.start({
      actors: [Counter],
      storage: store,
      cluster: { ...cluster, membership: memoryMembership(registry) },
    });
    await started(bare, false);
    await expect
      .poll(async () => (await api<ClusterSnapshot>(gw, "/dashboard/api/cluster")).body.totals.silos, SOON)
      .toBe(2);
    const { body } = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster");
    expect(body.totals.silosAnswering).toBe(1);
    expect(body.silos.rows.find((r) => r.id === bare.siloId)?.unavailable).toContain("does not answer");
    expect(body.silos.rows.find((r) => r.id === withGateway.siloId)?.startedAt).toBeGreaterThan(0);
  });
});
