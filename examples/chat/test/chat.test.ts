import { InvalidArgumentError, MemoryStateStore } from "@praas/core";
import { type Gateway, Silo, startGateway } from "@praas/silo";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChatMessage, ChatRoom, praasWeb } from "../src/actors.js";
import { joinChat } from "../src/node-client.js";

let silo: Silo;
let gw: Gateway;
beforeAll(async () => {
  silo = await Silo.start({ actors: [ChatRoom], storage: new MemoryStateStore() });
  gw = await startGateway(silo, { port: 0, fallback: praasWeb });
});
afterAll(async () => {
  await gw.close();
  await silo.stop();
});

/** A message inbox whose `first(n)` resolves once n messages arrived. */
function inbox(): { push: (m: ChatMessage) => void; first: (n: number) => Promise<ChatMessage[]> } {
  const got: ChatMessage[] = [];
  const waiters: { n: number; resolve: (v: ChatMessage[]) => void }[] = [];
  return {
    push(m) {
      got.push(m);
      for (const w of waiters.filter((w) => got.length >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(got.slice(0, w.n));
      }
    },
    first(n) {
      return got.length >= n
        ? Promise.resolve(got.slice(0, n))
        : new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

describe("chat example", () => {
  test("Node clients join, post and receive each other's messages", async () => {
    const anaInbox = inbox();
    const bobInbox = inbox();
    const ana = await joinChat(gw.wsUrl, "lobby", "ana", anaInbox.push);
    const bob = await joinChat(gw.wsUrl, "lobby", "bob", bobInbox.push);
    expect(await ana.post("hi bob")).toBe(1);
    expect(await bob.post("hi ana")).toBe(2);
    for (const box of [anaInbox, bobInbox]) {
      const got = await box.first(2);
      expect(got.map((m) => `${m.user}: ${m.text}`)).toEqual(["ana: hi bob", "bob: hi ana"]);
      expect(got[0]?.at).toBeInstanceOf(Date);
    }
    // A latecomer gets the history when joining.
    const cid = await joinChat(gw.wsUrl, "lobby", "cid");
    expect(cid.history.map((m) => m.text)).toEqual(["hi bob", "hi ana"]);
    expect(await silo.call("ChatRoom", "lobby", "listeners", [])).toBe(3);
    await Promise.all([ana.close(), bob.close(), cid.close()]);
  });

  test("history is bounded and survives swap-out", async () => {
    const s = await joinChat(gw.wsUrl, "busy", "ana");
    for (let i = 1; i <= ChatRoom.maxHistory + 5; i++) await s.post(`m${i}`);
    await silo.deactivate({ type: "ChatRoom", key: "busy" });
    const room = s.client.ref<ChatRoom>("ChatRoom", "busy");
    const kept = await room.history();
    expect(kept).toHaveLength(ChatRoom.maxHistory);
    expect(kept[0]?.text).toBe("m6");
    expect((await room.history(2)).map((m) => m.seq)).toEqual([104, 105]);
    await s.close();
  });

  test("bad posts are refused by the schema with a clear error", async () => {
    const s = await joinChat(gw.wsUrl, "strict", "ana");
    const room = s.client.ref<ChatRoom>("ChatRoom", "strict");
    await expect(room.post({ user: "", text: "x" })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(room.post({ user: "ana", text: "x".repeat(501) })).rejects.toThrow(/ChatRoom\.post/);
    await expect(room.history(0)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await room.history()).toEqual([]);
    await s.close();
  });

  test("the page is served and its module graph loads without Node-only imports", async () => {
    const page = await (await fetch(`${gw.url}/`)).text();
    const map = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "{}") as {
      imports: Record<string, string>;
    };
    expect(page).toContain('import { connect } from "@praas/client"');
    const seen = new Set<string>();
    const queue = [new URL(map.imports["@praas/client"] as string, gw.url).href];
    while (queue.length > 0) {
      const url = queue.shift() as string;
      if (seen.has(url)) continue;
      seen.add(url);
      const res = await fetch(url);
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expect(res.headers.get("content-type")).toMatch(/javascript/);
      const source = await res.text();
      for (const m of source.matchAll(
        /(?:^|[\s;}])(?:import|export)\s[^;]*?from\s*["']([^"']+)["']|import\s*["']([^"']+)["']/g,
      )) {
        const spec = (m[1] ?? m[2]) as string;
        if (spec.startsWith(".")) queue.push(new URL(spec, url).href);
        else {
          // Every bare import must be in the import map: "node:…" or "ws" would fail in a browser.
          expect({ spec, mapped: spec in map.imports }).toEqual({ spec, mapped: true });
          queue.push(new URL(map.imports[spec] as string, gw.url).href);
        }
      }
    }
    expect(seen.size).toBeGreaterThan(10);
    // Nothing outside the three packages can be read.
    expect((await fetch(`${gw.url}/lib/@praas/core/..%2F..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${gw.url}/lib/@praas/silo/index.js`)).status).toBe(404);
  });
});
