/**
 * What HTTP callers get for values JSON cannot carry, and for arguments a
 * method does not declare (docs/protocol.md, "Results as JSON" and "Arguments").
 */
import { Actor, MemoryStateStore } from "@praas/core";
import { Schema } from "effect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { toJson } from "../src/gateway/json.js";
import { type Gateway, Silo, startGateway } from "../src/index.js";

class Numbers extends Actor<undefined> {
  ratio(a: number, b: number): number {
    return a / b;
  }
  several(): unknown {
    return { nan: Number.NaN, up: Number.POSITIVE_INFINITY, down: [Number.NEGATIVE_INFINITY], zero: -0, n: 1.5 };
  }
  double(n: number): number {
    return n * 2;
  }
}

/** The same method, with a schema: calls from the network must match the tuple exactly. */
class StrictNumbers extends Actor<undefined> {
  static schemas = { double: Schema.Tuple([Schema.Number]) };
  double(n: number): number {
    return n * 2;
  }
}

let silo: Silo;
let gateway: Gateway;
beforeAll(async () => {
  silo = await Silo.start({ actors: [Numbers, StrictNumbers], storage: new MemoryStateStore() });
  gateway = await startGateway(silo, { port: 0 });
});
afterAll(async () => {
  await gateway.close();
  await silo.stop();
});

async function post(path: string, args: unknown[]): Promise<{ status: number; text: string }> {
  const res = await fetch(`${gateway.url}/v1/actors/${path}`, { method: "POST", body: JSON.stringify(args) });
  return { status: res.status, text: await res.text() };
}

describe("results JSON cannot carry", () => {
  test('NaN and ±Infinity arrive as the strings "NaN", "Infinity", "-Infinity", not as null', async () => {
    expect(await post("Numbers/a/ratio", [0, 0])).toEqual({ status: 200, text: '"NaN"' });
    expect(await post("Numbers/a/ratio", [1, 0])).toEqual({ status: 200, text: '"Infinity"' });
    expect(await post("Numbers/a/ratio", [-1, 0])).toEqual({ status: 200, text: '"-Infinity"' });
    expect(await post("Numbers/a/several", [])).toEqual({
      status: 200,
      text: '{"nan":"NaN","up":"Infinity","down":["-Infinity"],"zero":0,"n":1.5}',
    });
    // Inside a Map too.
    expect(toJson(new Map([["x", Number.NaN]]))).toBe('{"x":"NaN"}');
  });

  test("in-silo calls get the numbers themselves", async () => {
    expect(await silo.ref(Numbers, "a").ratio(0, 0)).toBeNaN();
    expect(await silo.ref(Numbers, "a").ratio(1, 0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("arguments beyond what a method declares", () => {
  test("are passed on, and the method ignores them as any JavaScript function does", async () => {
    expect(await post("Numbers/a/double", [2, "extra", { more: true }])).toEqual({ status: 200, text: "4" });
  });

  test("a schema tuple rejects them from the network with INVALID_ARGUMENT", async () => {
    expect(await post("StrictNumbers/a/double", [2])).toEqual({ status: 200, text: "4" });
    const r = await post("StrictNumbers/a/double", [2, "extra"]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text)).toEqual({
      error: {
        code: "INVALID_ARGUMENT",
        message: expect.stringMatching(/^Invalid arguments for StrictNumbers\.double: .*excess.*\[1\]/s),
      },
    });
  });
});
