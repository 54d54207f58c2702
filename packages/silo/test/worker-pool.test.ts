import { createHash } from "node:crypto";
import { threadId } from "node:worker_threads";
import {
  ActorError,
  CodecError,
  InvalidArgumentError,
  ManualClock,
  MemoryStateStore,
  PraasError,
  Silo,
  SiloStoppedError,
  TimeoutError,
  WorkerCrashedError,
} from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { Doubler, Hasher, Hidden, Profile } from "./fixtures/threaded-actors.mjs";

const silos: Silo[] = [];
afterEach(async () => {
  await Promise.all(silos.splice(0).map((s) => s.stop()));
});

async function start(workerThreads: number, clock?: ManualClock): Promise<Silo> {
  const silo = await Silo.start({
    actors: [Hasher, Doubler, Hidden, Profile],
    storage: new MemoryStateStore(),
    workerThreads,
    ...(clock === undefined ? {} : { clock }),
  });
  silos.push(silo);
  return silo;
}

function sha256Rounds(data: Uint8Array, rounds: number): Uint8Array {
  let out: Uint8Array = data;
  for (let i = 0; i < rounds; i++) out = createHash("sha256").update(out).digest();
  return new Uint8Array(out);
}

describe("worker pool: calls on worker threads", () => {
  it("runs a threaded type's calls on another thread, with the codec's values intact both ways", async () => {
    const silo = await start(1);
    const tid = await silo.invoke(Hasher, "thread");
    expect(tid).not.toBe(threadId);
    const data = new Uint8Array([1, 2, 3]);
    expect(await silo.invoke(Hasher, "hash", data, 3)).toEqual(sha256Rounds(data, 3));
    const value = {
      n: 1.5,
      big: 2n ** 70n,
      when: new Date(1_700_000_000_000),
      m: new Map<unknown, unknown>([
        [1, "a"],
        ["k", new Set([1, 2])],
      ]),
      bytes: new Uint8Array([9, 8]),
      nested: [null, undefined, true, "x"],
    };
    const back = (await silo.invoke(Hasher, "later", value)) as typeof value;
    expect(back).toEqual(value);
    expect(back.m).toBeInstanceOf(Map);
    expect(back.bytes.constructor).toBe(Uint8Array);
  });

  it("reaches threaded types through references and by name, like any stateless type", async () => {
    const silo = await start(1);
    expect(await silo.call("Doubler", "any", "double", [21])).toBe(42);
    expect(await silo.ref(Hasher, "k").echo("via ref")).toBe("via ref");
  });

  it("refuses arguments the codec cannot carry before anything reaches a thread", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hasher, "echo", new (class Point {})()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodecError);
    expect((err as Error).message).toContain("class Point");
  });

  it("fails a result the codec cannot carry with CODEC naming the method", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hasher, "badResult").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodecError);
    expect((err as Error).message).toContain("result of Hasher.badResult");
  });

  it("keeps a user error's name, code and message", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hasher, "fail", "PAYMENT_DECLINED").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ActorError);
    expect(err).toMatchObject({ name: "Error", code: "PAYMENT_DECLINED", message: "failed with PAYMENT_DECLINED" });
  });

  it("says so when an actor on a thread reaches for the silo's runtime", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hasher, "refOther").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PraasError);
    expect(err).toMatchObject({ code: "NOT_ON_THREAD" });
  });

  it("fails clearly when the declared module does not export the class, and keeps serving", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hidden, "hi").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('exports no actor class of type "Hidden"');
    expect(await silo.invoke(Doubler, "double", 2)).toBe(4);
  });

  it("spreads concurrent calls over the pool's threads, never more than its size", async () => {
    const silo = await start(2);
    // Two calls at once start two threads: each runs on its own.
    const pair = await Promise.all([silo.invoke(Hasher, "spinThread", 20), silo.invoke(Hasher, "spinThread", 20)]);
    expect(new Set(pair).size).toBe(2);
    const many = await Promise.all(Array.from({ length: 8 }, () => silo.invoke(Hasher, "spinThread", 1)));
    expect(new Set([...pair, ...many]).size).toBe(2);
  });
});

describe("worker pool: methods of a keyed actor", () => {
  it("runs the listed methods on threads with the caller's key, the others as turns with state", async () => {
    const silo = await start(1);
    const alice = silo.ref(Profile, "alice");
    expect(await alice.visit()).toBe(1);
    const fp = await alice.fingerprint("s");
    expect(fp.key).toBe("alice");
    expect(fp.thread).not.toBe(threadId);
    expect(fp.digest).toBe(createHash("sha256").update("s:alice").digest("hex"));
    expect((await silo.ref(Profile, "bob").fingerprint("s")).key).toBe("bob");
    expect(await alice.visit()).toBe(2);
    // A turn may await its own threaded method: not a turn, so no deadlock.
    expect(await alice.visitAndFingerprint("s")).toEqual({ visits: 3, digest: fp.digest });
  });

  it("says so when a threaded method reads the state", async () => {
    const silo = await start(1);
    const err = await silo
      .ref(Profile, "alice")
      .peek()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "NOT_ON_THREAD", message: expect.stringContaining("this.state") });
  });
});

describe("worker pool: deadlines", () => {
  it("stops a call still running at its deadline by replacing its thread, and says so", async () => {
    const clock = new ManualClock();
    const silo = await start(1, clock);
    const before = await silo.invoke(Hasher, "thread");
    const slow = silo.ref(Hasher, "k", { timeoutMs: 1000 }).spin(60_000);
    const queued = silo.ref(Hasher, "k", { timeoutMs: 500 }).echo("never");
    const outcome = Promise.allSettled([slow, queued]);
    await clock.advance(600);
    await clock.advance(600);
    const [s, q] = await outcome;
    expect(q.status === "rejected" && q.reason).toBeInstanceOf(TimeoutError);
    expect((q as PromiseRejectedResult).reason.message).toMatch(/cancelled at its 500 ms deadline.*never ran/);
    expect(s.status === "rejected" && s.reason).toBeInstanceOf(TimeoutError);
    expect((s as PromiseRejectedResult).reason.message).toMatch(/still running, so its worker thread was terminated/);
    // A fresh thread serves the next call.
    const after = await silo.invoke(Hasher, "thread");
    expect(after).not.toBe(before);
  });
});

describe("worker pool: crashes", () => {
  it("fails the call of a thread that dies of an uncaught exception with WorkerCrashedError and replaces it", async () => {
    const silo = await start(1);
    const before = await silo.invoke(Hasher, "thread");
    const err = await silo.invoke(Hasher, "crash").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect(err).toMatchObject({ code: "WORKER_CRASHED", retryable: false });
    expect((err as Error).message).toContain("kaboom");
    const after = await silo.invoke(Hasher, "thread");
    expect(after).not.toBe(before);
    expect(await silo.invoke(Hasher, "echo", "still serving")).toBe("still serving");
  });

  it("treats process.exit in a thread as a crash of that thread only", async () => {
    const silo = await start(1);
    const err = await silo.invoke(Hasher, "exit", 7).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerCrashedError);
    expect((err as Error).message).toContain("exited with code 7");
    expect(await silo.invoke(Doubler, "double", 5)).toBe(10);
  });

  it("runs queued calls on the replacement after a crash", async () => {
    const silo = await start(1);
    const crashed = silo.invoke(Hasher, "crash").catch((e: unknown) => e);
    const queued = silo.invoke(Hasher, "echo", "after");
    expect(await crashed).toBeInstanceOf(WorkerCrashedError);
    expect(await queued).toBe("after");
  });
});

describe("worker pool: settings and stop", () => {
  it("rejects bad settings when the silo starts", async () => {
    await expect(Silo.start({ actors: [Hasher], storage: new MemoryStateStore(), workerThreads: 0 })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(Silo.start({ actors: [Hasher], storage: new MemoryStateStore(), workerThreads: 1.5 })).rejects.toThrow(
      /workerThreads must be an integer/,
    );
    class Keyed extends Hasher {
      static override stateless = false;
      static override threads = { module: import.meta.url };
    }
    await expect(Silo.start({ actors: [Keyed], storage: new MemoryStateStore() })).rejects.toThrow(
      /a keyed type must list the methods that run on threads/,
    );
    class KeyedTypo extends Hasher {
      static override stateless = false;
      static override threads = { module: import.meta.url, methods: ["hash", "nope"] };
    }
    await expect(Silo.start({ actors: [KeyedTypo], storage: new MemoryStateStore() })).rejects.toThrow(
      /threads.methods names "nope", which is not a callable method/,
    );
    class Relative extends Hasher {
      static override threads = { module: "./actors.js" };
    }
    await expect(Silo.start({ actors: [Relative], storage: new MemoryStateStore() })).rejects.toThrow(
      /file: URL \(import.meta.url\) or an absolute path/,
    );
  });

  it("stops a call still running when the drain ends, by terminating its thread", async () => {
    const silo = await Silo.start({
      actors: [Hasher],
      storage: new MemoryStateStore(),
      workerThreads: 1,
      drainTimeoutMs: 400,
    });
    await silo.invoke(Hasher, "thread");
    const running = silo.invoke(Hasher, "spin", 60_000).catch((e: unknown) => e);
    await silo.stop();
    expect(await running).toBeInstanceOf(SiloStoppedError);
  });

  it("reports threaded calls to the call observer (metrics), with their error codes", async () => {
    const silo = await start(1);
    const seen: [string, string, string | undefined][] = [];
    silo.observeCalls({ callCompleted: (type, method, _ms, code) => seen.push([type, method, code]) });
    await silo.invoke(Doubler, "double", 1);
    await silo.invoke(Hasher, "fail", "NOPE").catch(() => {});
    await expect
      .poll(() => seen)
      .toEqual([
        ["Doubler", "double", undefined],
        ["Hasher", "fail", "NOPE"],
      ]);
  });

  it("lets a running call finish when the silo stops, and refuses calls after", async () => {
    const silo = await start(1);
    await silo.invoke(Hasher, "thread");
    const running = silo.invoke(Hasher, "spin", 100);
    const queued = silo.invoke(Hasher, "echo", "late").catch((e: unknown) => e);
    await silo.stop();
    expect(await running).toBe("spun");
    expect(await queued).toBeInstanceOf(SiloStoppedError);
    await expect(silo.invoke(Hasher, "echo", 1)).rejects.toBeInstanceOf(SiloStoppedError);
  });
});
