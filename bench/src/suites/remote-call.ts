/**
 * `remote-call`: calls between two silo processes (Redis membership, real
 * silo-to-silo WebSocket), against the floor for that: a raw WebSocket echo
 * between two other processes, measured in the same run, in interleaved
 * rounds. The actor method returns its argument and keeps no state, so the
 * figures are the call path alone.
 */
import { startRedisServer } from "@praas/testing";
import { median, ratio, summarize } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult } from "../suite.js";
import { type Child, killChild, startChild, stopSilo, until } from "./cluster-harness.js";

const TARGET = { p50Ratio: 1.2, pipelinedCallsPerSec: 100_000 } as const;

const COUNTS = {
  // Many short interleaved rounds: on a shared machine, load that comes and goes hits both variants alike.
  quick: { rounds: 12, seq: 2_000, warm: 5_000, pipeRounds: 3, pipelined: 200_000, window: 1_000 },
  full: { rounds: 40, seq: 5_000, warm: 20_000, pipeRounds: 7, pipelined: 1_000_000, window: 1_000 },
} as const;

/** Size of the raw echo payload: about what a call envelope frame of `echo(n)` weighs. */
const ECHO_BYTES = 32;

const us = (ns: number): number => ns / 1000;

const PAYLOADS: readonly [string, number][] = [
  ["10 B", 10],
  ["1 KiB", 1024],
  ["100 KiB", 100 * 1024],
  ["1 MiB", 1024 * 1024],
  ["5 MiB", 5 * 1024 * 1024],
];

/** The seed's invocation medians, ms: [PraaS remote, raw TCP] (AWS Fargate). */
const PAPER_INVOCATION: Record<string, readonly [number, number]> = {
  "10 B": [0.793, 0.725],
  "1 KiB": [0.84, 0.742],
  "100 KiB": [1.588, 1.314],
  "1 MiB": [12.71, 12.93],
  "5 MiB": [116.12, 95.81],
};

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const c = COUNTS[ctx.profile];
  ctx.log("remote-call: starting redis-server and two silo processes");
  const redis = await startRedisServer();
  const children: Child[] = [];
  try {
    const env = { REDIS_URL: redis.url, CLUSTER: `bench-${process.pid}-${Date.now()}` };
    const a = await startChild("silo", env);
    children.push(a);
    const b = await startChild("silo", env);
    children.push(b);
    await until(
      async () =>
        (await a.ask<{ members: string[] }>({ cmd: "members" })).members.length === 2 &&
        (await b.ask<{ members: string[] }>({ cmd: "members" })).members.length === 2,
      "both silos to see each other",
    );
    const aKeys = (await a.ask<{ keys: string[] }>({ cmd: "keys", type: "Echo", count: 100 })).keys;
    const bKeys = (await b.ask<{ keys: string[] }>({ cmd: "keys", type: "Echo", count: 100 })).keys;
    const server = await startChild("ws-server");
    children.push(server);
    const port = server.ready.port as number;
    const client = await startChild("ws-client");
    children.push(client);
    await client.ask({ cmd: "connect", port });

    const remoteSeq = async (n: number) =>
      (await a.ask<{ samples: number[] }>({ cmd: "seq", key: aKeys[0], n, payload: 1 })).samples;
    const echoSeq = async (n: number) =>
      (await client.ask<{ samples: number[] }>({ cmd: "seq", n, bytes: ECHO_BYTES })).samples;

    ctx.log("remote-call: warming up");
    await remoteSeq(c.warm);
    await echoSeq(c.warm);
    await a.ask({ cmd: "pipe", keys: aKeys, n: c.warm * 4, window: c.window });

    ctx.log(`remote-call: ${c.rounds} interleaved rounds of ${c.seq} sequential calls each`);
    const remote: number[][] = [];
    const echo: number[][] = [];
    for (let r = 0; r < c.rounds; r++) {
      remote.push(await remoteSeq(c.seq));
      echo.push(await echoSeq(c.seq));
    }
    const rs = summarize(remote.flat());
    const es = summarize(echo.flat());
    const p50 = { remote: rs.p50, echo: es.p50 };
    const p99 = { remote: rs.p99, echo: es.p99 };

    ctx.log(`remote-call: ${c.pipeRounds} rounds of ${c.pipelined} pipelined calls (window ${c.window})`);
    const oneWay: number[] = [];
    const bothWays: number[] = [];
    for (let r = 0; r < c.pipeRounds; r++) {
      const { ns } = await a.ask<{ ns: number }>({ cmd: "pipe", keys: aKeys, n: c.pipelined, window: c.window });
      oneWay.push((c.pipelined * 1e9) / ns);
      // Both silos call each other at once: the pair's total.
      const [x, y] = await Promise.all([
        a.ask<{ ns: number }>({ cmd: "pipe", keys: aKeys, n: c.pipelined / 2, window: c.window }),
        b.ask<{ ns: number }>({ cmd: "pipe", keys: bKeys, n: c.pipelined / 2, window: c.window }),
      ]);
      bothWays.push(c.pipelined / (Math.max(x.ns, y.ns) / 1e9));
    }
    // The seed's invocation table: the same round trip with payloads of 10 B … 5 MiB.
    ctx.log("remote-call: payload sweep");
    const payloadRows: Row[] = [];
    for (const [label, bytes] of PAYLOADS) {
      const n = bytes >= 1024 * 1024 ? (ctx.profile === "quick" ? 10 : 30) : bytes >= 100 * 1024 ? 100 : 500;
      await a.ask({ cmd: "seq", key: aKeys[0], n: Math.min(n, 20), payloadBytes: bytes });
      const callNs = (await a.ask<{ samples: number[] }>({ cmd: "seq", key: aKeys[0], n, payloadBytes: bytes }))
        .samples;
      const echoNs = (await client.ask<{ samples: number[] }>({ cmd: "seq", n, bytes })).samples;
      const paper = PAPER_INVOCATION[label] as readonly [number, number];
      payloadRows.push({
        payload: label,
        "PraaS remote median ms": median(callNs) / 1e6,
        "raw ws echo median ms": median(echoNs) / 1e6,
        "× echo": ratio(median(callNs), median(echoNs)),
        "paper PraaS remote ms": paper[0],
        "paper raw TCP ms": paper[1],
      });
    }
    const pipelined = median(oneWay);
    const pipelinedBoth = median(bothWays);
    const p50Ratio = ratio(p50.remote, p50.echo);

    const latencyRows: Row[] = [
      {
        variant: "remote call (silo → silo process)",
        "p50 µs": us(p50.remote),
        "p99 µs": us(p99.remote),
        "p50 × echo": p50Ratio,
        "p99 × echo": ratio(p99.remote, p99.echo),
      },
      { variant: "raw ws echo (process → process)", "p50 µs": us(p50.echo), "p99 µs": us(p99.echo) },
    ];
    const throughputRows: Row[] = [
      { variant: "one silo calls the other", "calls/s": pipelined, window: c.window },
      { variant: "both call each other (pair total)", "calls/s": pipelinedBoth, window: c.window },
    ];
    return {
      tables: [
        {
          title: "Sequential remote call vs raw WebSocket echo (µs, all samples of interleaved rounds)",
          rows: latencyRows,
          notes: [
            `target: p50 ≤ ${TARGET.p50Ratio}× the raw echo — ${p50Ratio <= TARGET.p50Ratio ? "met" : "NOT met"}`,
            `${c.rounds} interleaved rounds × ${c.seq} calls; echo payload ${ECHO_BYTES} B (≈ a call frame)`,
            "remote call = proxy → Call → ring owner → CBOR frame → ws → peer silo → turn → reply frame",
          ],
        },
        {
          title: "Invocation latency by payload: remote call vs raw WebSocket echo (median ms, round trip)",
          rows: payloadRows,
          notes: [
            "the call's argument and result are a byte array of the payload size (echo(bytes) returns it)",
            "paper: the seed's medians on AWS Fargate (PraaS remote, raw TCP) — a different platform; compare the ratios",
          ],
        },
        {
          title: "Pipelined remote calls per silo pair",
          rows: throughputRows,
          notes: [
            `target: ≥ ${TARGET.pipelinedCallsPerSec.toLocaleString("en-US")} calls/s — ${pipelined >= TARGET.pipelinedCallsPerSec ? "met" : "NOT met"}`,
            `${c.pipelined} calls over 100 keys owned by the other silo, median of ${c.pipeRounds} rounds`,
          ],
        },
      ],
      summary: {
        remoteP50Us: us(p50.remote),
        remoteP99Us: us(p99.remote),
        wsEchoP50Us: us(p50.echo),
        wsEchoP99Us: us(p99.echo),
        p50RatioToEcho: p50Ratio,
        pipelinedCallsPerSec: pipelined,
        pipelinedBothWaysCallsPerSec: pipelinedBoth,
      },
    };
  } finally {
    for (const ch of children.slice(0, 2)) await stopSilo(ch).catch(() => {});
    for (const ch of children.slice(2)) await killChild(ch);
    await redis.stop();
  }
}

export const remoteCall: Suite = {
  name: "remote-call",
  description: "Sequential and pipelined calls between two silo processes vs a raw WebSocket echo",
  run,
};
