import { Actor } from "@praas/silo";
import { describe, expect, it } from "vitest";
import { faultSchedule, Prng, playSchedule, TestCluster } from "../src/index.js";

class Tally extends Actor<{ value: number }> {
  static persistence = "turn" as const;
  static initialState(): { value: number } {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
}

/** One seeded run: faults and clients; what it observed, in order. */
async function run(seed: number): Promise<{ trace: string; faults: readonly string[]; outcomes: string[] }> {
  const prng = new Prng(seed);
  const schedule = faultSchedule(prng.fork(), { silos: 3, durationMs: 12_000 });
  const cluster = await TestCluster.start({ silos: 3, actors: [Tally], seed, silo: { callTimeoutMs: 3_000 } });
  const outcomes: string[] = [];
  try {
    const clients = [prng.fork(), prng.fork(), prng.fork()];
    const end = cluster.clock.now() + 12_000;
    await Promise.all([
      playSchedule(cluster, schedule),
      ...clients.map(async (rnd, c) => {
        while (cluster.clock.now() < end) {
          const key = rnd.pick(["x", "y"]);
          const started = cluster.clock.now();
          const result = await cluster
            .ref(Tally, key)
            .add(1)
            .then(
              (v) => `ok ${v}`,
              (e: { code?: string }) => `err ${e.code}`,
            );
          outcomes.push(`c${c} ${key} ${started}..${cluster.clock.now()} ${result}`);
          await cluster.advance(rnd.between(0, 400));
        }
      }),
    ]);
  } finally {
    await cluster.stop();
  }
  if (process.env.PRAAS_SIM_TRACE === "1") {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      `/tmp/tc-helper/trace-${seed}-${Date.now()}.txt`,
      `${cluster.network.deliveries.join("\n")}\n---\n${cluster.logs.join("\n")}\n---\n${outcomes.join("\n")}`,
    );
  }
  return { trace: cluster.network.trace, faults: cluster.faults, outcomes };
}

describe("TestCluster determinism", () => {
  it("replays the same faults, interleaving and outcomes from the same seed", async () => {
    const first = await run(2024);
    const runs = Number(process.env.PRAAS_DETERMINISM_RUNS ?? 1);
    for (let i = 1; i < runs; i++) expect((await run(2024)).trace).toBe(first.trace);
    const second = await run(2024);
    expect(first.faults.length).toBeGreaterThan(1);
    expect(second.faults).toEqual(first.faults);
    expect(second.trace).toBe(first.trace);
    expect(second.outcomes).toEqual(first.outcomes);
    const other = await run(2025);
    expect(other.outcomes).not.toEqual(first.outcomes);
  });
});
