/**
 * The chat room on a three-silo TestCluster (in one process, seeded): posts
 * through any silo land in one room, in order; when the silo hosting the room
 * crashes, the room is served elsewhere from its last saved state.
 * Rerun a failure with the seed it prints: PRAAS_SEED=<seed> npx vitest run examples/chat.
 */
import type { TestCluster } from "@praas/testing";
import { startTestCluster } from "@praas/testing/vitest";
import { describe, expect, it } from "vitest";
import { ChatRoom } from "../src/actors.js";

/** A cluster for this test: stopped when it ends; on failure its seed, faults and logs are printed. */
function start(silos: number): Promise<TestCluster> {
  return startTestCluster({ silos, actors: [ChatRoom] });
}

describe("chat room on a TestCluster", () => {
  it("keeps one history for posts made through every silo", async () => {
    const c = await start(3);
    for (let i = 0; i < 6; i++) {
      await c.ref(ChatRoom, "lobby", { via: i % 3 }).post({ user: `u${i % 3}`, text: `hello ${i}` });
    }
    const history = await c.ref(ChatRoom, "lobby").history();
    expect(history.map((m) => m.text)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `hello ${i}`));
    expect(history.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("serves the room elsewhere after its silo crashes, from its last saved state", async () => {
    const c = await start(3);
    const room = c.ref(ChatRoom, "ops");
    await room.post({ user: "ana", text: "saved before the crash" });
    // The room keeps state in memory and saves when it is swapped out (the default persistence).
    const via = c.running()[0] as number;
    await c.track(c.silo(via).deactivate(room));
    await room.post({ user: "ana", text: "only in memory" });
    await c.crash(await c.ownerIndex(ChatRoom, "ops"));
    // Peers declare the crashed silo dead within the membership timeout (simulated time, no sleeping).
    const history = await c.ref(ChatRoom, "ops", { retry: true }).history();
    expect(history.map((m) => m.text)).toEqual(["saved before the crash"]);
    await c.ref(ChatRoom, "ops").post({ user: "ben", text: "back" });
    expect((await c.ref(ChatRoom, "ops").history()).map((m) => m.seq)).toEqual([1, 2]);
  });
});
