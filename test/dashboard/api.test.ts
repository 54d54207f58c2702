/**
 * The dashboard's JSON API on a real two-silo cluster: every gateway shows
 * the whole cluster (statistics gathered from each silo over the silo
 * transport), counts follow the load, the inspector finds actors wherever
 * they live, and bad query input gets a clear 400.
 */
import type { ActorDetails, ClusterSnapshot } from "@praas/silo";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, Counter, type DashboardCluster, Gate, startDashboardCluster } from "./cluster.js";

/** The dashboard refreshes about once a second; its data may be a couple of seconds old. */
const SOON = { timeout: 10_000 };

let cluster: DashboardCluster;

beforeAll(async () => {
  cluster = await startDashboardCluster(2);
});

afterAll(async () => {
  await cluster?.close();
});

/** A key of `type` that the ring places on silo `index`. */
async function keyOn(index: number, prefix: string): Promise<string> {
  const silo = cluster.silos[index];
  if (silo === undefined) throw new Error(`no silo ${index}`);
  for (let i = 0; ; i++) {
    const key = `${prefix}-${i}`;
    const where = await silo.locate({ type: "Counter", key });
    if (where.silo === silo.siloId) return key;
  }
}

describe("dashboard API", () => {
  it("shows both silos, with their ages, through either gateway", async () => {
    for (const gw of cluster.gateways) {
      const { status, body } = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster");
      expect(status).toBe(200);
      expect(body.totals.silos).toBe(2);
      expect(body.totals.silosAnswering).toBe(2);
      expect(body.silos.rows.map((r) => r.id).sort()).toEqual(cluster.silos.map((s) => s.siloId).sort());
      for (const row of body.silos.rows) {
        expect(row.status).toBe("active");
        expect(row.startedAt).toBeGreaterThan(0);
        expect(row.unavailable).toBeUndefined();
      }
    }
  });

  it("counts activations per silo and per type, and calls, errors and latency per method", async () => {
    const [a, b] = cluster.silos;
    if (a === undefined || b === undefined) throw new Error("two silos");
    const onA = await keyOn(0, "a");
    const onB = await keyOn(1, "b");
    for (let i = 0; i < 20; i++) {
      await a.call("Counter", onA, "add", [1]);
      await a.call("Counter", onB, "add", [1]);
    }
    await expect(a.call("Counter", onB, "fail", [])).rejects.toThrow("asked to fail");
    const gw = cluster.gateways[0];
    if (gw === undefined) throw new Error("gateway");
    await expect
      .poll(async () => {
        const { body } = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster");
        return {
          perType: body.perType.Counter,
          perSilo: body.silos.rows.map((r) => r.activations),
          add: body.calls.find((c) => c.type === "Counter" && c.method === "add")?.callsPerS ?? 0,
          errors: body.calls.find((c) => c.method === "fail")?.errors,
        };
      }, SOON)
      .toMatchObject({ perType: 2, perSilo: [1, 1], errors: { ACTOR_ERROR: expect.any(Number) } });
    const { body } = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster");
    const add = body.calls.find((c) => c.method === "add");
    expect(add?.callsPerS).toBeGreaterThan(0);
    expect(add?.p50Ms).toBeGreaterThan(0);
    expect(add?.p99Ms).toBeGreaterThanOrEqual(add?.p50Ms ?? 0);
    expect(body.totals.swapInsPerS).toBeGreaterThan(0);
  });

  it("lists the busiest actors, wherever they are", async () => {
    const [a] = cluster.silos;
    if (a === undefined) throw new Error("silo");
    const key = "busy";
    const waiting = [1, 2, 3].map(() => a.call("Gate", key, "wait", []));
    const gw = cluster.gateways[1];
    if (gw === undefined) throw new Error("gateway");
    await expect
      .poll(async () => (await api<ClusterSnapshot>(gw, "/dashboard/api/cluster")).body.busiest[0], SOON)
      .toMatchObject({ type: "Gate", key, load: 3 });
    const inspected = await api<ActorDetails>(gw, "/dashboard/api/actor?type=Gate&key=busy");
    expect(inspected.body).toMatchObject({ active: true, running: 1, queued: 2 });
    Gate.open(key);
    await Promise.all(waiting);
  });

  it("inspects an actor: where it lives, active or not, stored state", async () => {
    const [a] = cluster.silos;
    const gw = cluster.gateways[1];
    if (a === undefined || gw === undefined) throw new Error("silo");
    await a.call("Counter", "inspect-me", "add", [5]);
    const where = await a.locate({ type: "Counter", key: "inspect-me" });
    const active = await api<ActorDetails>(gw, "/dashboard/api/actor?type=Counter&key=inspect-me");
    expect(active.status).toBe(200);
    expect(active.body).toMatchObject({ silo: where.silo, active: true, status: "active", queued: 0 });
    await a.deactivate({ type: "Counter", key: "inspect-me" });
    const swapped = await api<ActorDetails>(gw, "/dashboard/api/actor?type=Counter&key=inspect-me");
    expect(swapped.body).toMatchObject({ active: false, stored: true });
    const never = await api<ActorDetails>(gw, "/dashboard/api/actor?type=Counter&key=never-seen");
    expect(never.body).toMatchObject({ active: false, stored: false });
  });

  it("needs the token, like /metrics; the page itself holds no data", async () => {
    const gw = cluster.gateways[0];
    if (gw === undefined) throw new Error("gateway");
    expect((await api(gw, "/dashboard/api/cluster", null)).status).toBe(401);
    expect((await api(gw, "/dashboard/api/actor?type=Counter&key=x", "wrong")).status).toBe(401);
    const page = await fetch(`${gw.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("app.js");
  });

  it.each([
    ["/dashboard/api/cluster?page=-1", "page"],
    ["/dashboard/api/cluster?page=1.5", "page"],
    ["/dashboard/api/cluster?pageSize=0", "pageSize"],
    ["/dashboard/api/cluster?pageSize=101", "pageSize"],
    ["/dashboard/api/cluster?page=1&page=2", "twice"],
    ["/dashboard/api/cluster?sort=x", "Unknown query parameter"],
    ["/dashboard/api/actor?key=x", "type"],
    ["/dashboard/api/actor?type=Counter", "key"],
    ["/dashboard/api/actor?type=Counter&key=", "key"],
    ["/dashboard/api/actor?type=Counter&key=%01", "key"],
  ])("refuses %s with a 400 that names the problem", async (path, words) => {
    const gw = cluster.gateways[0];
    if (gw === undefined) throw new Error("gateway");
    const { status, body } = await api<{ error: { code: string; message: string } }>(gw, path);
    expect(status).toBe(400);
    expect(body.error.code).toBe("INVALID_ARGUMENT");
    expect(body.error.message).toContain(words);
  });

  it("answers an unknown type with 404 and pages the silo table", async () => {
    const gw = cluster.gateways[0];
    if (gw === undefined) throw new Error("gateway");
    expect((await api(gw, "/dashboard/api/actor?type=Nope&key=x")).status).toBe(404);
    const first = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster?page=0&pageSize=1");
    const second = await api<ClusterSnapshot>(gw, "/dashboard/api/cluster?page=1&pageSize=1");
    expect(first.body.silos.total).toBe(2);
    expect(first.body.silos.rows).toHaveLength(1);
    expect(second.body.silos.rows).toHaveLength(1);
    expect(second.body.silos.rows[0]?.id).not.toBe(first.body.silos.rows[0]?.id);
  });
});

// Keeps the class referenced for the type checker when a test is edited out.
void Counter;
