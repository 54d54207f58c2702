import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { isLiveRunner, nsName, parseNsName, RUNNER_ENTRY } from "../netns.js";

describe("multi-host namespace names", () => {
  test("carry the runner's PID and the host, and parse back", () => {
    const name = nsName(4242, "s1");
    expect(name).toBe("praasmh-4242-s1");
    expect(parseNsName(name)).toEqual({ pid: 4242, host: "s1" });
  });

  test("names that are not ours are left alone", () => {
    for (const other of [
      "praasmh-12-S1",
      "other-12-s1",
      "praasmh-x-s1",
      "praasmh-12-",
      "praasmh-12-s1 (id: 3)",
      "cni-1234",
    ]) {
      expect(parseNsName(other)).toBeUndefined();
    }
  });
});

describe("stale namespaces: is their runner alive?", () => {
  test("a running multi-host runner is live; once it is gone it is not", async () => {
    // A process whose command line names the multi-host runner, as `node …/multihost/dist/run.js` does.
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", `/x${RUNNER_ENTRY}`], {
      stdio: "ignore",
    });
    await new Promise((resolve) => child.once("spawn", resolve));
    const pid = child.pid as number;
    expect(isLiveRunner(pid)).toBe(true);
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await gone;
    expect(isLiveRunner(pid)).toBe(false);
  });

  test("a live process that is not a runner (its PID reused) does not keep a namespace", () => {
    // This test worker runs vitest (from a folder that may well be called multihost), not the runner.
    expect(isLiveRunner(process.pid)).toBe(false);
  });
});
