import { afterEach, describe, expect, it } from "vitest";
import { CALL, ERR, OK } from "../../packages/silo/src/cluster/frames.js";
import { SILO_REQUEST_TYPE } from "../../packages/silo/src/cluster/silo-request.js";
import { joinFakeMember, rawPeer, startCluster, type TestCluster } from "../../packages/silo/test/cluster-helpers.js";
import { Counter } from "../../packages/silo/test/fixtures.js";

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

describe("silo requests", () => {
  it("are answered by the silo they name, and only by it", async () => {
    cluster = await startCluster([Counter], 2);
    const [s0, s1] = cluster.silos;
    if (s0 === undefined || s1 === undefined) throw new Error("two silos");
    const seen: unknown[][] = [];
    s0.handleSiloRequests("echo", (args) => {
      seen.push([...args]);
      return { from: s0.siloId, args };
    });

    // Between silos, through the public seam.
    await expect(s1.askSilo(s0.siloId, "echo", [1, "two"], 2000)).resolves.toEqual({
      from: s0.siloId,
      args: [1, "two"],
    });
    await expect(s1.askSilo(s0.siloId, "nobody-handles-this", [], 2000)).rejects.toMatchObject({
      code: "SILO_REQUEST_NOT_HANDLED",
    });
    // The silo itself answers without the network.
    await expect(s0.askSilo(s0.siloId, "echo", [3], 2000)).resolves.toMatchObject({ args: [3] });

    // On the wire, from a member driven by hand: the key names the silo asked.
    const fake = await joinFakeMember(cluster.registry, s0);
    const peer = await rawPeer(s0, "silo-fake");
    peer.send([[CALL, 1, SILO_REQUEST_TYPE, s0.siloId, "echo", ["wire"], 1000, [], 0]]);
    expect(await peer.reply(1)).toEqual([OK, 1, { from: s0.siloId, args: ["wire"] }]);
    peer.send([[CALL, 2, SILO_REQUEST_TYPE, `${s0.siloId}.7`, "echo", ["stale"], 1000, [], 0]]);
    const refused = await peer.reply(2);
    expect(refused[0]).toBe(ERR);
    expect(refused[2]).toMatchObject({ code: "SILO_UNAVAILABLE" });
    peer.close();
    await fake.close();
    expect(seen).toEqual([[1, "two"], [3], ["wire"]]);
    // No actor was activated by any of it.
    expect(s0.activationCount + s1.activationCount).toBe(0);
  });

  it("end with a timeout when the silo asked never answers, and with the handler's error when it fails", async () => {
    cluster = await startCluster([Counter], 2);
    const [s0, s1] = cluster.silos;
    if (s0 === undefined || s1 === undefined) throw new Error("two silos");
    s0.handleSiloRequests("never", () => new Promise(() => {}));
    s0.handleSiloRequests("broken", () => {
      throw new RangeError("handler failed");
    });
    await expect(s1.askSilo(s0.siloId, "never", [], 200)).rejects.toMatchObject({ code: "TIMEOUT" });
    await expect(s1.askSilo(s0.siloId, "broken", [], 2000)).rejects.toThrow("handler failed");
    // A handler's answer must travel as CBOR: one that cannot is an error, and the connection lives on.
    s0.handleSiloRequests("unsendable", () => ({ f: () => 1 }));
    await expect(s1.askSilo(s0.siloId, "unsendable", [], 2000)).rejects.toBeInstanceOf(Error);
    s0.handleSiloRequests("fine", () => "ok");
    await expect(s1.askSilo(s0.siloId, "fine", [], 2000)).resolves.toBe("ok");
  });
});
