import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Actor, type ActorClass, ManualClock, MemoryStateStore, Silo, type SiloOptions } from "@praas/silo";

/** A fresh temp folder, removed by the returned cleanup. */
export async function tempDir(prefix = "praas-test-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A silo on a manual clock and a memory store, stopped by the test. */
export async function testSilo(
  actors: readonly ActorClass[],
  extra: Partial<SiloOptions> = {},
): Promise<{ silo: Silo; clock: ManualClock; store: MemoryStateStore }> {
  const clock = (extra.clock as ManualClock | undefined) ?? new ManualClock();
  const store = new MemoryStateStore();
  const silo = await Silo.start({ actors, clock, storage: store, ...extra });
  return { silo, clock, store: (extra.storage as MemoryStateStore | undefined) ?? store };
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Whether `p` has settled yet (either way), for tests that check something is still waiting. */
export function settledFlag(p: Promise<unknown>): () => boolean {
  let settled = false;
  const mark = (): void => {
    settled = true;
  };
  p.then(mark, mark);
  return () => settled;
}

export interface CounterState {
  value: number;
}

export class Counter extends Actor<CounterState> {
  static activations = 0;
  static initialState(): CounterState {
    return { value: 0 };
  }
  override onActivate(): void {
    Counter.activations++;
  }
  async add(n: number): Promise<number> {
    this.state.value += n;
    return this.state.value;
  }
  get(): number {
    return this.state.value;
  }
}
