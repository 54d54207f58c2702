/**
 * `client`: the cost of reaching an actor from outside the silo.
 * 1. Sequential calls client → gateway → actor (same process, same silo)
 *    against a raw `ws` echo of a frame of the same size, in the same run.
 * 2. Many concurrent client connections calling for a bounded time (clients in
 *    a worker thread, gateway in the main thread): calls/s and latency.
 * 3. HTTP invoke calls/s against a bare node:http handler doing JSON in/out.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Worker } from "node:worker_threads";
import { connect } from "@praas/client";
import { encodeTrusted } from "@praas/core/internal";
import { Actor, type Gateway, MemoryStateStore, Silo, startGateway } from "@praas/silo";
import { WebSocket, WebSocketServer } from "ws";
import { clockOverheadNs, interleavedRounds, percentile, ratio, singleOpSamples, summarize, warmUp } from "../stats.js";
import type { BenchContext, Row, Suite, SuiteResult, Table } from "../suite.js";
import type { LoadJob, LoadResult } from "./client-load-worker.js";

const TARGET = { sequentialRatio: 1.25 } as const;

interface Counts {
  readonly rounds: number;
  readonly singleOps: number;
  readonly connections: number;
  readonly loadMs: number;
  readonly httpConnections: number;
  readonly httpMs: number;
  readonly httpRounds: number;
}

const COUNTS: Record<"quick" | "full", Counts> = {
  quick: {
    rounds: 3,
    singleOps: 5_000,
    connections: 200,
    loadMs: 3_000,
    httpConnections: 32,
    httpMs: 2_000,
    httpRounds: 1,
  },
  full: {
    rounds: 7,
    singleOps: 20_000,
    connections: 1_000,
    loadMs: 10_000,
    httpConnections: 64,
    httpMs: 5_000,
    httpRounds: 3,
  },
};

class LoadCounter extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  async add(x: number): Promise<number> {
    this.state.n += x;
    return this.state.n;
  }
}

const us = (ns: number): number => ns / 1000;

async function withGateway<T>(fn: (gw: Gateway, silo: Silo) => Promise<T>): Promise<T> {
  const silo = await Silo.start({ actors: [LoadCounter], storage: new MemoryStateStore() });
  const gw = await startGateway(silo, { port: 0, limits: { maxConnections: 20_000 } });
  try {
    return await fn(gw, silo);
  } finally {
    await gw.close({ drainTimeoutMs: 1000 });
    await silo.stop();
  }
}

/** A raw ws echo server and a client that sends `frame` and awaits the echo. */
async function echoPair(frame: Uint8Array): Promise<{ roundTrip: () => Promise<unknown>; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  wss.on("connection", (ws) => ws.on("message", (data: Buffer) => ws.send(data)));
  const port = (wss.address() as AddressInfo).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let pending: (() => void) | undefined;
  ws.on("message", () => pending?.());
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        pending = resolve;
        ws.send(frame);
      }),
    close: async () => {
      ws.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

async function sequential(ctx: BenchContext, c: Counts): Promise<{ table: Table; ratio: number; p50Us: number }> {
  return withGateway(async (gw) => {
    const client = await connect(gw.wsUrl);
    const ref = client.ref<LoadCounter>("LoadCounter", "seq");
    // The echo carries a frame the size of the client's call frame.
    const frame = encodeTrusted({
      t: "call",
      id: 1000,
      type: "LoadCounter",
      key: "seq",
      method: "add",
      args: [1],
      timeoutMs: 30000,
    });
    const echo = await echoPair(frame);
    try {
      const praas = () => ref.add(1);
      ctx.log("sequential: warming up");
      await warmUp(() => singleOpSamples(500, praas), { minIterations: 5, minMs: 300 });
      await warmUp(() => singleOpSamples(500, echo.roundTrip), { minIterations: 5, minMs: 300 });
      ctx.log(`sequential: ${c.rounds} interleaved rounds of ${c.singleOps} calls`);
      const r = await interleavedRounds(c.rounds, {
        praas: () => singleOpSamples(c.singleOps, praas),
        echo: () => singleOpSamples(c.singleOps, echo.roundTrip),
      });
      const p = summarize(r.praas.flat());
      const e = summarize(r.echo.flat());
      const rat = ratio(p.p50, e.p50);
      const row = (variant: string, s: typeof p, extra: Row = {}): Row => ({
        variant,
        "p50 µs": us(s.p50),
        "p99 µs": us(s.p99),
        "mean µs": us(s.mean),
        ...extra,
      });
      return {
        ratio: rat,
        p50Us: us(p.p50),
        table: {
          title: "Sequential round trips, one connection (client and gateway in one process)",
          rows: [
            row("praas client → gateway → actor", p, {
              "p50 × echo": rat,
              "p99 × echo": ratio(p.p99, e.p99),
              "target p50 × echo": TARGET.sequentialRatio,
              status: rat <= TARGET.sequentialRatio ? "met" : "NOT met",
            }),
            row(`raw ws echo (${frame.length} B frame)`, e),
          ],
          notes: [
            `${c.rounds} interleaved rounds × ${c.singleOps} awaited calls, each timed alone (~${clockOverheadNs().toFixed(0)} ns clock overhead).`,
            "praas: CBOR encode, request id and deadline, frame validation, silo.call (mailbox turn), CBOR reply, promise resolution.",
          ],
        },
      };
    } finally {
      await echo.close();
      await client.close();
    }
  });
}

function runWorker(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./client-load-worker.js", import.meta.url), { workerData: job });
    w.once("message", (m: LoadResult) => resolve(m));
    w.once("error", reject);
    w.once("exit", (code) => {
      if (code !== 0) reject(new Error(`load worker exited with ${code}`));
    });
  });
}

function loadRow(variant: string, r: LoadResult, extra: Row = {}): Row {
  return {
    variant,
    "calls/s": (r.calls * 1000) / r.elapsedMs,
    "p50 µs": percentile(r.latenciesUs as unknown as number[], 50),
    "p99 µs": percentile(r.latenciesUs as unknown as number[], 99),
    errors: r.errors,
    ...extra,
  };
}

async function concurrent(ctx: BenchContext, c: Counts): Promise<{ table: Table; result: LoadResult }> {
  return withGateway(async (gw, silo) => {
    ctx.log(`concurrent: ${c.connections} connections calling for ${c.loadMs} ms`);
    const result = await runWorker({ mode: "praas", url: gw.wsUrl, connections: c.connections, durationMs: c.loadMs });
    return {
      result,
      table: {
        title: `${c.connections.toLocaleString("en-US")} concurrent client connections, each calling its own actor in a loop`,
        rows: [
          loadRow("praas client connections", result, {
            connections: c.connections,
            "connect all ms": result.connectMs,
            activations: silo.activationCount,
          }),
        ],
        notes: [
          `Clients in a worker thread (one core), gateway + silo in the main thread (the other core); ${c.loadMs} ms of calls after all connections are open.`,
          "Each connection awaits its call before sending the next; latency is per call, pooled over connections.",
        ],
      },
    };
  });
}

async function bareHttpServer(): Promise<{ server: Server; url: string }> {
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      const args = JSON.parse(Buffer.concat(chunks).toString("utf8")) as number[];
      n += args[0] ?? 0;
      const body = JSON.stringify(n);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/add` };
}

async function http(ctx: BenchContext, c: Counts): Promise<{ table: Table; praas: number; bare: number }> {
  return withGateway(async (gw) => {
    const bare = await bareHttpServer();
    try {
      const job = (url: string): LoadJob => ({
        mode: "http",
        url,
        connections: c.httpConnections,
        durationMs: c.httpMs,
      });
      ctx.log(`http: warming up`);
      await runWorker({ ...job(`${gw.url}/v1/actors/LoadCounter/h/add`), durationMs: 500 });
      await runWorker({ ...job(bare.url), durationMs: 500 });
      ctx.log(
        `http: ${c.httpRounds} interleaved rounds of ${c.httpMs} ms, ${c.httpConnections} keep-alive connections`,
      );
      const r = await interleavedRounds(c.httpRounds, {
        praas: () => runWorker(job(`${gw.url}/v1/actors/LoadCounter/h/add`)),
        bare: () => runWorker(job(bare.url)),
      });
      const best = (xs: LoadResult[]) =>
        [...xs].sort((a, b) => a.calls / a.elapsedMs - b.calls / b.elapsedMs)[Math.floor(xs.length / 2)] as LoadResult;
      const p = best(r.praas);
      const b = best(r.bare);
      const praasRate = (p.calls * 1000) / p.elapsedMs;
      const bareRate = (b.calls * 1000) / b.elapsedMs;
      return {
        praas: praasRate,
        bare: bareRate,
        table: {
          title: "HTTP invoke: POST /v1/actors/LoadCounter/h/add with [1]",
          rows: [
            loadRow("praas HTTP control plane", p, { "calls/s × bare": ratio(praasRate, bareRate) }),
            loadRow("bare node:http handler (JSON in/out)", b),
          ],
          notes: [
            `${c.httpConnections} keep-alive connections (raw HTTP/1.1 over TCP) from a worker thread, ${c.httpMs} ms per round, median round of ${c.httpRounds}.`,
            "praas adds routing, authentication hook, schema lookup, silo.call (one actor: every call is a turn) and JSON rendering.",
          ],
        },
      };
    } finally {
      await new Promise<void>((resolve) => bare.server.close(() => resolve()));
    }
  });
}

export const client: Suite = {
  name: "client",
  description:
    "client → gateway → actor latency vs a raw ws echo; many concurrent connections; HTTP invoke vs bare node:http",
  async run(ctx: BenchContext): Promise<SuiteResult> {
    const c = COUNTS[ctx.profile];
    const seq = await sequential(ctx, c);
    const many = await concurrent(ctx, c);
    const h = await http(ctx, c);
    return {
      tables: [seq.table, many.table, h.table],
      summary: {
        sequentialP50Us: seq.p50Us,
        sequentialP50VsEcho: seq.ratio,
        [`connections${c.connections}CallsPerSec`]: (many.result.calls * 1000) / many.result.elapsedMs,
        [`connections${c.connections}P99Us`]: percentile(many.result.latenciesUs as unknown as number[], 99),
        httpCallsPerSec: h.praas,
        httpBareCallsPerSec: h.bare,
      },
    };
  },
};
