/**
 * An agent on one host of the multi-host suite, started by the runner with
 * `ip netns exec <host> node agent.js` and driven over stdin/stdout (see
 * protocol.ts). Two roles:
 *
 * - "load": the load generator's host. Callers (the chaos suite's
 *   LoadGenerator) call counters through every silo's gateway over the
 *   network with the WebSocket client, choosing gateways as a load balancer
 *   would (only those whose /readyz said 200); it also reads the membership in
 *   Redis and the state in S3 for the runner, which is on no network.
 * - "local": a silo's own host. It polls the silo over loopback (/readyz and
 *   /v1/cluster, as a kubelet would) and reports every change, and can run a
 *   co-located client that calls its silo whatever /readyz says — the one
 *   client that still reaches a silo whose host is cut off, so the only way
 *   to see what an isolated silo answers.
 *
 * Every call goes into a History on the clock all processes of the run share
 * (CLOCK_MONOTONIC), and is written to a file for the runner's checker.
 */
import { writeFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { createInterface } from "node:readline";
import { type ActorId, decodeStateRecord } from "@praas/core";
import { History } from "#chaos/history.js";
import {
  type CounterKey,
  codeOf,
  Gateway,
  type GatewayTarget,
  LoadGenerator,
  probeReadiness,
  rng,
} from "#chaos/load.js";
import { sleep } from "#chaos/processes.js";
import {
  type AgentEvent,
  type Commands,
  type InitArgs,
  LINE_PREFIX,
  type LocalView,
  type Reply,
  type Request,
  sharedClock,
} from "./protocol.js";

/** How often the local role polls its silo, ms. */
const LOCAL_POLL_MS = 200;
const HTTP_TIMEOUT_MS = 1_000;

interface Target extends GatewayTarget {
  down: boolean;
  ready: boolean;
}

let config: InitArgs | undefined;
let now: () => number = () => performance.now();
const targets: Target[] = [];
/** Gateways the load balancer probes (those that do not ignore readiness). */
const balanced: Target[] = [];
/** Shared with the LoadGenerator, so gateways added later take load at once. */
const gateways: Gateway[] = [];
let history: History | undefined;
let load: LoadGenerator | undefined;
let stopProbe: (() => Promise<void>) | undefined;

function emit(line: Reply | AgentEvent): void {
  process.stdout.write(`${LINE_PREFIX}${JSON.stringify(line)}\n`);
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not set (init first)`);
  return value;
}

/** GET with the gateway token and a deadline: status and parsed body, or undefined when nothing answered. */
async function getJson<T>(url: string): Promise<{ status: number; body: T | undefined } | undefined> {
  try {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${need(config, "config").token}` },
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    const text = await res.text();
    let body: T | undefined;
    try {
      body = text === "" ? undefined : (JSON.parse(text) as T);
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  } catch {
    return undefined;
  }
}

interface ClusterBody {
  readonly self?: string;
  readonly serving?: boolean;
  readonly silos?: readonly { readonly id: string; readonly status: string }[];
}

/** Local role: poll the silo over loopback; report each change of what it says. */
async function watchLocal(silo: { name: string; httpUrl: string }): Promise<void> {
  let last = "";
  for (;;) {
    const [ready, view] = await Promise.all([
      getJson<{ status?: string; reason?: string }>(`${silo.httpUrl}/readyz`),
      getJson<ClusterBody>(`${silo.httpUrl}/v1/cluster`),
    ]);
    const v: LocalView = {
      kind: "local",
      t: now(),
      silo: silo.name,
      readyz: ready?.status ?? 0,
      reason: ready?.body?.reason,
      self: view?.status === 200 ? view.body?.self : undefined,
      serving: view?.status === 200 ? view.body?.serving : undefined,
      active:
        view?.status === 200 ? (view.body?.silos ?? []).filter((s) => s.status === "active").map((s) => s.id) : [],
    };
    const key = JSON.stringify({ ...v, t: 0, active: [...v.active].sort() });
    if (key !== last) {
      last = key;
      emit(v);
    }
    await sleep(LOCAL_POLL_MS);
  }
}

/** Load role: report each change of the load balancer's readiness view. */
async function watchBalancer(): Promise<void> {
  const last = new Map<string, boolean>();
  for (;;) {
    for (const t of balanced) {
      if (last.get(t.name) !== t.ready) {
        last.set(t.name, t.ready);
        emit({ kind: "lb", t: now(), gateway: t.name, ready: t.ready });
      }
    }
    await sleep(50);
  }
}

// The S3 and Redis clients are loaded when first needed (only on the load generator's host):
// on a machine this busy, loading the AWS SDK takes seconds.
async function s3Store() {
  const s3 = need(config?.s3, "s3");
  const { s3Storage } = await import("@praas/storage-s3");
  return s3Storage({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { ...s3.credentials },
  });
}

async function redisStore() {
  const { redisStateStore } = await import("@praas/redis");
  return redisStateStore({ url: need(config?.redisUrl, "redisUrl"), log: () => {} });
}

type Handler<C extends keyof Commands> = (args: Commands[C]["args"]) => Promise<Commands[C]["result"]>;

const handlers: { [C in keyof Commands]: Handler<C> } = {
  async init(args) {
    config = args;
    now = sharedClock(BigInt(args.base));
    if (args.role === "local") void watchLocal(need(args.silo, "silo"));
    else void watchBalancer();
    return { pid: process.pid };
  },

  async gateways({ list }) {
    const token = need(config, "config").token;
    const added: Target[] = [];
    for (const spec of list) {
      if (targets.some((t) => t.name === spec.name)) continue;
      const target: Target = {
        name: spec.name,
        wsUrl: spec.wsUrl,
        httpUrl: spec.httpUrl,
        down: false,
        alive: true,
        ready: spec.ignoreReadiness === true,
      };
      targets.push(target);
      if (spec.ignoreReadiness !== true) balanced.push(target);
      added.push(target);
    }
    // Connect before the callers may pick them. A gateway whose first connect fails is
    // forgotten (a Gateway never retries its first connect), so that the runner can ask again.
    const fresh = added.map((t) => new Gateway(t, token));
    const results = await Promise.allSettled(fresh.map((g) => g.connect()));
    const failed = fresh.filter((_, i) => results[i]?.status === "rejected");
    for (const g of failed) {
      targets.splice(targets.indexOf(g.slot as Target), 1);
      if (balanced.includes(g.slot as Target)) balanced.splice(balanced.indexOf(g.slot as Target), 1);
    }
    gateways.push(...fresh.filter((g) => !failed.includes(g)));
    const firstError = results.find((r) => r.status === "rejected");
    if (firstError !== undefined) throw (firstError as PromiseRejectedResult).reason;
    if (stopProbe === undefined && balanced.length > 0) stopProbe = probeReadiness(balanced, 250);
    return { connected: fresh.map((g) => g.name) };
  },

  async down({ name, down }) {
    const t = targets.find((x) => x.name === name);
    if (t === undefined) throw new Error(`no gateway ${name}`);
    t.down = down;
    if (down) t.ready = false;
    return null;
  },

  async createBucket() {
    const s3 = need(config?.s3, "s3");
    const { createS3Bucket } = await import("@praas/testing");
    await createS3Bucket(s3, s3.bucket);
    return null;
  },

  async startLoad(args) {
    if (load !== undefined) throw new Error("the load runs already");
    history = new History(now);
    load = new LoadGenerator(
      history,
      gateways,
      args.keys,
      {
        workers: args.workers,
        ratePerSec: args.ratePerSec,
        readFraction: args.readFraction,
        retryEvery: args.retryEvery,
        callTimeoutMs: args.callTimeoutMs,
      },
      rng(args.seed),
    );
    load.start();
    return null;
  },

  async probe({ boundMs }) {
    await need(load, "load").probe(boundMs);
    return null;
  },

  async recovered({ since, stableMs }) {
    const h = need(history, "history");
    const ids = need(load, "load").keys.map((k) => k.id);
    const notRecovered = h.keysNotRecovered(since, ids).length;
    const lastFailure = h.lastFailureStart(ids);
    return { recovered: notRecovered === 0 && lastFailure < h.now() - stableMs, notRecovered, lastFailure };
  },

  async stopLoad() {
    const l = load;
    if (l === undefined) return { logical: { calls: 0, failed: 0, retried: 0 } };
    await l.stop();
    load = undefined;
    // Nothing the load sent may still arrive once it stopped (a call stuck behind a healed cut
    // would run during the final reads): fresh connections for what follows.
    await Promise.allSettled(gateways.map((g) => g.renew()));
    return { logical: { ...l.logical } };
  },

  async finalReads({ keys }) {
    const h = (history ??= new History(now));
    const usable = gateways.filter((g) => g.usable);
    const out: Record<string, { via: string; value: number }[]> = {};
    const one = async (key: CounterKey): Promise<void> => {
      const reads: { via: string; value: number }[] = [];
      for (const g of usable) {
        const client = g.client;
        if (client === undefined) continue;
        const p = h.begin(key.id, "read", { via: `${g.name}/final` });
        try {
          const v = await client.call(key.type, key.key, "get", [], { timeoutMs: 5_000 });
          if (typeof v === "number") {
            p.ok(v);
            reads.push({ via: g.name, value: v });
          } else p.fail("NON_NUMERIC_RESULT");
        } catch (err) {
          p.fail(codeOf(err));
        }
      }
      out[key.id] = reads;
    };
    for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map(one));
    return out;
  },

  async storeValues({ keys, store: kind }) {
    const store = kind === "redis" ? await redisStore() : await s3Store();
    try {
      const out: Record<string, number> = {};
      for (const key of keys) {
        const id: ActorId = { type: key.type, key: key.key };
        const stored = await store.load(id);
        if (stored === undefined) out[key.id] = 0;
        else {
          const record = decodeStateRecord(stored.data, store.describe(id));
          const value = (record.state as { value?: unknown } | null)?.value;
          if (typeof value !== "number") throw new Error(`${store.describe(id)} holds no counter: ${String(value)}`);
          out[key.id] = value;
        }
      }
      return out;
    } finally {
      await store.close();
    }
  },

  async redisActive() {
    const { Redis } = await import("ioredis");
    const client = new Redis(need(config?.redisUrl, "redisUrl"), {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1_000,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      const status = await client.hgetall(`praas:{${need(config?.cluster, "cluster")}}:status`);
      return Object.entries(status)
        .filter(([, s]) => s === "active")
        .map(([id]) => id);
    } catch {
      return null;
    } finally {
      client.disconnect();
    }
  },

  async locate({ keys }) {
    const out: Record<string, string | null> = {};
    for (const k of keys) {
      const g = gateways.find((x) => x.usable);
      if (g === undefined) throw new Error("no usable gateway to ask");
      const r = await getJson<{ status?: string; silo?: string }>(
        `${g.slot.httpUrl}/v1/actors/${encodeURIComponent(k.type)}/${encodeURIComponent(k.key)}`,
      );
      out[k.id] = r?.status === 200 && r.body?.status === "active" ? (r.body.silo ?? null) : null;
    }
    return out;
  },

  async metric({ name, filter }) {
    const silo = need(config?.silo, "silo");
    try {
      const res = await fetch(`${silo.httpUrl}/metrics`, {
        headers: { authorization: `Bearer ${need(config, "config").token}` },
        signal: AbortSignal.timeout(2_000),
      });
      let sum = 0;
      for (const line of (await res.text()).split("\n")) {
        if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
          if (line.includes(filter)) sum += Number(line.split(" ").pop());
        }
      }
      return sum;
    } catch {
      return null;
    }
  },

  canConnect({ host, port, ms }) {
    return new Promise((resolve) => {
      const socket = tcpConnect({ host, port });
      const done = (ok: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), ms);
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    });
  },

  async dump({ file }) {
    const ops = history?.ops ?? [];
    await writeFile(file, JSON.stringify(ops));
    return { ops: ops.length };
  },
};

async function handle(line: string): Promise<void> {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    process.stderr.write(`agent: not a request: ${line.slice(0, 200)}\n`);
    return;
  }
  try {
    const handler = handlers[req.cmd] as Handler<typeof req.cmd> | undefined;
    if (handler === undefined) throw new Error(`unknown command ${String(req.cmd)}`);
    emit({ id: req.id, ok: true, result: await handler(req.args as never) });
  } catch (err) {
    emit({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

// The runner ended, however it ended: so does the agent.
const input = createInterface({ input: process.stdin });
input.on("line", (line) => void handle(line));
input.on("close", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
