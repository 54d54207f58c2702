import { MemoryStateStore } from "@praas/core";
import { Silo, startGateway } from "@praas/silo";
import { afterEach, describe, expect, test } from "vitest";
import { connect } from "../src/index.js";
import { Counter, openGate } from "./helpers.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Each test waits on a gate of its own: opened gates stay open (helpers.ts). */
async function serveWithCallTimeout(callTimeoutMs: number, gate: string): Promise<string> {
  const silo = await Silo.start({ actors: [Counter], storage: new MemoryStateStore(), callTimeoutMs });
  const gw = await startGateway(silo, { port: 0 });
  cleanup.push(async () => {
    openGate(gate);
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  });
  return gw.wsUrl;
}

describe("call deadlines", () => {
  test("a call with no deadline of its own gets the silo's call timeout, not 30 s", async () => {
    const url = await serveWithCallTimeout(300, "t1");
    const c = await connect(url);
    cleanup.push(() => c.close());
    const err = await c
      .ref<Counter>("Counter", "t")
      .wait("t1")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TIMEOUT" });
    expect((err as Error).message).toContain("300 ms");
  });

  test("a deadline set on the client, the reference or the call still wins", async () => {
    const url = await serveWithCallTimeout(60_000, "t2");
    const c = await connect(url, { timeoutMs: 200 });
    cleanup.push(() => c.close());
    const fromClient = await c
      .ref<Counter>("Counter", "t")
      .wait("t2")
      .catch((e: unknown) => e);
    expect((fromClient as Error).message).toContain("200 ms");
    const fromRef = await c
      .ref<Counter>("Counter", "t", { timeoutMs: 150 })
      .wait("t2")
      .catch((e: unknown) => e);
    expect((fromRef as Error).message).toContain("150 ms");
  });
});
