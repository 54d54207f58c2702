import { MembershipListeners, type MembershipView } from "@praas/core/internal";
import { describe, expect, it } from "vitest";

const view = (version: number): MembershipView => ({ version, silos: [] });

describe("MembershipListeners", () => {
  it("tells every listener registered when the news comes, even one removed by another meanwhile", () => {
    const listeners = new MembershipListeners((e) => {
      throw e;
    });
    const heard: string[] = [];
    let offB: () => void = () => {};
    listeners.onChange((v) => {
      heard.push(`a${v.version}`);
      offB();
    });
    offB = listeners.onChange((v) => heard.push(`b${v.version}`));
    listeners.changed(view(1));
    listeners.changed(view(2));
    expect(heard).toEqual(["a1", "b1", "a2"]);
  });

  it("reports a throwing listener and still tells the others; eviction listeners apart from change listeners", () => {
    const errors: unknown[] = [];
    const listeners = new MembershipListeners((e) => errors.push(e));
    const reasons: string[] = [];
    const bug = new Error("listener bug");
    listeners.onEvicted(() => {
      throw bug;
    });
    const off = listeners.onEvicted((r) => reasons.push(r));
    let changes = 0;
    listeners.onChange(() => changes++);
    listeners.evicted("declared dead");
    off();
    listeners.evicted("again");
    expect(reasons).toEqual(["declared dead"]);
    expect(errors).toEqual([bug, bug]);
    expect(changes).toBe(0);
  });
});
