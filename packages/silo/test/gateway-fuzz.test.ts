import { encodeTrusted } from "@praas/core/internal";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Peer, type Served, serve } from "./gateway-helpers.js";

let served: Served;
beforeAll(async () => {
  served = await serve({ limits: { maxFrameBytes: 4096, maxBadFrames: 1_000_000 } });
});
afterAll(() => served.stop());

/** Values that look a bit like frames: the right keys with wrong or random contents. */
const anyValue = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, maxDepth: 3 }),
  fc.constantFrom("call", "sub", "unsub", "Counter", "Room", "add", "post", "changed", "*", "", "__proto__"),
  fc.integer(),
  fc.double(),
);
const frameLike = fc.record(
  {
    t: fc.oneof(fc.constantFrom("call", "sub", "unsub", "ok", "hello"), anyValue),
    id: fc.oneof(fc.nat(), anyValue),
    type: fc.oneof(fc.constantFrom("Counter", "Room", "Nope"), anyValue),
    key: anyValue,
    method: fc.oneof(fc.constantFrom("add", "post", "get", "constructor", "toString", "onActivate"), anyValue),
    event: anyValue,
    args: fc.oneof(fc.array(anyValue, { maxLength: 4 }), anyValue),
    timeoutMs: anyValue,
    after: anyValue,
    stream: anyValue,
    sub: anyValue,
  },
  { requiredKeys: [] },
);

/** Well-formed calls and subscriptions with random arguments: they reach actors and schemas. */
const validish = fc.oneof(
  fc.record({
    t: fc.constant("call"),
    id: fc.nat(),
    type: fc.constantFrom("Counter", "Room"),
    key: fc.string({ minLength: 1, maxLength: 8 }),
    method: fc.constantFrom("add", "post", "rename", "shout", "values"),
    args: fc.array(anyValue, { maxLength: 3 }),
  }),
  fc.record({
    t: fc.constant("sub"),
    id: fc.nat(),
    type: fc.constantFrom("Counter", "Room"),
    key: fc.string({ minLength: 1, maxLength: 8 }),
    event: fc.string({ minLength: 1, maxLength: 8 }),
  }),
);

test("random bytes and random frames never take the gateway down", async () => {
  const { gw } = served;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => ({ raw: b })),
          frameLike.map((f) => ({ raw: encodeTrusted(f) })),
          validish.map((f) => ({ raw: encodeTrusted(f) })),
          fc.string({ maxLength: 50 }).map((s) => ({ text: s })),
        ),
        { minLength: 1, maxLength: 30 },
      ),
      async (inputs) => {
        const { peer } = await Peer.open(gw.wsUrl);
        for (const input of inputs) {
          if ("text" in input) peer.sendRaw(input.text);
          else peer.sendRaw(input.raw);
        }
        // The same connection is still usable (the protocol allows it: nothing above is beyond a limit)...
        // An id the fuzzer never uses (fc.nat() stays below 2^31), so the answer is the probe's.
        const probe = 2 ** 40;
        peer.send({ t: "call", id: probe, type: "Counter", key: "fuzz-check", method: "get", args: [] });
        const r = await peer.answer(probe);
        expect(r.t).toBe("ok");
        await peer.close();
      },
    ),
    { numRuns: 300 },
  );
  // ...and so is a fresh one, for everyone else.
  const { peer } = await Peer.open(gw.wsUrl);
  expect(await peer.call("Counter", "after-fuzz", "add", [1])).toMatchObject({ t: "ok", value: 1 });
  await peer.close();
});

test("random HTTP paths, methods and bodies get JSON answers and leave the gateway serving", async () => {
  const { gw } = served;
  const segment = fc.oneof(
    fc.constantFrom("v1", "actors", "Counter", "Room", "add", "post", "state", "deactivate", "cluster", "%ZZ", ".."),
    fc.string({ maxLength: 10 }).map(encodeURIComponent),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH"),
      fc.array(segment, { maxLength: 6 }),
      fc.oneof(fc.string({ maxLength: 100 }), fc.json({ maxDepth: 3 })),
      async (method, segments, body) => {
        const res = await fetch(`${gw.url}/${segments.join("/")}`, {
          method,
          body: method === "GET" ? undefined : body,
        });
        const text = await res.text();
        expect(res.status).toBeGreaterThanOrEqual(200);
        if (res.status >= 400 && !text.startsWith("{")) throw new Error(`non-JSON error: ${res.status} ${text}`);
      },
    ),
    { numRuns: 200 },
  );
  const res = await fetch(`${gw.url}/v1/actors/Counter/after-http-fuzz/add`, { method: "POST", body: "[2]" });
  expect(await res.json()).toBe(2);
});
