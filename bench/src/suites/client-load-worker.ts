/**
 * Load generator for the `client` suite, run in a worker thread so that the
 * clients have a core of their own and the gateway (main thread) the other.
 * Modes: "praas" (N @praas/client connections, each calling in a loop),
 * "http" (N keep-alive HTTP connections POSTing in a loop, to any URL).
 */
import { Agent, request } from "node:http";
import { parentPort, workerData } from "node:worker_threads";
import { type Client, connect } from "@praas/client";

export interface LoadJob {
  readonly mode: "praas" | "http";
  readonly url: string;
  readonly connections: number;
  readonly durationMs: number;
  /** HTTP body (mode http). */
  readonly body?: string;
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
      const ref = c.ref<{ add(n: number): Promise<number> }>("LoadCounter", `k${i}`);
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

async function runHttp(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const url = new URL(job.url);
  const body = job.body ?? "[1]";
  const post = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const latencies: number[] = [];
  let errors = 0;
  const start = now();
  const end = start + job.durationMs;
  await Promise.all(
    Array.from({ length: job.connections }, async () => {
      while (now() < end) {
        const t = now();
        try {
          await post();
          latencies.push((now() - t) * 1000);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsedMs = now() - start;
  agent.destroy();
  return { calls: latencies.length, errors, elapsedMs, latenciesUs: Float64Array.from(latencies).sort(), connectMs: 0 };
}

if (parentPort !== null) {
  const job = workerData as LoadJob;
  const result = await (job.mode === "praas" ? runPraas(job) : runHttp(job));
  parentPort.postMessage(result, [result.latenciesUs.buffer as ArrayBuffer]);
}
