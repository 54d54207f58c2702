/**
 * Suite `ipc`: the seed's inter-process figure. One-way latency of keyed
 * send/recv ping-pong between two actors on two silo processes, beside the
 * same ping-pong through Redis (LPUSH/BRPOP) and through S3 (PUT + polling
 * GET), each against a peer in another process, for 10 B … 5 MiB.
 */
import { randomBytes } from "node:crypto";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { type S3Endpoint, s3ClientConfig, startRedisServer } from "@praas/testing";
import { Redis } from "ioredis";
import { median, ratio } from "../stats.js";
import type { Row, Suite } from "../suite.js";
import { type Child, startChild, stopSilo } from "./cluster-harness.js";
import { pollGet } from "./ipc-s3.js";

const CHILD = new URL("./ipc-child.js", import.meta.url);

/** Ask an ipc-child; its commands answer with a message, or `{ error }` when they failed. */
async function ask(c: Child, message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await c.ask(message, 180_000);
  if (typeof r.error === "string") throw new Error(`ipc child: ${r.error}`);
  return r;
}

const SIZES: readonly [string, number][] = [
  ["10 B", 10],
  ["1 KiB", 1024],
  ["100 KiB", 100 * 1024],
  ["1 MiB", 1024 * 1024],
  ["5 MiB", 5 * 1024 * 1024],
];

/** The seed's medians (AWS), one-way ms: PraaS send/recv, Redis, S3. */
const PAPER: Record<string, [number, number, number]> = {
  "10 B": [0.196, 2.89, 33.26],
  "1 KiB": [0.242, 1.56, 51.6],
  "100 KiB": [0.834, 3.52, 71.59],
  "1 MiB": [7.37, 12.14, 138.9],
  "5 MiB": [61.36, 113.87, 268.6],
};

function rounds(size: number, quick: boolean): number {
  const base = size <= 1024 ? 300 : size <= 100 * 1024 ? 100 : size <= 1024 * 1024 ? 30 : 8;
  return quick ? Math.max(5, Math.round(base / 3)) : base;
}

const oneWayMs = (rttNs: readonly number[]) => median(rttNs) / 2 / 1e6;

export const ipc: Suite = {
  name: "ipc",
  description: "send/recv ping-pong between two silo processes vs Redis LPUSH/BRPOP and S3 PUT + polling GET",
  async run(ctx) {
    const quick = ctx.profile === "quick";
    const redis = await startRedisServer();
    const cluster = `ipc-${randomBytes(3).toString("hex")}`;
    const children: Child[] = [];
    try {
      const env = { REDIS_URL: redis.url, CLUSTER: cluster };
      const a = await startChild("silo", env, CHILD);
      const b = await startChild("silo", env, CHILD);
      children.push(a, b);
      // Wait until both silos see both members, so placement agrees.
      for (let i = 0; i < 200; i++) {
        const [ma, mb] = await Promise.all([ask(a, { cmd: "members" }), ask(b, { cmd: "members" })]);
        if ((ma.members as string[]).length === 2 && (mb.members as string[]).length === 2) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const keyA = (await ask(a, { cmd: "ownKey" })).key as string;
      const keyB = (await ask(b, { cmd: "ownKey" })).key as string;
      const echo = await startChild("redis-echo", env, CHILD);
      children.push(echo);
      const s3 = await startChild("s3-server", {}, CHILD);
      children.push(s3);
      const endpoint: S3Endpoint = {
        endpoint: s3.ready.endpoint as string,
        region: s3.ready.region as string,
        credentials: s3.ready.credentials as S3Endpoint["credentials"],
      };
      const s3echo = await startChild("s3-echo", { S3_ENDPOINT: JSON.stringify(endpoint) }, CHILD);
      children.push(s3echo);
      const client = new Redis(redis.url);
      const s3client = new S3Client(s3ClientConfig(endpoint));

      const rows: Row[] = [];
      const summary: Record<string, number> = {};
      for (const [label, size] of SIZES) {
        const n = rounds(size, quick);
        ctx.log(`ipc: ${label} × ${n}`);
        // PraaS: B answers, A serves; timing inside A's actor.
        await ask(b, { cmd: "returner", key: keyB, rounds: n + 2 });
        const praas = (
          (await ask(a, { cmd: "serve", key: keyA, peer: keyB, rounds: n + 2, size })).samples as number[]
        ).slice(2);
        // Redis: LPUSH to the echo process, BRPOP its reply.
        const payload = Buffer.alloc(size, 7);
        const redisRtt: number[] = [];
        for (let i = 0; i < n + 2; i++) {
          const t0 = process.hrtime.bigint();
          await client.lpush("ipc:req", payload);
          await client.brpopBuffer("ipc:resp", 0);
          if (i >= 2) redisRtt.push(Number(process.hrtime.bigint() - t0));
        }
        // S3: PUT ping-i, the echo polls it and PUTs pong-i, we poll pong-i.
        const s3n = Math.max(3, Math.min(n, quick ? 10 : 30));
        const prefix = `${label.replace(/ /g, "")}-${randomBytes(3).toString("hex")}`;
        const done = ask(s3echo, { cmd: "run", rounds: s3n, prefix });
        const s3Rtt: number[] = [];
        for (let i = 0; i < s3n; i++) {
          const t0 = process.hrtime.bigint();
          await s3client.send(new PutObjectCommand({ Bucket: "ipc", Key: `${prefix}/ping-${i}`, Body: payload }));
          await pollGet(s3client, `${prefix}/pong-${i}`);
          s3Rtt.push(Number(process.hrtime.bigint() - t0));
        }
        await done;
        const p = oneWayMs(praas);
        const r = oneWayMs(redisRtt);
        const s = oneWayMs(s3Rtt);
        const paper = PAPER[label] as [number, number, number];
        rows.push({
          size: label,
          "PraaS ms": p,
          "Redis ms": r,
          "S3 ms": s,
          "vs Redis": `${((1 - p / r) * 100).toFixed(0)} % below`,
          "vs S3": `${((1 - p / s) * 100).toFixed(0)} % below`,
          "paper PraaS": paper[0],
          "paper Redis": paper[1],
          "paper S3": paper[2],
        });
        const key = label.replace(/ /g, "");
        summary[`praas_${key}_ms`] = p;
        summary[`redis_${key}_ms`] = r;
        summary[`s3_${key}_ms`] = s;
        summary[`redisOverPraas_${key}`] = ratio(r, p);
      }
      client.disconnect();
      s3client.destroy();
      return {
        tables: [
          {
            title: "One-way latency of keyed messages between two processes (ping-pong ÷ 2), median ms",
            rows,
            notes: [
              "PraaS: actor A on silo process 1 does send(B, 'ping') then recv('pong'); actor B on silo process 2 answers. Silo-to-silo WebSocket, CBOR; Redis membership.",
              "Redis: LPUSH to a list, an echo process BRPOPs and LPUSHes back, BRPOP the reply (ioredis, local redis-server).",
              "S3: PUT ping-N, an echo process polls GET until it exists and PUTs pong-N, we poll GET pong-N (local s3rver in its own process).",
              "Targets: ≥ 50 % below Redis up to 100 KiB, ≥ 90 % below S3 at every size.",
              "paper columns: the seed's medians on AWS (Fargate, ElastiCache, S3) — a different platform; compare the ratios, not the milliseconds.",
            ],
          },
        ],
        summary,
      };
    } finally {
      await Promise.allSettled(children.map((c) => stopSilo(c)));
      await redis.stop();
    }
  },
};
