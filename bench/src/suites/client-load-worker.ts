/**
 * Load generator for the `client` suite, run in a worker thread so that the
 * clients have a core of their own and the gateway (main thread) the other.
 * Modes: "praas" (N @praas/client connections, each calling in a loop),
 * "http" (N keep-alive HTTP/1.1 connections POSTing in a loop, to any URL).
 */
import { connect as netConnect, type Socket } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { type Client, connect } from "@praas/client";

export interface LoadJob {
  readonly mode: "praas" | "http";
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  /** HTTP body (mode http). */
  readonly body?: string;
  /** Mode praas: the counter key of each connection (default `k<i>`). */
  readonly keys?: readonly string[];
}

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** Per-call latencies in µs, sorted. */
  readonly latenciesUs: Float64Array;
  readonly connectMs: number;
}

const now = (): number => performance.now();

async function runPraas(job: LoadJob): Promise<LoadResult> {
  const t0 = now();
  // Connect in slices: a thousand simultaneous handshakes would just measure the accept queue.
  const clients: Client[] = [];
  for (let i = 0; i < job.connections; i += 50) {
    const slice = Math.min(50, job.connections - i);
    clients.push(...(await Promise.all(Array.from({ length: slice }, () => connect(job.url, { reconnect: false })))));
  }
  const connectMs = now() - t0;
  const latencies: number[] = [];
  let errors = 0;
  const start = now();
  const end = start + job.durationMs;
  await Promise.all(
    clients.map(async (c, i) => {
      const ref = c.ref<{ add(n: number): Promise<number> }>("LoadCounter", job.keys?.[i] ?? `k${i}`);
      while (now() < end) {
        const t = now();
        try {
          await ref.add(1);
          latencies.push((now() - t) * 1000);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedMs = now() - start;
  await Promise.all(clients.map((c) => c.close()));
  return { calls: latencies.length, errors, elapsedMs, latenciesUs: Float64Array.from(latencies).sort(), connectMs };
}

/**
 * HTTP load over raw keep-alive TCP connections: a prebuilt request written
 * per call, the response read just far enough to know it is complete. Node's
 * own HTTP client costs more per request than the servers measured here, so
 * with it both sides would measure the load generator.
 */
async function runHttp(job: LoadJob): Promise<LoadResult> {
  const url = new URL(job.url);
  const body = job.body ?? "[1]";
  const request = Buffer.from(
    `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  const latencies: number[] = [];
  let errors = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: job.connections },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = netConnect(Number(url.port), url.hostname, () => resolve(s));
          s.setNoDelay(true);
          s.once("error", reject);
        }),
    ),
  );
  const start = now();
  const end = start + job.durationMs;
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          let buffered: Buffer = Buffer.alloc(0);
          let t = 0;
          const send = () => {
            if (now() >= end) {
              resolve();
              return;
            }
            t = now();
            socket.write(request);
          };
          socket.on("data", (chunk: Buffer) => {
            buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
            const headEnd = buffered.indexOf("\r\n\r\n");
            if (headEnd < 0) return;
            const head = buffered.subarray(0, headEnd).toString("latin1");
            const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
            if (buffered.length < headEnd + 4 + length) return;
            buffered = buffered.subarray(headEnd + 4 + length);
            if (head.startsWith("HTTP/1.1 200")) latencies.push((now() - t) * 1000);
            else errors++;
            send();
          });
          socket.on("error", () => {
            errors++;
            resolve();
          });
          send();
        }),
    ),
  );
  const elapsedMs = now() - start;
  for (const s of sockets) s.destroy();
  return { calls: latencies.length, errors, elapsedMs, latenciesUs: Float64Array.from(latencies).sort(), connectMs: 0 };
}

if (parentPort !== null) {
  const job = workerData as LoadJob;
  const result = await (job.mode === "praas" ? runPraas(job) : runHttp(job));
  parentPort.postMessage(result, [result.latenciesUs.buffer as ArrayBuffer]);
}
