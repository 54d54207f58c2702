/**
 * A durable send retries a retryable failure with paced pauses, within one
 * deadline for the whole send, and never retries a failure for good.
 */
import {
  Actor,
  type ActorId,
  ManualClock,
  MemoryStateStore,
  PraasError,
  Silo,
  SiloUnavailableError,
  TimeoutError,
} from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";

/** A memory store whose saves fail (with `failure()`) while `failing` is set; counts save attempts with their times. */
class FlakyStore extends MemoryStateStore {
  failing = true;
  readonly saveTimes: number[] = [];
  constructor(
    readonly clock: ManualClock,
    readonly failure: () => Error,
  ) {
    super();
  }
  override async save(id: ActorId, data: Uint8Array, expected: string | null): Promise<string> {
    this.saveTimes.push(this.clock.now());
    if (this.failing) throw this.failure();
    return super.save(id, data, expected);
  }
}

class Sink extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  async take(): Promise<unknown> {
    return (await this.recv("c", { timeoutMs: 1_000 })).data;
  }
}

/** A retryable failure that reaches the sender as itself (a framework error class keeps its `retryable`). */
const transient = (): Error => new SiloUnavailableError("store briefly unreachable");

let silo: Silo | undefined;
afterEach(async () => {
  await silo?.stop().catch(() => {});
  silo = undefined;
});

async function start(failure: () => Error): Promise<{ clock: ManualClock; store: FlakyStore }> {
  const clock = new ManualClock();
  const store = new FlakyStore(clock, failure);
  silo = await Silo.start({ actors: [Sink], storage: store, clock });
  return { clock, store };
}

/** Let the promise callbacks already queued run (no time passes on the manual clock). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("durable send retries", () => {
  it("pauses between tries by the policy, and succeeds once the target can store", async () => {
    const { clock, store } = await start(transient);
    const sent = (silo as Silo).send({ type: "Sink", key: "s" }, "c", "kept", {
      durable: true,
      timeoutMs: 10_000,
      retry: { initialDelayMs: 100, maxDelayMs: 400, jitter: "none" },
    });
    let settled = false;
    sent.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await settle();
    expect(store.saveTimes).toHaveLength(1);
    // No try without a pause: 100 ms, then 200 ms.
    await clock.advance(99);
    expect(store.saveTimes).toHaveLength(1);
    await clock.advance(1);
    expect(store.saveTimes).toHaveLength(2);
    await clock.advance(199);
    expect(store.saveTimes).toHaveLength(2);
    store.failing = false;
    await clock.advance(1);
    await sent;
    expect(settled).toBe(true);
    expect(store.saveTimes.map((t) => t - (store.saveTimes[0] as number))).toEqual([0, 100, 300]);
    expect(await (silo as Silo).ref(Sink, "s").take()).toBe("kept");
  });

  it("gives up by the send's deadline while the failure lasts, with the last error", async () => {
    const { clock, store } = await start(transient);
    const sent = (silo as Silo).send({ type: "Sink", key: "s" }, "c", "lost", {
      durable: true,
      timeoutMs: 1_000,
      retry: { initialDelayMs: 100, maxDelayMs: 100, jitter: "none" },
    });
    const outcome = sent.then(
      () => undefined,
      (err: unknown) => err,
    );
    await clock.advance(1_000);
    const err = await outcome;
    expect(err).toBeInstanceOf(PraasError);
    expect((err as PraasError).code).toBe("SILO_UNAVAILABLE");
    const first = store.saveTimes[0] as number;
    // Tries every 100 ms, none after the deadline.
    expect(store.saveTimes.length).toBeGreaterThanOrEqual(9);
    expect(store.saveTimes.every((t) => t - first < 1_000)).toBe(true);
  });

  it("ends with a timeout by the deadline when a try never answers", async () => {
    const clock = new ManualClock();
    const store = new FlakyStore(clock, transient);
    let hung = 0;
    let release = (): void => {};
    store.save = () => {
      hung++;
      return new Promise<never>((_, reject) => {
        release = () => reject(new Error("released"));
      });
    };
    silo = await Silo.start({ actors: [Sink], storage: store, clock, callTimeoutMs: 30_000 });
    const outcome = silo.send({ type: "Sink", key: "s" }, "c", "x", { durable: true, timeoutMs: 500 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    await clock.advance(500);
    expect(await outcome).toBeInstanceOf(TimeoutError);
    // One try, bounded by the send's 500 ms, not five of the silo's 30 s call timeout.
    expect(hung).toBe(1);
    release(); // let stop() drain
  });

  it("does not retry a failure that is not retryable", async () => {
    const { clock, store } = await start(() => new Error("disk says no"));
    const outcome = (silo as Silo)
      .send({ type: "Sink", key: "s" }, "c", "x", { durable: true, retry: { initialDelayMs: 1, maxDelayMs: 1 } })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    await clock.advance(1_000);
    expect(await outcome).toBeInstanceOf(Error);
    expect(store.saveTimes).toHaveLength(1);
  });

  it("stops retrying when the silo stops", async () => {
    const { clock, store } = await start(transient);
    const outcome = (silo as Silo)
      .send({ type: "Sink", key: "s" }, "c", "x", {
        durable: true,
        retry: { initialDelayMs: 100, maxDelayMs: 100, jitter: "none" },
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    await settle();
    expect(store.saveTimes).toHaveLength(1);
    const stopped = (silo as Silo).stop().catch(() => undefined);
    await clock.advance(100);
    await stopped;
    expect(await outcome).toBeInstanceOf(PraasError);
    // The try after the pause was not made: the silo was stopping.
    expect(store.saveTimes.length).toBeLessThanOrEqual(2);
  });

  it("rejects a retry policy that makes no sense", async () => {
    await start(transient);
    await expect(
      (silo as Silo).send({ type: "Sink", key: "s" }, "c", 1, {
        durable: true,
        retry: { initialDelayMs: 10, maxDelayMs: 5 },
      }),
    ).rejects.toThrow(/initialDelayMs/);
    await expect((silo as Silo).send({ type: "Sink", key: "s" }, "c", 1, { timeoutMs: 0 })).rejects.toThrow(
      /timeoutMs/,
    );
  });
});
