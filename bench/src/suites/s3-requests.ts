/**
 * `s3-requests`: the S3 requests and bytes each swap costs, counted on the
 * wire — what an S3 bill and a network budget are made of (docs/deploy.md,
 * "Sizing"). The store is the real S3 state store talking to the local S3
 * server of @praas/testing through a counting HTTP proxy on loopback; nothing
 * is timed, so the figures are exact and the machine's load does not matter.
 *
 * Scenarios, per state size: the first call of a new actor; a swap-out after
 * a change (first write, then later writes); a swap-out without a change; a
 * swap-in; calls of a `persistence: "turn"` actor; and a graceful stop with
 * many changed actors (what a drain writes).
 */
import { randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Actor, ManualClock, Silo } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { startS3Server } from "@praas/testing";
import type { BenchContext, Row, Suite, SuiteResult } from "../suite.js";

const KiB = 1024;
const MiB = 1024 * KiB;

interface Blob {
  data: Uint8Array;
}

/** An actor whose state is one byte array (saved when it is swapped out, the default). */
class Blob1 extends Actor<Blob> {
  static initialState(): Blob {
    return { data: new Uint8Array(0) };
  }
  fill(bytes: number): void {
    // A Uint8Array, not the Buffer randomBytes returns: a loaded state holds Uint8Arrays, and a
    // Buffer encodes differently, so a Buffer state would be rewritten once after its first load.
    this.state = { data: new Uint8Array(randomBytes(bytes)) };
  }
  touch(): void {
    const d = this.state.data;
    d[0] = ((d[0] ?? 0) + 1) & 0xff;
  }
  size(): number {
    return this.state.data.byteLength;
  }
}

/** The same, saved after every turn that changed it. */
class TurnBlob extends Blob1 {
  static readonly persistence = "turn";
}

interface Traffic {
  requests: number;
  byMethod: Map<string, number>;
  bodyUp: number;
  bodyDown: number;
  headerBytes: number;
}

function emptyTraffic(): Traffic {
  return { requests: 0, byMethod: new Map(), bodyUp: 0, bodyDown: 0, headerBytes: 0 };
}

/** An HTTP proxy that forwards everything (Host header included, so SigV4 still verifies) and counts it. */
async function countingProxy(target: string): Promise<{ url: string; traffic: Traffic; close(): Promise<void> }> {
  const to = new URL(target);
  const traffic = emptyTraffic();
  const server: Server = createServer((req, res) => {
    traffic.requests++;
    const method = req.method ?? "?";
    traffic.byMethod.set(method, (traffic.byMethod.get(method) ?? 0) + 1);
    traffic.headerBytes += req.rawHeaders.reduce((n, h) => n + h.length + 2, 0) + (req.url?.length ?? 0) + 16;
    const upstream = request(
      { host: to.hostname, port: to.port, method, path: req.url, headers: req.headers },
      (up) => {
        traffic.headerBytes += up.rawHeaders.reduce((n, h) => n + h.length + 2, 0) + 16;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on("data", (chunk: Buffer) => {
          traffic.bodyDown += chunk.byteLength;
        });
        up.pipe(res);
      },
    );
    upstream.on("error", (err) => res.destroy(err));
    req.on("data", (chunk: Buffer) => {
      traffic.bodyUp += chunk.byteLength;
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    traffic,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function copy(t: Traffic): Traffic {
  return { ...t, byMethod: new Map(t.byMethod) };
}

function diff(a: Traffic, b: Traffic): Traffic {
  const byMethod = new Map<string, number>();
  for (const [k, v] of b.byMethod) if (v - (a.byMethod.get(k) ?? 0) > 0) byMethod.set(k, v - (a.byMethod.get(k) ?? 0));
  return {
    requests: b.requests - a.requests,
    byMethod,
    bodyUp: b.bodyUp - a.bodyUp,
    bodyDown: b.bodyDown - a.bodyDown,
    headerBytes: b.headerBytes - a.headerBytes,
  };
}

function sizeLabel(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;
}

function methods(t: Traffic, per: number): string {
  if (t.requests === 0) return "—";
  return [...t.byMethod]
    .sort()
    .map(([m, n]) => `${Number((n / per).toFixed(2))} ${m}`)
    .join(" + ");
}

async function run(ctx: BenchContext): Promise<SuiteResult> {
  const sizes = ctx.profile === "full" ? [KiB, 64 * KiB, MiB, 10 * MiB] : [KiB, 64 * KiB, MiB];
  const drainActors = ctx.profile === "full" ? 500 : 100;
  const s3 = await startS3Server({ buckets: ["praas-s3-requests"] });
  const proxy = await countingProxy(s3.endpoint);
  const store = new S3StateStore({
    bucket: "praas-s3-requests",
    prefix: "bench/",
    endpoint: proxy.url,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  // A manual clock: no idle swap-out happens on its own; every swap is the one measured.
  const silo = await Silo.start({ actors: [Blob1, TurnBlob], storage: store, clock: new ManualClock() });
  const rows: Row[] = [];
  const summary: Record<string, number | string> = {};
  const step = async (size: number, scenario: string, per: number, fn: () => Promise<unknown>) => {
    const before = copy(proxy.traffic);
    await fn();
    const t = diff(before, proxy.traffic);
    rows.push({
      state: sizeLabel(size),
      scenario,
      "requests each": Number((t.requests / per).toFixed(2)),
      "requests by method": methods(t, per),
      "bytes up each": Math.round(t.bodyUp / per),
      "bytes down each": Math.round(t.bodyDown / per),
      "header bytes each": Math.round(t.headerBytes / per),
      "body overhead bytes": t.bodyUp + t.bodyDown < size * per ? "" : Math.round((t.bodyUp + t.bodyDown) / per - size),
    });
    return t;
  };
  try {
    for (const size of sizes) {
      ctx.log(`s3-requests: ${sizeLabel(size)}`);
      const ref = silo.ref(Blob1, `blob-${size}`);
      await step(size, "first call of a new actor (nothing stored)", 1, () => ref.size());
      await step(size, "a call that changes the state", 1, () => ref.fill(size));
      const firstOut = await step(size, "swap-out after a change: first write", 1, () => silo.deactivate(ref));
      const swapIn = await step(size, "swap-in (next call)", 1, () => ref.size());
      await step(size, "swap-out without a change", 1, () => silo.deactivate(ref));
      await ref.size();
      await ref.touch();
      const out = await step(size, "swap-out after a change: later writes", 1, () => silo.deactivate(ref));
      const turn = silo.ref(TurnBlob, `turn-${size}`);
      await turn.fill(size);
      await step(size, 'persistence "turn": a call that changes the state', 1, () => turn.touch());
      await step(size, 'persistence "turn": a read-only call', 1, () => turn.size());
      await silo.deactivate(turn);
      const key = sizeLabel(size).replace(" ", "");
      summary[`swapOutRequests_${key}`] = out.requests;
      summary[`swapInRequests_${key}`] = swapIn.requests;
      summary[`swapOutBytesUp_${key}`] = out.bodyUp;
      summary[`firstWriteRequests_${key}`] = firstOut.requests;
    }
    ctx.log(`s3-requests: a graceful stop with ${drainActors} changed actors of 1 KiB`);
    for (let i = 0; i < drainActors; i++) await silo.ref(Blob1, `drain-${i}`).fill(KiB);
    for (let i = 0; i < drainActors / 2; i++) await silo.ref(Blob1, `clean-${i}`).size();
    const drain = await step(
      KiB,
      `silo.stop() with ${drainActors} changed + ${drainActors / 2} unchanged actors`,
      drainActors,
      () => silo.stop(),
    );
    summary.drainRequestsPerChangedActor = Number((drain.requests / drainActors).toFixed(2));
  } finally {
    await silo.stop();
    await proxy.close();
    await s3.stop();
  }
  return {
    tables: [
      {
        title: "S3 requests and bytes per swap, counted on the wire (S3 state store → local S3 server)",
        rows,
        notes: [
          "swap-out = silo.deactivate(ref) (idle timeout, capacity, rebalance and drain do the same); swap-in = the next call, which loads the state",
          "a first write is conditional on nothing being stored (If-None-Match: *), later writes on the ETag loaded (If-Match)",
          "bytes = HTTP bodies; overhead = bodies − state size: the 24-byte object header and the state record's encoding (a miss answers a small error document)",
          "header bytes = request and response headers (SigV4 signature, ETag, metadata), approximately",
          "the drain row is per changed actor: unchanged actors cost nothing to stop",
        ],
      },
    ],
    summary,
  };
}

export const s3Requests: Suite = {
  name: "s3-requests",
  description: "S3 requests and bytes per swap-out / swap-in / turn / drain, counted on the wire",
  run,
};
