import { InvalidArgumentError, MemoryStateStore, OptionError } from "@praas/core";
import { describe, expect, it } from "vitest";
import { CLUSTER_OPTIONS, resolveClusterOptions } from "../src/cluster/config.js";
import { resolveSiloOptions, SILO_OPTIONS } from "../src/options.js";
import { stubMembership } from "./cluster-helpers.js";
import { Counter } from "./fixtures.js";

const membership = stubMembership();
const base = { name: "shop", membership, secret: "s".repeat(16) };

/** The OptionError `f` throws. */
function refused(f: () => unknown): OptionError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(OptionError);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as OptionError).code).toBe("INVALID_ARGUMENT");
    return err as OptionError;
  }
  throw new Error("expected an OptionError");
}

describe("cluster options: one description each", () => {
  it("the defaults filled in are the described ones", () => {
    const o = resolveClusterOptions(base);
    expect(o.port).toBe(CLUSTER_OPTIONS["listen.port"].default);
    expect(o.backoffMs).toBe(CLUSTER_OPTIONS["transport.backoffMs"].default);
    expect(o.limits.maxFrameBytes).toBe(CLUSTER_OPTIONS["transport.maxFrameBytes"].default);
    expect(o.limits.pingIntervalMs).toBe(CLUSTER_OPTIONS["transport.pingIntervalMs"].default);
    expect(o.maxBackoffMs).toBe(2_000);
    expect(o.rejoinTimeoutMs).toBeUndefined();
  });

  it("a bad value is an OptionError with the option's path and the value", () => {
    const backoff = refused(() => resolveClusterOptions({ ...base, transport: { backoffMs: 0 } }));
    expect(backoff.path).toBe("cluster.transport.backoffMs");
    expect(backoff.value).toBe(0);
    expect(backoff.message).toBe("cluster.transport.backoffMs must be an integer 1…60000, got 0");
    const port = refused(() => resolveClusterOptions({ ...base, listen: { port: 70_000 } }));
    expect(port.message).toBe("cluster.listen.port must be an integer 0…65535, got 70000");
    const advertise = refused(() => resolveClusterOptions({ ...base, advertise: "nohostport" }));
    expect(advertise.path).toBe("cluster.advertise");
    expect(advertise.message).toMatch(/^cluster\.advertise must be "host:port" \(port 1…65535\), got "nohostport"$/);
    const max = refused(() => resolveClusterOptions({ ...base, transport: { backoffMs: 500, maxBackoffMs: 100 } }));
    expect(max.path).toBe("cluster.transport.maxBackoffMs");
    expect(max.message).toMatch(/at least cluster\.transport\.backoffMs \(500\), got 100/);
  });

  it("a refused secret is an OptionError on cluster.secret that does not show the secret", () => {
    const err = refused(() => resolveClusterOptions({ ...base, secret: "short-one" }));
    expect(err.path).toBe("cluster.secret");
    expect(err.message).toMatch(/cluster\.secret must be a string of at least 16 characters/);
    expect(err.message).not.toContain("short-one");
    expect(err.value).not.toBe("short-one");
  });
});

describe("silo options: one description each", () => {
  const storage = () => new MemoryStateStore();

  it("the defaults filled in are the described ones", () => {
    const o = resolveSiloOptions({ actors: [Counter], storage: storage() });
    expect(o.idleTimeoutMs).toBe(SILO_OPTIONS.idleTimeoutMs.default);
    expect(o.callTimeoutMs).toBe(SILO_OPTIONS.callTimeoutMs.default);
    expect(o.drainTimeoutMs).toBe(SILO_OPTIONS.drainTimeoutMs.default);
    expect(o.maxActivations).toBe(Number.POSITIVE_INFINITY);
  });

  it("a bad value is an OptionError naming the option and the value", () => {
    const err = refused(() => resolveSiloOptions({ actors: [Counter], storage: storage(), callTimeoutMs: Number.NaN }));
    expect(err.path).toBe("callTimeoutMs");
    expect(err.message).toBe("Silo option callTimeoutMs must be a positive number, got NaN");
    const max = refused(() => resolveSiloOptions({ actors: [Counter], storage: storage(), maxActivations: 2.5 }));
    expect(max.message).toBe("Silo option maxActivations must be an integer ≥ 1, got 2.5");
    const dir = refused(() => resolveSiloOptions({ actors: [Counter], stateDir: "" }));
    expect(dir.path).toBe("stateDir");
  });
});
