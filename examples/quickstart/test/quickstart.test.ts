import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryStateStore } from "@praas/core";
import { Silo } from "@praas/silo";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Cart, Catalog, Counter } from "../src/actors.js";

const main = join(dirname(fileURLToPath(import.meta.url)), "../dist/main.js");

describe("quickstart actors", () => {
  let silo: Silo;
  beforeAll(async () => {
    silo = await Silo.start({ actors: [Counter, Cart, Catalog], storage: new MemoryStateStore() });
  });
  afterAll(() => silo.stop());

  test("Counter adds finite numbers and keeps its value across a swap-out", async () => {
    const alice = silo.ref(Counter, "alice");
    expect(await alice.add(5)).toBe(5);
    expect(await alice.add(-2)).toBe(3);
    await expect(alice.add(Number.NaN)).rejects.toThrow(/finite number/);
    expect(await silo.deactivate(alice)).toBe(true);
    expect(await alice.get()).toBe(3);
  });

  test("Cart keeps a Map and a Date, and totals its items by asking Catalog", async () => {
    const cart = silo.ref(Cart, "u1");
    expect(await cart.add("apple", 2)).toBe(2);
    expect(await cart.add("pear")).toBe(1);
    const items = await cart.list();
    expect(items).toBeInstanceOf(Map);
    expect([...items]).toEqual([
      ["apple", 2],
      ["pear", 1],
    ]);
    expect(await cart.total()).toBe(2 * 3 + 4);
    await silo.ref(Catalog, "main").setPrice("pear", 10);
    expect(await cart.total()).toBe(2 * 3 + 10);
  });

  test("an unknown SKU fails the total with the catalog's own error code", async () => {
    const cart = silo.ref(Cart, "u2");
    await cart.add("kiwi");
    await expect(cart.total()).rejects.toMatchObject({ code: "UNKNOWN_SKU", message: "unknown SKU kiwi" });
    expect(await cart.remove("kiwi")).toBe(true);
    expect(await cart.remove("kiwi")).toBe(false);
  });
});

describe("node examples/quickstart/dist/main.js", () => {
  let stateDir: string;
  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), "praas-quickstart-"));
  });
  afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

  function runMain(): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [main],
        { env: { ...process.env, PRAAS_STATE_DIR: stateDir }, timeout: 60_000 },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
  }

  test("runs as the README says, and a second run continues where the first stopped", async () => {
    const first = await runMain();
    expect(first).toContain("Counter/alice.add(5) → 5");
    expect(first).toContain("Cart/u42.total() → 10 (Cart asked Catalog/main for prices)");
    expect(first).toMatch(/Cart\/u42\.total\(\) failed as expected: Error \[UNKNOWN_SKU\] unknown SKU kiwi/);
    expect(first).toContain("after swap-out, Counter/alice.get() → 5 (swapped back in)");
    expect(first).toContain(`silo stopped; state saved in ${stateDir}`);

    const second = await runMain();
    expect(second).toContain("Counter/alice.add(5) → 10");
    expect(second).toContain("Cart/u42.total() → 20 (Cart asked Catalog/main for prices)");
  });
});
