/**
 * Child processes of the `ipc` suite, one role per process (argv[2]):
 *
 * - `silo`: a cluster silo hosting `Pinger` (Redis membership from REDIS_URL /
 *   CLUSTER, no persistence). Commands: ownKey, serve, returner, stop.
 * - `redis-echo`: BRPOP a request list, LPUSH the same bytes to a reply list.
 * - `s3-server`: the local S3 server (s3rver with preconditions), in its own process.
 * - `s3-echo`: poll-GET `ping-N`, PUT the same bytes as `pong-N`.
 *
 * Timing happens where the ping starts (inside the serving actor for PraaS,
 * in the suite process for Redis and S3), never across the IPC channel.
 */
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { HashRing } from "@praas/core/internal";
import { redisMembership } from "@praas/redis";
import { Actor, MemoryStateStore, Silo } from "@praas/silo";
import { type S3Endpoint, s3ClientConfig, startS3Server } from "@praas/testing";
import { Redis } from "ioredis";
import { pollGet } from "./ipc-s3.js";

type Message = Record<string, unknown> & { readonly cmd: string };
const send = (m: unknown): void => {
  process.send?.(m);
};
/** Answer command `m` (the harness matches answers to commands by `id`). */
const reply = (m: Message, answer: Record<string, unknown>): void => send({ ...answer, id: m.id });
const nowNs = (): number => Number(process.hrtime.bigint());

/** Plays PraaS send/recv ping-pong with a peer process. */
class Pinger extends Actor {
  static readonly persistence = "none";
  /** Send `rounds` pings of `size` bytes to `peer`, wait for each pong; RTT per round in ns. */
  async serve(peer: string, rounds: number, size: number): Promise<number[]> {
    const other = this.ref(Pinger, peer);
    const payload = new Uint8Array(size).fill(7);
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = nowNs();
      await this.send(other, "ping", payload);
      await this.recv("pong", { from: other, timeoutMs: 120_000 });
      samples.push(nowNs() - t0);
    }
    return samples;
  }
  /** Answer `rounds` pings with pongs carrying the same bytes. */
  async returner(rounds: number): Promise<number> {
    for (let i = 0; i < rounds; i++) {
      const m = await this.recv("ping", { timeoutMs: 120_000 });
      const from = m.from as string;
      await this.send({ type: "Pinger", key: from.slice(from.indexOf("/") + 1) }, "pong", m.data);
    }
    return rounds;
  }
}

async function silo(): Promise<void> {
  const env = process.env;
  const s = await Silo.start({
    actors: [Pinger],
    storage: new MemoryStateStore(),
    idleTimeoutMs: 600_000,
    callTimeoutMs: 120_000,
    cluster: {
      name: env.CLUSTER as string,
      membership: redisMembership({ url: env.REDIS_URL as string, cluster: env.CLUSTER as string }),
      secret: env.PRAAS_CLUSTER_SECRET,
    },
  });
  const active = (): string[] =>
    s
      .clusterView()
      .silos.filter((x) => x.status === "active")
      .map((x) => x.id);
  process.on("message", async (m: Message) => {
    try {
      switch (m.cmd) {
        case "members":
          reply(m, { members: active() });
          break;
        case "ownKey": {
          // A Pinger key this silo owns, so the peer's pings are remote.
          const ring = new HashRing(active());
          let key = "";
          for (let i = 0; key === "" && i < 100_000; i++) if (ring.owner(`Pinger/p${i}`) === s.siloId) key = `p${i}`;
          reply(m, { key });
          break;
        }
        case "returner":
          reply(m, { started: true });
          await s.ref(Pinger, m.key as string).returner(m.rounds as number);
          break;
        case "serve": {
          const samples = await s
            .ref(Pinger, m.key as string)
            .serve(m.peer as string, m.rounds as number, m.size as number);
          reply(m, { samples });
          break;
        }
        case "stop":
          await s.stop();
          process.exit(0);
      }
    } catch (err) {
      reply(m, { error: String(err) });
    }
  });
  send({ ready: true, siloId: s.siloId });
}

async function redisEcho(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL as string);
  process.on("message", (m: Message) => {
    if (m.cmd === "stop") process.exit(0);
  });
  send({ ready: true });
  for (;;) {
    const item = await redis.brpopBuffer("ipc:req", 0);
    if (item === null) continue;
    const body = item[1];
    if (body.length === 4 && body.toString() === "STOP") break;
    await redis.lpush("ipc:resp", body);
  }
  redis.disconnect();
  process.exit(0);
}

async function s3Server(): Promise<void> {
  const server = await startS3Server({ buckets: ["ipc"] });
  send({ ready: true, endpoint: server.endpoint, region: server.region, credentials: server.credentials });
  process.on("message", async (m: Message) => {
    if (m.cmd === "stop") {
      await server.stop();
      process.exit(0);
    }
  });
}

async function s3Echo(): Promise<void> {
  const endpoint = JSON.parse(process.env.S3_ENDPOINT as string) as S3Endpoint;
  const client = new S3Client(s3ClientConfig(endpoint));
  send({ ready: true });
  process.on("message", async (m: Message) => {
    if (m.cmd === "stop") process.exit(0);
    if (m.cmd !== "run") return;
    for (let i = 0; i < (m.rounds as number); i++) {
      const body = await pollGet(client, `${m.prefix}/ping-${i}`);
      await client.send(new PutObjectCommand({ Bucket: "ipc", Key: `${m.prefix}/pong-${i}`, Body: body }));
    }
    reply(m, { done: true });
  });
}

const role = process.argv[2];
const roles: Record<string, () => Promise<void>> = {
  silo,
  "redis-echo": redisEcho,
  "s3-server": s3Server,
  "s3-echo": s3Echo,
};
const run = role === undefined ? undefined : roles[role];
if (run === undefined) {
  console.error(`ipc-child: unknown role ${role}`);
  process.exit(2);
}
await run();
