/**
 * The silo process of the `durable` suite: one silo with a WebSocket gateway
 * on a free port, state in the store named by STORE (memory | lmdb | fs | redis | s3),
 * hosting two counters that differ only in persistence: `TurnCounter` ("turn":
 * the reply leaves once the write is durable) and `LazyCounter` ("deactivate"),
 * and `RawPutCounter`, whose call makes the embedded store's bare durable
 * write by hand: one O_DSYNC append to a file written in full up front (the baseline).
 *
 * Commands (IPC, from the suite): `drain` { n } — make n LazyCounter
 * activations with a change each, then time `silo.stop()` (what SIGTERM does
 * after the gateway closed: every activation saved), answer, exit. `floor`
 * { n } — n of those bare appends in a loop in this process.
 */
import { closeSync, fdatasyncSync, constants as fsConstants, openSync, write, writeFileSync } from "node:fs";
import { MemoryStateStore, type StateStore } from "@praas/core";
import { RedisStateStore } from "@praas/redis";
import { Actor, FileStateStore, LmdbStateStore, Silo, startGateway } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";

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
 * The baseline of the embedded store's "turn" latency: a call that makes, by
 * hand, the one durable write the store's commit log makes for it — one
 * O_DSYNC append to a file written in full up front (its own file), through
 * libuv's thread pool as the log does — and answers once it is on disk. It
 * is reached like TurnCounter (same client, socket and wake-ups), so "turn"
 * minus this is what the framework adds to a durable write, and nothing else.
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

const RAW_FILE_BYTES = 4 * 1024 * 1024;
const RAW_BYTES = Buffer.alloc(100, 1);
let rawFd: number | undefined;
let rawOffset = 0;

/** One bare durable append, as the embedded store's commit log makes it. */
async function rawPut(): Promise<void> {
  if (rawFd === undefined) {
    const file = `${process.env.STATE_DIR}-raw.log`;
    writeFileSync(file, Buffer.alloc(RAW_FILE_BYTES));
    const fd = openSync(file, "r+");
    fdatasyncSync(fd);
    closeSync(fd);
    rawFd = openSync(file, fsConstants.O_WRONLY | fsConstants.O_DSYNC);
  }
  const fd = rawFd;
  if (rawOffset + RAW_BYTES.length > RAW_FILE_BYTES) rawOffset = 0;
  const position = rawOffset;
  rawOffset += RAW_BYTES.length;
  await new Promise<void>((resolve, reject) =>
    write(fd, RAW_BYTES, 0, RAW_BYTES.length, position, (err) => (err ? reject(err) : resolve())),
  );
}

/** `n` bare appends in a loop; ns each. */
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
