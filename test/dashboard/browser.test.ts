/**
 * The dashboard in a real browser: Debian's headless Chromium driven by
 * playwright-core (no browser is downloaded; CHROMIUM_BIN may point
 * elsewhere). A two-silo cluster on real sockets; the page is loaded from one
 * gateway and must show both silos, follow the load, and inspect, deactivate
 * and delete the state of an actor. Screenshots go to test-output/dashboard/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DashboardCluster, Gate, startDashboardCluster, TOKEN } from "./cluster.js";

/** The dashboard refreshes about once a second; its data may be a couple of seconds old. */
const SOON = { timeout: 10_000 };

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "..", "..", "test-output", "dashboard");

let cluster: DashboardCluster;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  cluster = await startDashboardCluster(2);
  // Root in a container has no user namespaces for Chromium's sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await cluster?.close();
});

function gateway(i: number) {
  const gw = cluster.gateways[i];
  if (gw === undefined) throw new Error(`no gateway ${i}`);
  return gw;
}

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? "";

describe("dashboard in Chromium", () => {
  it("asks for the token, then shows both silos", async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway(0).url}/dashboard`);
    await page.locator("#login").waitFor({ state: "visible" });
    await page.screenshot({ path: join(SHOTS, "login.png") });
    await page.fill("#token", "not-the-token");
    await page.click("#login button[type=submit]");
    await page.locator("#login-error").waitFor({ state: "visible" });
    expect(await page.locator("#main").isHidden()).toBe(true);
    await page.fill("#token", TOKEN);
    await page.click("#login button[type=submit]");
    const ids = cluster.silos.map((s) => s.siloId);
    for (const id of ids) await page.locator(`#silos tr[data-silo="${id}"]`).waitFor();
    expect(await page.locator("#silos tbody tr").count()).toBe(2);
    expect(await text(page, "#t-silos")).toBe("2");
    expect(await text(page, `#silos tr[data-silo="${ids[1]}"] td:nth-child(2)`)).toBe("active");
    await page.screenshot({ path: join(SHOTS, "silos.png"), fullPage: true });
    await page.close();
  });

  it("follows the load: activations and calls per second change", async () => {
    // Loaded from the second gateway: what it shows of the first silo came over the silo transport.
    const page = await browser.newPage();
    await page.goto(`${gateway(1).url}/dashboard#token=${TOKEN}`);
    await page.locator("#silos tbody tr[data-silo]").first().waitFor();
    const before = Number((await text(page, "#t-activations")).replace(/,/g, ""));

    const [a] = cluster.silos;
    if (a === undefined) throw new Error("silo");
    let running = true;
    const parked: Promise<unknown>[] = [];
    const load = (async () => {
      for (let i = 0; running; i++) {
        await a.call("Counter", `load-${i % 40}`, "add", [1]);
        if (i % 50 === 0) await a.call("Counter", "load-0", "fail", []).catch(() => {});
      }
    })();
    try {
      await expect
        .poll(async () => Number((await text(page, "#t-activations")).replace(/,/g, "")), SOON)
        .toBeGreaterThanOrEqual(before + 40);
      await page.locator('#calls tr[data-call="Counter.add"]').waitFor();
      await expect
        // Thousands are written "1,234".
        .poll(async () =>
          Number((await text(page, '#calls tr[data-call="Counter.add"] td:nth-child(3)')).replace(/,/g, "")),
        )
        .toBeGreaterThan(0);
      await expect
        .poll(() => text(page, '#calls tr[data-call="Counter.fail"] td:nth-child(8)'))
        .toContain("ACTOR_ERROR");
      await expect.poll(() => text(page, '#types tr[data-type="Counter"] td:nth-child(2)'), SOON).not.toBe("");
      // Three calls held in one actor: the busiest, one click away from the inspector.
      parked.push(...[1, 2, 3].map(() => a.call("Gate", "jammed", "wait", [])));
      const busiest = page.locator("#busiest tbody tr.clickable").first();
      await expect.poll(() => busiest.textContent(), SOON).toContain("Gate/jammed");
      await page.screenshot({ path: join(SHOTS, "under-load.png"), fullPage: true });
      await busiest.click();
      await expect.poll(() => text(page, "#a-queued"), SOON).toBe("2");
      expect(await text(page, "#a-running")).toBe("1");
    } finally {
      running = false;
      Gate.open("jammed");
      await Promise.all([load, ...parked]);
    }
  });

  it("inspects an actor, deactivates it, and deletes its state after confirmation", async () => {
    const [a] = cluster.silos;
    if (a === undefined) throw new Error("silo");
    const id = { type: "Counter", key: "inspect-me" };
    await a.call(id.type, id.key, "add", [7]);
    const where = await a.locate(id);

    const page = await browser.newPage();
    await page.goto(`${gateway(1).url}/dashboard#token=${TOKEN}`);
    await page.locator("#find-type option[value=Counter]").waitFor({ state: "attached" });
    await page.selectOption("#find-type", "Counter");
    await page.fill("#find-key", id.key);
    await page.click("#find button[type=submit]");
    await expect.poll(() => text(page, "#a-active"), SOON).toBe("yes");
    expect(await text(page, "#a-silo")).toBe(where.silo);
    expect(await text(page, "#a-queued")).toBe("0");
    await page.screenshot({ path: join(SHOTS, "inspector.png"), fullPage: true });

    await page.click("#deactivate");
    await expect.poll(() => text(page, "#action-result"), SOON).toContain("Deactivated");
    await expect.poll(() => text(page, "#a-active"), SOON).toBe("no");
    expect(await text(page, "#a-stored")).toBe("yes");
    expect(a.isActive(id) || cluster.silos.some((s) => s.isActive(id))).toBe(false);

    // Cancelling the confirmation deletes nothing.
    await page.click("#delete-state");
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.click("#confirm-cancel");
    await expect.poll(() => text(page, "#action-result"), SOON).toBe("Not deleted.");
    expect(await cluster.store.load(id)).toBeDefined();

    await page.click("#delete-state");
    await page.locator("#confirm").waitFor({ state: "visible" });
    await page.screenshot({ path: join(SHOTS, "confirm-delete.png") });
    await page.click("#confirm-ok");
    await expect.poll(() => text(page, "#action-result"), SOON).toBe("State deleted.");
    await expect.poll(() => text(page, "#a-stored"), SOON).toBe("no");
    expect(await cluster.store.load(id)).toBeUndefined();
    await page.close();
  });

  it("shows a clear error for a key the gateway refuses", async () => {
    const page = await browser.newPage();
    await page.goto(`${gateway(0).url}/dashboard#token=${TOKEN}`);
    await page.locator("#find-type option[value=Counter]").waitFor({ state: "attached" });
    await page.fill("#find-key", "x".repeat(1024));
    // Past the input's own limit, straight through the page's function.
    await page.evaluate(() => {
      (document.getElementById("find-key") as HTMLInputElement).value = "x".repeat(1025);
      (document.getElementById("find") as HTMLFormElement).requestSubmit();
    });
    await expect.poll(() => text(page, "#inspect-error"), SOON).toContain("INVALID_ARGUMENT");
    await page.close();
  });
});
