/**
 * A system under test: `praas start` silos in slots (a cluster on Redis
 * membership, or one embedded silo), their gateways, a supervisor that
 * restarts a silo that exited on its own (as systemd or Kubernetes would), and
 * the final observations the checker needs (reads through silos, reads
 * straight from the store).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type ActorId, decodeStateRecord, type StateStore } from "@praas/core";
import { redisStateStore } from "@praas/redis";
import { s3Storage } from "@praas/storage-s3";
import { createS3Bucket, freePort } from "@praas/testing";
import { Redis } from "ioredis";
import type { FinalObservation, History, Outcome } from "./history.js";
import { type CounterKey, codeOf, Gateway, probeReadiness } from "./load.js";
import {
  ACTORS_MODULE,
  type ClusterJson,
  getJson,
  LogWatcher,
  type ProcessRegistry,
  RedisProcess,
  type S3Info,
  SiloSlot,
  sleep,
  waitFor,
} from "./processes.js";

export type StoreKind = "s3" | "redis" | "embedded";

/**
 * The silos' S3 request timeout here: shorter than the default (10 s), so that the scenario that
 * freezes the S3 server outlasts it in a few seconds, and shorter than the load's call deadline,
 * so that callers see the store's STORE_TIMEOUT rather than their own TIMEOUT.
 */
export const CHAOS_S3_REQUEST_TIMEOUT_MS = 1_500;

export interface SystemOptions {
  /** Unique per run: cluster name, bucket, folder names. */
  readonly name: string;
  readonly store: StoreKind;
  /** Silos (1 for the embedded store). */
  readonly silos: number;
  readonly workDir: string;
  readonly s3: S3Info;
  readonly registry: ProcessRegistry;
}

/** The environment of `praas start`: the runner's, minus any PRAAS_* setting that would leak in. */
function siloEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PRAAS_")) env[k] = v;
  return { ...env, ...extra };
}

export class SystemUnderTest {
  readonly slots: SiloSlot[] = [];
  readonly gateways: Gateway[] = [];
  readonly watcher: LogWatcher;
  redis: RedisProcess | undefined;
  #stopProbe: (() => Promise<void>) | undefined;
  #supervising: Promise<void> | undefined;
  #closed = false;
  /** Restarts the supervisor made (a silo exited on its own). */
  supervisorRestarts = 0;
  /** Set while the runner restarts slots itself, so the supervisor keeps out. */
  #restarting = new Set<SiloSlot>();

  private constructor(readonly options: SystemOptions) {
    this.watcher = new LogWatcher(join(options.workDir, "logs", options.name));
  }

  static async start(options: SystemOptions): Promise<SystemUnderTest> {
    const sut = new SystemUnderTest(options);
    try {
      await sut.#start();
    } catch (err) {
      await sut.close();
      throw err;
    }
    return sut;
  }

  get name(): string {
    return this.options.name;
  }

  get clustered(): boolean {
    return this.options.store !== "embedded";
  }

  async #start(): Promise<void> {
    const o = this.options;
    await mkdir(this.watcher.dir, { recursive: true });
    const flags: string[] = ["--actors", ACTORS_MODULE];
    const extra: Record<string, string> = {};
    if (o.store === "embedded") {
      flags.push("--state-dir", join(o.workDir, `${o.name}-state`));
    } else {
      this.redis = await RedisProcess.create(join(o.workDir, `${o.name}-redis`), o.registry);
      flags.push("--cluster", o.name, "--redis-url", this.redis.url);
      extra.PRAAS_CLUSTER_SECRET = "chaos-suite-cluster-secret";
      if (o.store === "s3") {
        await createS3Bucket(o.s3, o.name);
        flags.push(...["--storage", "s3", "--s3-bucket", o.name, "--s3-endpoint", o.s3.endpoint]);
        flags.push(...["--s3-region", o.s3.region, "--s3-path-style"]);
        flags.push("--s3-request-timeout-ms", String(CHAOS_S3_REQUEST_TIMEOUT_MS));
        extra.AWS_ACCESS_KEY_ID = o.s3.credentials.accessKeyId;
        extra.AWS_SECRET_ACCESS_KEY = o.s3.credentials.secretAccessKey;
      } else {
        flags.push("--storage", "redis");
      }
    }
    const env = siloEnv(extra);
    for (let i = 0; i < o.silos; i++) {
      const slot = new SiloSlot(`s${i + 1}`, await freePort(), flags, env, o.registry, this.watcher);
      this.slots.push(slot);
      this.gateways.push(new Gateway(slot));
    }
    await Promise.all(this.slots.map((s) => s.start()));
    await Promise.all(this.gateways.map((g) => g.connect()));
    this.#stopProbe = probeReadiness(this.slots);
    this.#supervising = this.#supervise();
    if (!(await this.settle(20_000))) throw new Error(`${o.name}: the silos did not form one cluster in 20 s`);
    await waitFor(() => this.gateways.every((g) => g.usable), 10_000);
  }

  /** The supervisor: a silo that exited without the runner asking is started again. */
  async #supervise(): Promise<void> {
    while (!this.#closed) {
      for (const slot of this.slots) {
        if (slot.down || slot.alive || this.#restarting.has(slot) || this.#closed) continue;
        this.supervisorRestarts++;
        this.#restarting.add(slot);
        void this.restart(slot).catch(() => {
          // Tried again next round: the slot is still not alive.
        });
      }
      await sleep(100);
    }
  }

  /** Per slot: the restart under way, so that two never overlap on one slot. */
  readonly #restarts = new Map<SiloSlot, Promise<void>>();

  /** Start (again) the silo of a slot the runner took down (after any restart under way there); bounded. */
  restart(slot: SiloSlot): Promise<void> {
    const previous = this.#restarts.get(slot) ?? Promise.resolve();
    const next = previous
      .catch(() => {})
      .then(async () => {
        this.#restarting.add(slot);
        try {
          if (slot.alive) await slot.kill();
          await slot.start();
        } finally {
          this.#restarting.delete(slot);
        }
      });
    this.#restarts.set(slot, next);
    void next
      .catch(() => {})
      .finally(() => {
        if (this.#restarts.get(slot) === next) this.#restarts.delete(slot);
      });
    return next;
  }

  /** Slots whose process runs and is not paused. */
  live(): SiloSlot[] {
    return this.slots.filter((s) => s.alive && !s.paused);
  }

  /**
   * Wait (bounded) until every live silo's view, and the membership stored in
   * Redis, list exactly the live silos as active. (A silo's own view can be
   * stale — an evicted silo may keep its old one — so Redis is asked too.)
   * Trivially true for one embedded silo.
   */
  async settle(ms = 15_000): Promise<boolean> {
    if (!this.clustered) return true;
    const same = (ids: readonly string[], selves: ReadonlySet<unknown>) =>
      ids.length === selves.size && ids.every((id) => selves.has(id));
    return waitFor(
      async () => {
        const live = this.live();
        if (live.length === 0) return false;
        const views = await Promise.all(live.map((s) => getJson<ClusterJson>(`${s.httpUrl}/v1/cluster`)));
        if (views.some((v) => v === undefined || v.status !== 200)) return false;
        const selves = new Set(views.map((v) => v?.body.self));
        const inRedis = await this.activeInRedis();
        return (
          inRedis !== undefined &&
          same(inRedis, selves) &&
          views.every((v) =>
            same(
              (v?.body.silos ?? []).filter((s) => s.status === "active").map((s) => s.id),
              selves,
            ),
          )
        );
      },
      ms,
      100,
    );
  }

  /**
   * Ids of the silos the membership in Redis holds as active (the
   * `praas:{<cluster>}:status` hash, see docs/cluster.md), or undefined when
   * Redis does not answer.
   */
  async activeInRedis(): Promise<string[] | undefined> {
    if (this.redis === undefined) return undefined;
    const client = new Redis(this.redis.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1_000,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      const status = await client.hgetall(`praas:{${this.name}}:status`);
      return Object.entries(status)
        .filter(([, s]) => s === "active")
        .map(([id]) => id);
    } catch {
      return undefined;
    } finally {
      client.disconnect();
    }
  }

  /** One read through a silo's HTTP API (a probe), recorded in the history. */
  async httpRead(slot: SiloSlot, key: CounterKey, history: History): Promise<Outcome> {
    const p = history.begin(key.id, "read", { via: `${slot.name}/http` });
    try {
      const res = await fetch(
        `${slot.httpUrl}/v1/actors/${encodeURIComponent(key.type)}/${encodeURIComponent(key.key)}/get`,
        { method: "POST", body: "[]", signal: AbortSignal.timeout(2_000) },
      );
      const body = (await res.json()) as unknown;
      if (res.status === 200 && typeof body === "number") {
        p.ok(body);
      } else {
        const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
        p.fail(typeof code === "string" ? code : `HTTP_${res.status}`);
      }
    } catch (err) {
      p.fail((err as Error).name === "TimeoutError" ? "HTTP_TIMEOUT" : `HTTP_${codeOf(err)}`);
    }
    return p.op.outcome as Outcome;
  }

  /** Reads of every key through every usable gateway (recorded in the history as reads). */
  async finalReads(
    keys: readonly CounterKey[],
    history: History,
  ): Promise<Map<string, { via: string; value: number }[]>> {
    const out = new Map<string, { via: string; value: number }[]>();
    const usable = this.gateways.filter((g) => g.usable);
    const one = async (key: CounterKey): Promise<void> => {
      const reads: { via: string; value: number }[] = [];
      for (const g of usable) {
        const client = g.client;
        if (client === undefined) continue;
        const p = history.begin(key.id, "read", { via: `${g.name}/final` });
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
      out.set(key.id, reads);
    };
    for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map(one));
    return out;
  }

  /**
   * The value of each key straight from the store, through the project's own
   * store classes (they know the record format): S3 objects or Redis keys.
   * Undefined for the embedded store (read through a cold silo instead).
   */
  async storeValues(keys: readonly CounterKey[]): Promise<Map<string, number> | undefined> {
    const o = this.options;
    let store: StateStore;
    if (o.store === "s3") {
      store = s3Storage({
        bucket: o.name,
        endpoint: o.s3.endpoint,
        region: o.s3.region,
        forcePathStyle: true,
        credentials: { ...o.s3.credentials },
      });
    } else if (o.store === "redis" && this.redis !== undefined) {
      store = redisStateStore({ url: this.redis.url });
    } else return undefined;
    try {
      const out = new Map<string, number>();
      for (const key of keys) {
        const id: ActorId = { type: key.type, key: key.key };
        const stored = await store.load(id);
        if (stored === undefined) out.set(key.id, 0);
        else {
          const record = decodeStateRecord(stored.data, store.describe(id));
          const value = (record.state as { value?: unknown } | null)?.value;
          if (typeof value !== "number") throw new Error(`${store.describe(id)} holds no counter: ${String(value)}`);
          out.set(key.id, value);
        }
      }
      return out;
    } finally {
      await store.close();
    }
  }

  /** Final observations: reads through the silos, then the store (see `storeValues`). */
  async observe(keys: readonly CounterKey[], history: History): Promise<FinalObservation[]> {
    const reads = await this.finalReads(keys, history);
    const stored = await this.storeValues(keys);
    return keys.map((k) => ({ key: k.id, stored: stored?.get(k.id), reads: reads.get(k.id) ?? [] }));
  }

  /** The keys (of `keys`) in memory on some silo now, as GET /v1/actors/T/k reports (asked of a live silo). */
  async activeKeys(keys: readonly CounterKey[]): Promise<CounterKey[] | undefined> {
    const slot = this.live()[0];
    if (slot === undefined) return undefined;
    const out: CounterKey[] = [];
    for (const k of keys) {
      const r = await getJson<{ status?: string }>(
        `${slot.httpUrl}/v1/actors/${encodeURIComponent(k.type)}/${encodeURIComponent(k.key)}`,
        2_000,
      );
      if (r?.status !== 200) return undefined;
      if (r.body.status === "active") out.push(k);
    }
    return out;
  }

  /** Kill -9 every silo and start them all again (a manual action). */
  async restartAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.restart(s)));
    await this.settle(20_000);
  }

  /** Gracefully stop every silo (SIGTERM drain, bounded), e.g. before reading state saved at deactivation. */
  async stopAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.stop()));
  }

  /** Sum of a counter over every live silo's /metrics (e.g. idle swap-outs). */
  async metricSum(name: string, labelFilter = ""): Promise<number> {
    let sum = 0;
    for (const s of this.live()) {
      try {
        const res = await fetch(`${s.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
        for (const line of (await res.text()).split("\n")) {
          if (line.startsWith(name) && line.includes(labelFilter)) sum += Number(line.split(" ").pop());
        }
      } catch {
        // A silo that does not answer contributes nothing.
      }
    }
    return sum;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#supervising;
    await this.#stopProbe?.();
    // Silos first: a client closing towards a frozen silo would wait for its closing handshake.
    await Promise.all(this.slots.map((s) => s.kill()));
    await Promise.all(this.gateways.map((g) => g.close().catch(() => {})));
    await this.redis?.kill();
  }
}
