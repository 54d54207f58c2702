import { Actor } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { TestCluster } from "../src/index.js";

interface CounterState {
  value: number;
}

class Counter extends Actor<CounterState> {
  static persistence = "turn" as const;
  static initialState(): CounterState {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}

let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("TestCluster", () => {
  it("starts three silos that serve typed refs through any silo", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 1 });
    expect(cluster.running()).toEqual([0, 1, 2]);
    for (let i = 0; i < 3; i++) await cluster.ref(Counter, "a", { via: i }).add(1);
    expect(await cluster.ref(Counter, "a").get()).toBe(3);
    expect(await cluster.stored(Counter, "a")).toEqual({ value: 3 });
  });

  it("serves a crashed silo's actors elsewhere, without losing acknowledged writes", async () => {
    cluster = await TestCluster.start({ silos: 3, actors: [Counter], seed: 2 });
    await cluster.ref(Counter, "k").add(5);
    const owner = await cluster.ownerIndex(Counter, "k");
    await cluster.crash(owner);
    const other = cluster.running()[0] as number;
    expect(await cluster.ref(Counter, "k", { via: other, retry: true }).add(1)).toBe(6);
    expect(await cluster.ownerIndex(Counter, "k")).not.toBe(owner);
  });
});
