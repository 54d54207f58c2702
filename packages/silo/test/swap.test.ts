import { writeFile } from "node:fs/promises";
import {
  Actor,
  CorruptStateError,
  FileStateStore,
  LmdbStateStore,
  ManualClock,
  Silo,
  type SiloFailure,
} from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { Counter, tempDir } from "./fixtures.js";

interface Rich {
  tags: Set<string>;
  seen: Map<string, Date>;
  blob: Uint8Array;
  big: bigint;
  nested: { deep: { list: (number | null)[] } };
}

class RichActor extends Actor<Rich> {
  static initialState(): Rich {
    return { tags: new Set(), seen: new Map(), blob: new Uint8Array(), big: 0n, nested: { deep: { list: [] } } };
  }
  fill(): void {
    this.state.tags.add("a").add("b");
    this.state.seen.set("x", new Date(1_700_000_000_000));
    this.state.blob = new Uint8Array([0, 1, 254, 255]);
    this.state.big = 2n ** 70n;
    this.state.nested.deep.list.push(1, null, 3.5);
  }
  read(): Rich {
    return this.state;
  }
}

class ShortLived extends Actor<{ n: number }> {
  static readonly idleTimeoutMs = 1_000;
  static initialState() {
    return { n: 0 };
  }
  bump(): number {
    return ++this.state.n;
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function folder(): Promise<string> {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

describe("swap out and swap in", () => {
  it("keeps state across stop and a second start on the same folder", async () => {
    const stateDir = await folder();
    const first = await Silo.start({ actors: [Counter, RichActor], stateDir });
    expect(await first.ref(Counter, "alice").add(5)).toBe(5);
    await first.ref(RichActor, "r").fill();
    await first.stop();

    const second = await Silo.start({ actors: [Counter, RichActor], stateDir });
    expect(await second.ref(Counter, "alice").get()).toBe(5);
    const rich = await second.ref(RichActor, "r").read();
    expect(rich.tags).toEqual(new Set(["a", "b"]));
    expect(rich.seen.get("x")).toEqual(new Date(1_700_000_000_000));
    expect(rich.blob).toEqual(new Uint8Array([0, 1, 254, 255]));
    expect(rich.big).toBe(2n ** 70n);
    expect(rich.nested.deep.list).toEqual([1, null, 3.5]);
    await second.stop();
  });

  it("swaps an idle activation out after its idle timeout and back in on the next call", async () => {
    const stateDir = await folder();
    const clock = new ManualClock();
    const silo = await Silo.start({ actors: [Counter, ShortLived], stateDir, clock, idleTimeoutMs: 60_000 });
    const short = silo.ref(ShortLived, "s");
    const counter = silo.ref(Counter, "c");
    await short.bump();
    await counter.add(2);
    const swapped = new Promise((resolve) => silo.once("deactivate", (id, reason) => resolve({ id, reason })));
    await clock.advance(1_500);
    // The type's own 1 s timeout applies; the silo default (60 s) keeps Counter in memory.
    expect(await swapped).toEqual({ id: { type: "ShortLived", key: "s" }, reason: "idle" });
    expect(silo.isActive(short)).toBe(false);
    expect(silo.isActive(counter)).toBe(true);
    expect(await silo.store.load({ type: "ShortLived", key: "s" })).toBeDefined();

    expect(await short.bump()).toBe(2); // swapped back in with its state
    const counterOut = new Promise((resolve) =>
      silo.on("deactivate", (id) => {
        if (id.type === "Counter") resolve(id);
      }),
    );
    await clock.advance(61_000);
    expect(await counterOut).toEqual({ type: "Counter", key: "c" });
    expect(await counter.get()).toBe(2);
    await silo.stop();
  });

  it("does not swap out an activation that is busy", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    class Busy extends Actor {
      static readonly idleTimeoutMs = 100;
      async work(): Promise<string> {
        await gate;
        return "done";
      }
    }
    const clock = new ManualClock();
    const silo = await Silo.start({
      actors: [Busy],
      storage: new (await import("@praas/silo")).MemoryStateStore(),
      clock,
    });
    const ref = silo.ref(Busy, "b");
    const working = ref.work();
    await clock.advance(1_000);
    expect(silo.isActive(ref)).toBe(true);
    release();
    expect(await working).toBe("done");
    await silo.stop();
  });

  it("does not write state that did not change", async () => {
    const stateDir = await folder();
    const silo = await Silo.start({ actors: [Counter], stateDir });
    await silo.ref(Counter, "untouched").get();
    await silo.deactivate(silo.ref(Counter, "untouched"));
    await silo.stop();
    // Nothing was ever changed, so nothing was ever written.
    const store = new LmdbStateStore(stateDir);
    expect(await store.load({ type: "Counter", key: "untouched" })).toBeUndefined();
    await store.close();
  });

  it("reports a corrupt state file by name and keeps serving other actors", async () => {
    const stateDir = await folder();
    const store = new FileStateStore(stateDir);
    const silo = await Silo.start({ actors: [Counter], storage: store });
    await silo.ref(Counter, "good").add(1);
    await silo.ref(Counter, "bad").add(1);
    await silo.stop();
    const badFile = store.describe({ type: "Counter", key: "bad" });
    await writeFile(badFile, "this is not a PraaS state file");

    const again = await Silo.start({ actors: [Counter], storage: new FileStateStore(stateDir) });
    const failures: SiloFailure[] = [];
    again.on("failure", (f) => failures.push(f));
    const err = await again
      .ref(Counter, "bad")
      .get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptStateError);
    expect((err as Error).message).toContain(badFile);
    expect(failures.map((f) => f.kind)).toEqual(["activate"]);
    expect(await again.ref(Counter, "good").add(1)).toBe(2);
    // A file with our header but a garbled record is caught as well.
    await writeFile(badFile, Buffer.concat([Buffer.from("PRAASFS1"), Buffer.alloc(16), Buffer.from([0xff, 0x00])]));
    await expect(again.ref(Counter, "bad").get()).rejects.toThrow(/unreadable/);
    await again.stop();
  });

  it("keeps keys with any characters apart on disk", async () => {
    const stateDir = await folder();
    const keys = ["a/b", "a%2Fb", "..", ".", "ünï cödé", "x".repeat(1000), "CON", "a\\b"];
    const silo = await Silo.start({ actors: [Counter], stateDir });
    for (const [i, k] of keys.entries()) await silo.ref(Counter, k).add(i + 1);
    await silo.stop();
    const again = await Silo.start({ actors: [Counter], stateDir });
    for (const [i, k] of keys.entries()) expect(await again.ref(Counter, k).get()).toBe(i + 1);
    await again.stop();
  });
});

describe("unchanged-state detection", () => {
  // Both stores answer a swap-in with their own bytes (StateStore.loadShared): the memory store's
  // stored copy, the embedded store's commit-log record. Neither may reach the actor's state.
  for (const store of ["memory", "embedded"] as const) {
    it(`writes a byte array changed in place after swap-in (decoded bytes never alias stored bytes): ${store}`, async () => {
      const { MemoryStateStore } = await import("@praas/silo");
      class Blob extends Actor<{ data: Uint8Array }> {
        static initialState() {
          return { data: new Uint8Array(16) };
        }
        flip(i: number): number {
          this.state.data[i] = (this.state.data[i] ?? 0) ^ 0xff;
          return this.state.data[i] as number;
        }
        read(): Uint8Array {
          return this.state.data;
        }
      }
      const temp = store === "embedded" ? await tempDir("praas-alias-") : undefined;
      const dir = temp?.dir;
      const memory = new MemoryStateStore();
      const options = () => (dir !== undefined ? { stateDir: dir } : { storage: memory });
      try {
        const silo = await Silo.start({ actors: [Blob], ...options() });
        const ref = silo.ref(Blob, "b");
        await ref.flip(0);
        await silo.deactivate(ref); // stored: [255, 0, …]
        await ref.flip(1); // swapped in, then mutated in place
        await silo.deactivate(ref);
        expect([...(await ref.read()).slice(0, 3)]).toEqual([255, 255, 0]);
        await silo.stop();
        const again = await Silo.start({ actors: [Blob], ...options() });
        expect([...(await again.ref(Blob, "b").read()).slice(0, 3)]).toEqual([255, 255, 0]);
        await again.stop();
      } finally {
        await temp?.cleanup();
      }
    });
  }
});
