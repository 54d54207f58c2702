import { S3Client } from "@aws-sdk/client-s3";
import { type Client, connect } from "@praas/client";
import type { ActorRef } from "@praas/core";
import { type Gateway, Silo, startGateway } from "@praas/silo";
import { S3StateStore } from "@praas/storage-s3";
import { s3ClientConfig, startS3Server } from "@praas/testing";
import { LatexProject } from "./actor.js";
import { PdflatexCompiler } from "./compiler.js";
import {
  type ComparisonRow,
  compare,
  emptySamples,
  type LatexBackend,
  runSession,
  type Samples,
  type SessionCounts,
} from "./driver.js";
import { loadSampleProject } from "./sample.js";
import { StatelessLatexService } from "./stateless.js";

/** The untimed warm-up session of each backend. */
const WARM_UP: SessionCounts = { getFile: 50, compileNoChange: 20, getPdf: 20, edits: 0 };

export interface ComparisonOptions extends SessionCounts {
  /** Sessions per backend, interleaved (praas, stateless, praas, …) so drift hurts both alike. */
  readonly rounds: number;
  /** Also measure PraaS through the WebSocket client and a gateway on loopback (default true). */
  readonly viaClient?: boolean;
  readonly log?: (message: string) => void;
}

export interface ComparisonReport {
  readonly rows: readonly ComparisonRow[];
  readonly backends: readonly { readonly name: string; readonly kind: string }[];
  readonly pdfBytes: number;
  readonly projectBytes: number;
  /** pdflatex builds over the whole run: the cache must keep this at (first + edits) × sessions, warm-up included. */
  readonly compilerRuns: number;
  readonly expectedCompilerRuns: number;
  readonly notes: readonly string[];
}

/**
 * The whole comparison on this machine: a local S3 server (s3rver over HTTP
 * on loopback, in this process), a silo whose state store is that S3 server,
 * and the stateless service on the same server. Both sides use one real
 * pdflatex compiler, whose run counter proves the caches work.
 */
export async function runComparison(options: ComparisonOptions): Promise<ComparisonReport> {
  const log = options.log ?? (() => {});
  const server = await startS3Server({ buckets: ["latex-stateless", "latex-praas"] });
  const s3 = new S3Client(s3ClientConfig(server));
  const compiler = new PdflatexCompiler();
  const Project = LatexProject.withCompiler(compiler);
  const silo = await Silo.start({
    actors: [Project],
    storage: new S3StateStore({ client: s3, bucket: "latex-praas" }),
  });
  let gateway: Gateway | undefined;
  let client: Client | undefined;
  try {
    const stateless = new StatelessLatexService({ s3, bucket: "latex-stateless", compiler });
    const backends: LatexBackend[] = [praasRefBackend(silo, (key) => silo.ref(Project, key))];
    if (options.viaClient !== false) {
      // Frames must carry a whole project file or PDF (the gateway's default limit is 1 MiB).
      gateway = await startGateway(silo, { port: 0, metrics: false, limits: { maxFrameBytes: 16 * 1024 * 1024 } });
      client = await connect(gateway.wsUrl, { reconnect: false });
      const c = client;
      backends.push(
        praasClientBackend(
          (key) => c.ref<LatexProject>(Project, key),
          async (key) => {
            await silo.deactivate(silo.ref(Project, key));
          },
        ),
      );
    }
    backends.push(statelessBackend(stateless));
    const files = await loadSampleProject();
    // One short untimed session per backend first: the JIT, the sockets and the S3 server's
    // caches warm up, so the first backend measured does not pay for everyone.
    for (const b of backends) {
      log(`warm-up: ${b.name}`);
      await runSession(b, `${b.name}-warmup`, files, WARM_UP, emptySamples());
    }
    const samples = new Map<string, Samples>(backends.map((b) => [b.name, emptySamples()]));
    let pdfBytes = 0;
    for (let round = 0; round < options.rounds; round++) {
      for (const b of backends) {
        log(`round ${round + 1}/${options.rounds}: ${b.name}`);
        const project = `${b.name}-${round}`;
        await runSession(b, project, files, options, samples.get(b.name) as Samples);
        if (round === 0) pdfBytes = Math.max(pdfBytes, (await b.getPdf(project)).byteLength);
      }
    }
    let projectBytes = 0;
    for (const f of files.values()) projectBytes += f.byteLength;
    return {
      rows: compare(backends, samples),
      backends: backends.map((b) => ({ name: b.name, kind: b.kind })),
      pdfBytes,
      projectBytes,
      compilerRuns: compiler.runs,
      expectedCompilerRuns: backends.length * (options.rounds * (1 + options.edits) + 1 + WARM_UP.edits),
      notes: [
        "S3 = s3rver over HTTP on loopback, in the benchmark's process; PraaS state is swapped to the same server.",
        "praas-ref = the LatexProject actor through a silo ref in the same process (no network hop); " +
          "praas-client = through @praas/client over WebSocket (CBOR) to a gateway on loopback, same process.",
      ],
    };
  } finally {
    await client?.close();
    await gateway?.close({ drainTimeoutMs: 1000 });
    await silo.stop();
    s3.destroy();
    await server.stop();
  }
}

/** The PraaS actor through an in-process silo reference. */
export function praasRefBackend(silo: Silo, refOf: (project: string) => ActorRef<LatexProject>): LatexBackend {
  return {
    name: "praas-ref",
    kind: "praas",
    putFile: (p, path, bytes) => refOf(p).putFile(path, bytes),
    getFile: (p, path) => refOf(p).getFile(path),
    compile: (p) => refOf(p).compile(),
    getPdf: (p) => refOf(p).getPdf(),
    swapOut: async (p) => {
      await silo.deactivate(refOf(p));
    },
  };
}

/** The PraaS actor through the WebSocket client: what a remote caller pays (encode, frame, loopback, decode). */
export function praasClientBackend(
  refOf: (project: string) => ActorRef<LatexProject>,
  swapOut: (project: string) => Promise<void>,
): LatexBackend {
  return {
    name: "praas-client",
    kind: "praas",
    putFile: (p, path, bytes) => refOf(p).putFile(path, bytes),
    getFile: (p, path) => refOf(p).getFile(path),
    compile: (p) => refOf(p).compile(),
    getPdf: (p) => refOf(p).getPdf(),
    swapOut,
  };
}

export function statelessBackend(service: StatelessLatexService): LatexBackend {
  return {
    name: "stateless",
    kind: "stateless",
    putFile: (p, path, bytes) => service.putFile(p, path, bytes),
    getFile: (p, path) => service.getFile(p, path),
    compile: (p) => service.compile(p),
    getPdf: (p) => service.getPdf(p),
  };
}
