/**
 * What a client's frame or request body may cost: refused before decoding
 * when it holds what the protocol does not need or more than the limits, with
 * a PROTOCOL_ERROR saying what; the connection keeps serving.
 */
import { afterEach, describe, expect, test } from "vitest";
import { errorOf, Peer, type Served, serve } from "./gateway-helpers.js";

let served: Served | undefined;
afterEach(async () => {
  await served?.stop();
  served = undefined;
});

/** A call frame to Counter/a.add whose single argument is the CBOR item `arg` (written by hand). */
function callWith(arg: Uint8Array, id = 7): Uint8Array {
  const text = (s: string) => [0x60 | s.length, ...Buffer.from(s)];
  return Uint8Array.from([
    0xa6,
    ...text("t"),
    ...text("call"),
    ...text("id"),
    id,
    ...text("type"),
    ...text("Counter"),
    ...text("key"),
    ...text("a"),
    ...text("method"),
    ...text("add"),
    ...text("args"),
    0x81,
    ...arg,
  ]);
}

describe("gateway decode limits", () => {
  test("WebSocket: shared references, big bignums, too many values or keys are refused; the connection serves on", async () => {
    served = await serve({ limits: { maxFrameValues: 100, maxFrameObjects: 50, maxFrameObjectKeys: 10 } });
    const { peer } = await Peer.open(served.gw.wsUrl);
    const refusals: [Uint8Array, RegExp][] = [
      // [28([]), 29(0)]: a shared value (the seed of an exponential graph).
      [Uint8Array.from([0x82, 0xd8, 0x1c, 0x80, 0xd8, 0x1d, 0x00]), /tag 28 \(shared values\) is not accepted/],
      // A bignum of 2 KiB.
      [Uint8Array.from([0xc2, 0x59, 0x08, 0x00, ...new Uint8Array(2048).fill(1)]), /bignum of 2048 bytes/],
      // 200 zeros.
      [Uint8Array.from([0x98, 200, ...new Uint8Array(200)]), /more than 100 values/],
      // 60 empty arrays.
      [Uint8Array.from([0x98, 60, ...new Uint8Array(60).fill(0x80)]), /more than 50 strings, byte strings, arrays/],
      // One object with 11 distinct keys.
      [
        Uint8Array.from([0xab, ...Array.from({ length: 11 }, (_, i) => [0x61, 0x61 + i, 0x00]).flat()]),
        /more than 10 distinct keys/,
      ],
    ];
    for (const [arg, message] of refusals) {
      peer.sendRaw(callWith(arg));
      const e = errorOf(await peer.answer(null));
      expect(e.code).toBe("PROTOCOL_ERROR");
      expect(e.message).toMatch(message);
    }
    expect(await peer.call("Counter", "a", "add", [1])).toMatchObject({ t: "ok", value: 1 });
  });

  test("HTTP: bodies too deep, with too many values or distinct keys are refused with 400 before parsing", async () => {
    served = await serve({ limits: { maxFrameValues: 2000, maxFrameObjects: 500, maxFrameObjectKeys: 10 } });
    const post = async (body: string, method = "add") => {
      const res = await fetch(`${served?.gw.url}/v1/actors/Counter/a/${method}`, { method: "POST", body });
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
    };
    const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":0`).join(",")}}`;
    const cases: [string, RegExp][] = [
      [`${"[".repeat(100_000)}${"]".repeat(100_000)}`, /nested deeper than 264 levels/],
      [`[[${"0,".repeat(2100)}0]]`, /more than 2000 values/],
      [`[[${'"s",'.repeat(600)}"s"]]`, /more than 500 strings, arrays and objects/],
      [`[${keys(11)}]`, /more than 10 distinct keys in objects/],
    ];
    for (const [body, message] of cases) {
      const r = await post(body);
      expect(r.status).toBe(400);
      expect(r.body.error?.code).toBe("PROTOCOL_ERROR");
      expect(r.body.error?.message).toMatch(message);
    }
    // Records repeating their field names are fine (3 keys), and so is the call.
    const records = `[${Array.from({ length: 5 }, () => '{"id":1,"name":"x","when":2}').join(",")}]`;
    expect(await post(`["records", ${records}]`, "shout")).toEqual({ status: 200, body: null });
    expect(await post("[2]")).toEqual({ status: 200, body: 2 });
  });
});
