/**
 * The parts of a silo connection that need no socket: request/reply matching
 * (pending-calls.ts) and the drain protocol (connection-drain.ts). The
 * transport tests run them over real connections; these pin their rules.
 */
import type { PraasError } from "@praas/core";
import { describe, expect, it } from "vitest";
import { ConnectionDrain } from "../src/cluster/connection-drain.js";
import { CALL, type Envelope, ERR, OK } from "../src/cluster/frames.js";
import type { OutboundCall } from "../src/cluster/peer-connection.js";
import { PendingCalls } from "../src/cluster/pending-calls.js";

function call(name: string, log: string[]): OutboundCall {
  return {
    done: false,
    deadline: Number.POSITIVE_INFINITY,
    type: "Counter",
    key: name,
    method: "add",
    args: [],
    chain: [],
    hops: 0,
    replied: (ok, value, notRun) => log.push(`${name} replied ${ok} ${JSON.stringify(value)} ${notRun}`),
    refused: (error: PraasError) => log.push(`${name} refused ${error.code}`),
    lost: (error: PraasError) => log.push(`${name} lost ${error.code}`),
  };
}

describe("pending calls", () => {
  it("numbers calls from 1 and hands each reply to its own call, once", () => {
    const log: string[] = [];
    const pending = new PendingCalls();
    const a = pending.add(call("a", log));
    const b = pending.add(call("b", log));
    expect([a, b]).toEqual([1, 2]);
    expect(pending.settle([ERR, b, { name: "E", code: "X", message: "no" }, true])).toBe(true);
    expect(pending.settle([OK, a, 5])).toBe(true);
    expect(pending.settle([OK, a, 6])).toBe(false);
    expect(pending.size).toBe(0);
    expect(log).toEqual(['b replied false {"name":"E","code":"X","message":"no"} true', "a replied true 5 false"]);
  });

  it("splits the calls of a dead connection into never written (unsent) and may have run (lost)", () => {
    const log: string[] = [];
    const pending = new PendingCalls();
    const written = call("written", log);
    const queued = call("queued", log);
    pending.add(written);
    const q = pending.add(queued);
    const stillQueued: Envelope[] = [
      [OK, 9, null],
      [CALL, q, "Counter", "queued", "add", [], 100, [], 0],
    ];
    const { unsent, lost } = pending.clear(stillQueued);
    expect(unsent).toEqual([queued]);
    expect(lost).toEqual([written]);
    expect(pending.size).toBe(0);
    expect(pending.take(q)).toBeUndefined();
  });
});

describe("connection drain", () => {
  const host = { isClosed: false, pendingCalls: 0, queued: 0 };
  const settled = async (p: Promise<void>): Promise<boolean> => {
    let done = false;
    void p.then(() => {
      done = true;
    });
    await new Promise((r) => setImmediate(r));
    return done;
  };

  it("is quiet only once our bye is acknowledged and nothing is in flight either way", async () => {
    const h = { ...host, pendingCalls: 1 };
    const drain = new ConnectionDrain(h);
    drain.callArrived();
    const quiet = drain.whenQuiet();
    const acked = drain.whenByeAcked();
    drain.acked();
    expect(await settled(acked)).toBe(true);
    expect(await settled(quiet)).toBe(false);
    drain.answered(); // the peer's call answered; ours still out
    expect(await settled(quiet)).toBe(false);
    h.pendingCalls = 0;
    drain.check();
    expect(await settled(quiet)).toBe(true);
  });

  it("lets every waiter go when the connection closes", async () => {
    const h = { ...host };
    const drain = new ConnectionDrain(h);
    drain.callArrived();
    const quiet = drain.whenQuiet();
    const acked = drain.whenByeAcked();
    h.isClosed = true;
    drain.closed();
    drain.check();
    expect(await settled(quiet)).toBe(true);
    expect(await settled(acked)).toBe(true);
  });
});
