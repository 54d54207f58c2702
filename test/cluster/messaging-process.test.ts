/**
 * PraaS messaging and reminders across silo processes, with `kill -9`: a
 * durable message survives the death of the receiving silo (a plain one does
 * not: that is the documented difference), and a durable reminder keeps firing
 * on the survivor after its owner dies.
 */
import { redisUrl } from "@praas/testing/vitest";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { assertBuilt, type CallResult, kill, ProcessClusters, type SiloProcess, value } from "./processes.js";

const clusters = new ProcessClusters(redisUrl);
beforeAll(() => assertBuilt());
afterEach(() => clusters.cleanup());

async function twoSilos(): Promise<[SiloProcess, SiloProcess]> {
  const { silos } = await clusters.start(2, "msg");
  return silos as [SiloProcess, SiloProcess];
}

/** Keys of `type` that are hosted by `owner` after a first call through `via`. */
async function keysOn(
  type: string,
  method: string,
  args: unknown[],
  via: SiloProcess,
  owner: SiloProcess,
): Promise<string[]> {
  const keys = Array.from({ length: 24 }, (_, i) => `${type.toLowerCase()}${i}`);
  for (const k of keys) value(await via.call(type, k, method, args));
  const here = await owner.active(type, keys);
  return keys.filter((_, i) => here[i]);
}

/** Call until it succeeds (the survivor must first notice the death), then return its value. */
async function callEventually(
  via: SiloProcess,
  type: string,
  key: string,
  method: string,
  args: unknown[],
): Promise<unknown> {
  let last: CallResult | undefined;
  await expect
    .poll(
      async () => {
        last = await via.call(type, key, method, args, true);
        return last.ok;
      },
      { message: `${type}/${key}.${method} to succeed`, timeout: 20_000, interval: 20 },
    )
    .toBe(true);
  return value(last as CallResult);
}

describe("messaging across silo processes", () => {
  it("keeps a durable message when the receiving silo is killed, and loses a plain one", async () => {
    const [a, b] = await twoSilos();
    const sinks = await keysOn("Sink", "ping", [], a, b);
    expect(sinks.length).toBeGreaterThanOrEqual(2);
    const [durableKey, plainKey] = sinks as [string, string];
    value(await a.send("Sink", durableKey, "orders", { id: 1, note: "kept" }, true));
    value(await a.send("Sink", plainKey, "orders", { id: 2, note: "in memory only" }, false));
    expect(await b.active("Sink", [durableKey, plainKey])).toEqual([true, true]);

    await kill(b); // kill -9: nothing is saved on the way out

    expect(await callEventually(a, "Sink", durableKey, "take", ["orders", 5_000])).toEqual({ id: 1, note: "kept" });
    const plain = await a.call("Sink", plainKey, "take", ["orders", 300], true);
    expect(plain).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
  });

  it("keeps firing a durable reminder on the survivor after its owner is killed", async () => {
    const [a, b] = await twoSilos();
    const beacons = await keysOn("Beacon", "arm", [150], a, b);
    expect(beacons.length).toBeGreaterThan(0);
    const key = beacons[0] as string;
    let before = 0;
    await expect
      .poll(
        async () => {
          before = value(await a.call("Beacon", key, "count", [])) as number;
          return before >= 2;
        },
        { message: "the reminder to fire on its owner", timeout: 20_000, interval: 20 },
      )
      .toBe(true);

    await kill(b);

    await expect
      .poll(
        async () => {
          const r = await a.call("Beacon", key, "count", [], true);
          return r.ok && (r.value as number) > before + 2;
        },
        { message: "the reminder to fire again on the survivor", timeout: 20_000, interval: 20 },
      )
      .toBe(true);
    expect(await a.active("Beacon", [key])).toEqual([true]);
  });
});
