/**
 * The methods callers can reach: explicit (`static expose`), enforced in one
 * place for every path (references, silo.call, HTTP, WebSocket, other silos),
 * and visible (GET /v1/types).
 */
import { Actor, HashRing, MemoryStateStore } from "@praas/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { CALL, ERR, OK } from "../src/cluster/frames.js";
import { type Gateway, Silo, startGateway } from "../src/index.js";
import { joinFakeMember, rawPeer, startCluster, type TestCluster } from "./cluster-helpers.js";
import { errorOf, Peer } from "./gateway-helpers.js";

/** Every kind of method TypeScript and JavaScript have. */
class Vault extends Actor<{ secret: string }> {
  static initialState() {
    return { secret: "s3cret" };
  }
  async open(): Promise<string> {
    return `open (${this.#hidden()}, ${this.reveal()}, ${this.audit()}, ${this._internal()})`;
  }
  private reveal(): string {
    return this.state.secret;
  }
  protected audit(): string {
    return "audited";
  }
  _internal(): string {
    return "internal";
  }
  #hidden(): string {
    return "hidden";
  }
}

/** The same, with the callable methods listed. */
class GuardedVault extends Vault {
  static expose = ["open"];
}

/** Names no caller may use whatever the class does: Actor's members, Object's, and non-methods. */
const NEVER = [
  "_internal",
  "#hidden",
  "hidden",
  "constructor",
  "saveState",
  "emit",
  "ref",
  "setTimer",
  "send",
  "recv",
  "remind",
  "forget",
  "subscriberCount",
  "onActivate",
  "onDeactivate",
  "onReminder",
  "state",
  "id",
  "key",
  "toString",
  "hasOwnProperty",
  "__proto__",
];

const stops: (() => Promise<unknown>)[] = [];
let cluster: TestCluster | undefined;
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await cluster?.close();
  cluster = undefined;
});

async function served(): Promise<{ silo: Silo; gw: Gateway }> {
  const silo = await Silo.start({ actors: [Vault, GuardedVault], storage: new MemoryStateStore() });
  const gw = await startGateway(silo, { port: 0 });
  stops.push(
    () => silo.stop(),
    () => gw.close({ drainTimeoutMs: 100 }),
  );
  return { silo, gw };
}

/** The error code a call gets through silo.call, HTTP and WebSocket (undefined: it ran). */
async function codes(
  silo: Silo,
  gw: Gateway,
  peer: Peer,
  type: string,
  method: string,
): Promise<(string | undefined)[]> {
  const viaSilo = await silo.call(type, "v", method, []).then(
    () => undefined,
    (err: { code: string }) => err.code,
  );
  const res = await fetch(`${gw.url}/v1/actors/${type}/v/${encodeURIComponent(method)}`, { method: "POST" });
  const viaHttp = res.ok ? undefined : ((await res.json()) as { error: { code: string } }).error.code;
  const frame = await peer.call(type, "v", method, []);
  const viaWs = frame.t === "ok" ? undefined : errorOf(frame).code;
  return [viaSilo, viaHttp, viaWs];
}

describe("the methods callers can reach", () => {
  it("with static expose: the listed methods only, through silo.call, HTTP and WebSocket", async () => {
    const { silo, gw } = await served();
    const { peer } = await Peer.open(gw.wsUrl);
    expect(await codes(silo, gw, peer, "GuardedVault", "open")).toEqual([undefined, undefined, undefined]);
    expect(await silo.call("GuardedVault", "v", "open", [])).toBe("open (hidden, s3cret, audited, internal)");
    for (const method of ["reveal", "audit", ...NEVER]) {
      expect(await codes(silo, gw, peer, "GuardedVault", method), method).toEqual([
        "METHOD_NOT_FOUND",
        "METHOD_NOT_FOUND",
        "METHOD_NOT_FOUND",
      ]);
    }
  });

  it("without it: every public prototype method, TypeScript private and protected ones included", async () => {
    const { silo, gw } = await served();
    const { peer } = await Peer.open(gw.wsUrl);
    // TypeScript's private and protected leave no trace at run time: this is what the docs say.
    for (const method of ["open", "reveal", "audit"]) {
      expect(await codes(silo, gw, peer, "Vault", method), method).toEqual([undefined, undefined, undefined]);
    }
    expect(await silo.call("Vault", "v", "reveal", [])).toBe("s3cret");
    for (const method of NEVER) {
      const [viaSilo, , viaWs] = await codes(silo, gw, peer, "Vault", method);
      expect([viaSilo, viaWs], method).toEqual(["METHOD_NOT_FOUND", "METHOD_NOT_FOUND"]);
    }
  });

  it("another silo refuses an unexposed method too", async () => {
    cluster = await startCluster([GuardedVault], 1);
    const [s0] = cluster.silos as [Silo];
    // A member driven by hand: it proves the secret and sends call envelopes of its choosing.
    const fake = await joinFakeMember(cluster.registry, s0);
    stops.push(() => fake.close());
    const ring = HashRing.fromView(cluster.registry.view());
    let key = "";
    for (let i = 0; key === ""; i++) if (ring.owner(`GuardedVault/k${i}`) === s0.siloId) key = `k${i}`;
    const peer = await rawPeer(s0, "silo-fake");
    stops.push(async () => peer.close());
    peer.send([[CALL, 1, "GuardedVault", key, "reveal", [], 5_000, [], 0]]);
    expect(await peer.reply(1)).toMatchObject([ERR, 1, { code: "METHOD_NOT_FOUND" }, true]);
    peer.send([[CALL, 2, "GuardedVault", key, "_internal", [], 5_000, [], 0]]);
    expect(await peer.reply(2)).toMatchObject([ERR, 2, { code: "METHOD_NOT_FOUND" }, true]);
    peer.send([[CALL, 3, "GuardedVault", key, "open", [], 5_000, [], 0]]);
    expect(await peer.reply(3)).toEqual([OK, 3, "open (hidden, s3cret, audited, internal)"]);
  });

  it("are listed per type at GET /v1/types, with where the list comes from", async () => {
    const { gw } = await served();
    const res = await fetch(`${gw.url}/v1/types`);
    expect(await res.json()).toEqual({
      types: [
        { name: "Vault", stateless: false, methods: ["audit", "open", "reveal"], explicit: false },
        { name: "GuardedVault", stateless: false, methods: ["open"], explicit: true },
      ],
    });
  });

  it("static expose may list only methods a caller could reach otherwise", async () => {
    const start = (expose: unknown) => {
      class Listed extends Vault {
        static expose = expose as string[];
      }
      return Silo.start({ actors: [Listed], storage: new MemoryStateStore() });
    };
    await expect(start(["nope"])).rejects.toThrow('Listed.expose names "nope", which is not a method of Listed');
    await expect(start(["_internal"])).rejects.toThrow(/"_internal", which can never be called from outside/);
    await expect(start(["saveState"])).rejects.toThrow(/"saveState", which can never be called from outside/);
    await expect(start("open")).rejects.toThrow("Listed.expose must be an array of method names");
    const ok = await start(["open", "reveal"]);
    expect([...(ok.methodsOf("Listed") ?? [])].sort()).toEqual(["open", "reveal"]);
    await ok.stop();
  });
});
