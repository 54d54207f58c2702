/**
 * The silo process of the `durable` suite: one silo with a WebSocket gateway
 * on a free port, state in the store named by STORE (memory | lmdb | log-sketch | fs | redis | s3),
 * hosting two counters that differ only in persistence: `TurnCounter` ("turn":
 * the reply leaves once the write is durable) and `LazyCounter` ("deactivate"),
 * and `RawPutCounter`, whose call makes one raw LMDB durable put (the baseline).
 *
 * Commands (IPC, from the suite): `drain` { n } — make n LazyCounter
 * activations with a change each, then time `silo.stop()` (what SIGTERM does
 * after the gateway closed: every activation saved), answer, exit. `floor`
 * { n } — n raw lmdb-js durable puts in a loop in this process (its own
 * folder): the disk's commit when lmdb-js's threads are kept busy.
 */
import { createRequire } from "node:module";
import { MemoryStateStore, type StateStore } from "@praas/core";
import { RedisStateStore } from "@praas/redis";
import { Actor, FileStateStore, LmdbStateStore, Silo, startGateway } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { LogSketchStore } from "./durable-log-sketch.js";

class TurnCounter extends Actor<{ n: number }> {
  static readonly persistence = "turn";
  static initialState() {
    return { n: 0 };
  }
  add(x: number): number {
    this.state.n += x;
    return this.state.n;
  }
}

class LazyCounter extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  add(x: number): number {
    this.state.n += x;
    return this.state.n;
  }
}

/**
 * The baseline of the embedded store's "turn" latency: a call that makes one
 * raw lmdb-js durable put (its own folder; resolved at commit, then flushed,
 * as the store writes) and answers once it is on disk. It is reached like
 * TurnCounter — same client, socket and wake-ups, the put issued at the same
 * point of the call — so "turn" minus this is what the framework adds to a
 * durable write, and nothing else. (A loop of raw puts is cheaper: it keeps
 * lmdb-js's writer and flush threads awake, which a put after a network round
 * trip does not find.)
 */
class RawPutCounter extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  async add(x: number): Promise<number> {
    await rawPut();
    this.state.n += x;
    return this.state.n;
  }
}

function store(env: NodeJS.ProcessEnv): StateStore {
  switch (env.STORE) {
    case "memory":
      return new MemoryStateStore();
    case "lmdb":
      return new LmdbStateStore(env.STATE_DIR as string);
    case "log-sketch":
      return new LogSketchStore(env.STATE_DIR as string);
    case "fs":
      return new FileStateStore(env.STATE_DIR as string);
    case "redis":
      return new RedisStateStore({ url: env.REDIS_URL as string, keyPrefix: `${env.PREFIX}:` });
    case "s3":
      return new S3StateStore({
        bucket: env.S3_BUCKET as string,
        prefix: env.PREFIX,
        endpoint: env.S3_ENDPOINT,
        region: env.S3_REGION,
        forcePathStyle: true,
        credentials: { accessKeyId: env.S3_KEY as string, secretAccessKey: env.S3_SECRET as string },
      });
    default:
      throw new Error(`unknown STORE ${env.STORE}`);
  }
}

const silo = await Silo.start({
  actors: [TurnCounter, LazyCounter, RawPutCounter],
  storage: store(process.env),
  idleTimeoutMs: 3_600_000,
  // The drain is what is measured: never cut it short (a slow store would be abandoned, not timed).
  drainTimeoutMs: 3_600_000,
});
const gateway = await startGateway(silo, { port: 0, limits: { maxConnections: 10_000 } });
process.send?.({ ready: true, wsUrl: gateway.wsUrl });

type RawDb = { put(k: string, v: Buffer, version: number): Promise<boolean> & { flushed?: PromiseLike<unknown> } };
let rawDb: RawDb | undefined;
let rawVersion = 0;

const RAW_BYTES = Buffer.alloc(30, 1);

/** One raw durable put as the embedded store makes it (resolved at commit, then flushed). */
async function rawPut(): Promise<void> {
  if (rawDb === undefined) {
    const { open } = createRequire(import.meta.url)("lmdb") as {
      open(o: object): { openDB(name: string, o: object): RawDb };
    };
    const root = open({ path: `${process.env.STATE_DIR}-floor`, noSubdir: false, separateFlushed: true });
    rawDb = root.openDB("raw", { encoding: "binary", useVersions: true });
  }
  const written = rawDb.put("k", RAW_BYTES, ++rawVersion);
  await written;
  await written.flushed;
}

/** `n` raw durable puts in a loop; ns each. */
async function rawPuts(n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await rawPut();
    samples.push(Number(process.hrtime.bigint() - t));
  }
  return samples;
}

process.on("message", async (m: { cmd: string; id: number; n?: number }) => {
  if (m.cmd === "floor") {
    process.send?.({ id: m.id, samples: await rawPuts(m.n ?? 100) });
    return;
  }
  if (m.cmd !== "drain") return;
  await gateway.close({ drainTimeoutMs: 1000 });
  const n = m.n ?? 10_000;
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, n - i) }, (_, j) => silo.ref(LazyCounter, `drain-${i + j}`).add(1)),
    );
  }
  const activations = silo.activationCount;
  const t0 = performance.now();
  await silo.stop();
  const ms = performance.now() - t0;
  process.send?.({ id: m.id, ms, activations }, () => process.exit(0));
});
