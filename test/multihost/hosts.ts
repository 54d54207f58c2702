/**
 * The system under test spread over hosts (network namespaces, netns.ts):
 *
 *   redis   redis-server (membership, reminders), append-only, bound to its own address
 *   store   the S3 test server (actor state)
 *   load    the load generator's agent (clients through every gateway, like a load balancer)
 *   s1…s5   one `praas start` silo each (s4, s5 only while scaled out) and the host's agent
 *
 * Silos listen on 0.0.0.0 (gateway and silo-to-silo) and advertise their
 * host's address, with a cluster secret and a gateway token as a deployment
 * would; the runner acts as their supervisor (a silo that exits by itself is
 * started again). The runner itself is on no network: it sees everything
 * through the agents' pipes.
 */
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  ACTORS_MODULE,
  LogWatcher,
  type ProcessRegistry,
  RedisProcess,
  type S3Info,
  SiloSlot,
  sleep,
  startS3Process,
  waitFor,
} from "#chaos/processes.js";
import { AgentProcess } from "./agent-client.js";
import type { Network } from "./netns.js";
import type { AgentEvent, LbView, LocalView } from "./protocol.js";

export const GATEWAY_PORT = 7000;
export const CLUSTER_PORT = 7100;
/** Not 6379: tests never use the default port, even in a namespace of their own. */
export const REDIS_PORT = 6380;
export const S3_PORT = 9000;

/** Last octet of each host's address. */
export const HOST_OCTETS: Readonly<Record<string, number>> = {
  redis: 2,
  store: 3,
  load: 4,
  s1: 11,
  s2: 12,
  s3: 13,
  s4: 14,
  s5: 15,
};

/** A first connection to a silo just up may time out on a busy machine: try three times. */
async function retried<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (i >= 3) throw err;
      await sleep(1_000);
    }
  }
}

export interface SiloHost {
  /** The silo's slot and its host's name. */
  readonly name: string;
  readonly ip: string;
  readonly slot: SiloSlot;
  readonly agent: AgentProcess;
  /** Every change its host's agent saw (over loopback), in order. */
  readonly views: LocalView[];
  latest: LocalView | undefined;
  /** Cut off by the runner: not expected to agree with the rest until healed. */
  isolated: boolean;
}

export interface ClusterOptions {
  readonly network: Network;
  readonly workDir: string;
  readonly registry: ProcessRegistry;
  /** The shared clock's origin (see protocol.ts). */
  readonly base: bigint;
  readonly now: () => number;
  readonly log: (line: string) => void;
}

export class MultiHostCluster {
  readonly name = `mh-${process.pid}-${Date.now().toString(36)}`;
  /** Where the silos keep actor state (see useStorage). */
  storage: "s3" | "redis" = "s3";
  readonly token = randomBytes(18).toString("base64url");
  readonly secret = randomBytes(18).toString("base64url");
  readonly silos = new Map<string, SiloHost>();
  readonly lb: LbView[] = [];
  readonly watcher: LogWatcher;
  redis: RedisProcess | undefined;
  s3: { info: S3Info; stop(): Promise<void> } | undefined;
  load: AgentProcess | undefined;
  /** Restarts the supervisor made (a silo exited by itself). */
  supervisorRestarts = 0;
  #closed = false;
  #supervising: Promise<void> | undefined;
  readonly #restarting = new Set<SiloSlot>();

  private constructor(readonly options: ClusterOptions) {
    this.watcher = new LogWatcher(join(options.workDir, "logs"));
  }

  /** Redis, S3, the load agent and `silos` (slot names), formed into one cluster. */
  static async start(options: ClusterOptions, silos: readonly string[]): Promise<MultiHostCluster> {
    const c = new MultiHostCluster(options);
    try {
      await c.#start(silos);
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  get net(): Network {
    return this.options.network;
  }

  async #start(silos: readonly string[]): Promise<void> {
    const { network, workDir, registry } = this.options;
    await mkdir(this.watcher.dir, { recursive: true });
    const redisHost = network.host("redis");
    const s3Host = network.host("store");
    const [redis, s3] = await Promise.all([
      RedisProcess.create(join(workDir, "redis"), registry, {
        host: redisHost.ip,
        port: REDIS_PORT,
        launch: network.launcher("redis"),
      }),
      startS3Process(registry, 30_000, { host: s3Host.ip, port: S3_PORT, launch: network.launcher("store") }),
    ]);
    this.redis = redis;
    this.s3 = s3;
    this.options.log(`Redis on ${redis.url}, S3 on ${s3.info.endpoint}`);
    const load = AgentProcess.start(
      "load",
      network.launcher("load"),
      registry,
      join(workDir, "logs", "agent-load.log"),
      (e) => this.#onEvent(e),
    );
    this.load = load;
    await load.request("init", {
      role: "load",
      base: this.options.base.toString(),
      token: this.token,
      cluster: this.name,
      redisUrl: redis.url,
      s3: { ...s3.info, bucket: this.name },
    });
    await load.request("createBucket", {});
    await Promise.all(silos.map((s) => this.addSilo(s)));
    this.#supervising = this.#supervise();
    const t = this.options.now();
    if (!(await this.settle(30_000))) throw new Error("the silos did not form one cluster in 30 s");
    this.options.log(
      `one cluster of ${silos.length} silos ${((this.options.now() - t) / 1000).toFixed(1)} s after the last banner`,
    );
  }

  #onEvent(e: AgentEvent): void {
    if (e.kind === "lb") this.lb.push(e);
    else {
      const s = this.silos.get(e.silo);
      if (s === undefined) return;
      s.views.push(e);
      s.latest = e;
    }
  }

  /** The `praas start` flags of a silo on `ip`. */
  siloFlags(ip: string): string[] {
    const { redis, s3 } = this;
    if (redis === undefined || s3 === undefined) throw new Error("Redis and S3 first");
    return [
      ...["--host", "0.0.0.0", "--actors", ACTORS_MODULE],
      ...["--cluster", this.name, "--redis-url", redis.url],
      ...["--cluster-host", "0.0.0.0", "--cluster-port", String(CLUSTER_PORT), "--advertise", `${ip}:${CLUSTER_PORT}`],
      ...(this.storage === "redis"
        ? ["--storage", "redis"]
        : [
            ...["--storage", "s3", "--s3-bucket", this.name, "--s3-endpoint", s3.info.endpoint],
            ...["--s3-region", s3.info.region, "--s3-path-style"],
          ]),
    ];
  }

  /**
   * Where the silos keep actor state: S3 (the default), or Redis — membership's own server, so
   * every state write is fenced by membership there. Switching restarts every running silo.
   */
  async useStorage(storage: "s3" | "redis"): Promise<void> {
    if (storage === this.storage) return;
    this.storage = storage;
    for (const s of this.running()) {
      s.slot.flags = this.siloFlags(s.ip);
      await this.restart(s.name);
    }
  }

  /** The silo's environment: secrets from variables (never on a command line), no PRAAS_* of the runner's. */
  siloEnv(): NodeJS.ProcessEnv {
    const s3 = this.s3 as { info: S3Info };
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PRAAS_")) env[k] = v;
    return {
      ...env,
      PRAAS_CLUSTER_SECRET: this.secret,
      PRAAS_TOKEN: this.token,
      AWS_ACCESS_KEY_ID: s3.info.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.info.credentials.secretAccessKey,
    };
  }

  /**
   * Start silo `name` on its host (and, the first time, the host's agent),
   * then put its gateway behind the load balancer. Bounded by the slot's start timeout.
   */
  async addSilo(name: string): Promise<SiloHost> {
    const { network, registry, workDir } = this.options;
    const host = network.host(name);
    let s = this.silos.get(name);
    if (s === undefined) {
      const slot = new SiloSlot(name, GATEWAY_PORT, this.siloFlags(host.ip), this.siloEnv(), registry, this.watcher, {
        host: host.ip,
        launch: network.launcher(name),
      });
      const agent = AgentProcess.start(
        name,
        network.launcher(name),
        registry,
        join(workDir, "logs", `agent-${name}.log`),
        (e) => this.#onEvent(e),
      );
      s = { name, ip: host.ip, slot, agent, views: [], latest: undefined, isolated: false };
      this.silos.set(name, s);
      await agent.request("init", {
        role: "local",
        base: this.options.base.toString(),
        token: this.token,
        silo: { name, httpUrl: `http://127.0.0.1:${GATEWAY_PORT}` },
      });
    }
    await s.slot.start(60_000);
    this.options.log(
      `${name}: ${s.slot.current?.siloId} up on ${host.ip} (praas start → banner ${((s.slot.startupMs.at(-1) ?? 0) / 1000).toFixed(1)} s)`,
    );
    const local = {
      name: `${name}/local`,
      wsUrl: `ws://127.0.0.1:${GATEWAY_PORT}/ws`,
      httpUrl: `http://127.0.0.1:${GATEWAY_PORT}`,
      ignoreReadiness: true,
    };
    await retried(() => (s as SiloHost).agent.request("gateways", { list: [local] }));
    const remote = { name, wsUrl: s.slot.wsUrl, httpUrl: s.slot.httpUrl };
    await retried(() => this.loadAgent.request("gateways", { list: [remote] }));
    await this.loadAgent.request("down", { name, down: false });
    return s;
  }

  get loadAgent(): AgentProcess {
    if (this.load === undefined) throw new Error("no load agent");
    return this.load;
  }

  silo(name: string): SiloHost {
    const s = this.silos.get(name);
    if (s === undefined) throw new Error(`no silo ${name}`);
    return s;
  }

  /** Silos whose process runs and that the runner has not taken down. */
  running(): SiloHost[] {
    return [...this.silos.values()].filter((s) => s.slot.alive && !s.slot.down);
  }

  /** The supervisor: a silo that exited without the runner asking is started again. */
  async #supervise(): Promise<void> {
    while (!this.#closed) {
      for (const s of this.silos.values()) {
        const slot = s.slot;
        if (slot.down || slot.alive || this.#restarting.has(slot) || this.#closed) continue;
        this.#restarting.add(slot);
        this.supervisorRestarts++;
        this.options.log(`  supervisor: ${s.name} exited; starting it again`);
        void slot
          .start(60_000)
          .catch(() => {
            // The next round sees it still down and tries again.
          })
          .finally(() => this.#restarting.delete(slot));
      }
      await sleep(100);
    }
  }

  /** Kill -9 and start a silo again (a manual action when the runner does it). */
  async restart(name: string): Promise<void> {
    const slot = this.silo(name).slot;
    this.#restarting.add(slot);
    try {
      if (slot.alive) await slot.kill();
      await slot.start(60_000);
    } finally {
      this.#restarting.delete(slot);
    }
    await this.loadAgent.request("down", { name, down: false });
  }

  /**
   * Wait (bounded) until every running, connected silo says it is ready and
   * lists exactly the running, connected silos as active, and the membership
   * in Redis holds exactly them.
   */
  async settle(ms = 15_000): Promise<boolean> {
    const same = (ids: readonly string[], selves: ReadonlySet<string>) =>
      ids.length === selves.size && ids.every((id) => selves.has(id));
    const ok = await waitFor(
      async () => {
        const up = this.running().filter((s) => !s.isolated);
        if (up.length === 0) return this.#disagree("no silo running");
        const notReady = up.filter(
          (s) => s.latest === undefined || s.latest.readyz !== 200 || s.latest.self === undefined,
        );
        if (notReady.length > 0) {
          return this.#disagree(
            `not ready: ${notReady.map((s) => `${s.name} (/readyz ${s.latest?.readyz ?? "?"}${s.latest?.reason ? ` ${s.latest.reason}` : ""}, self ${s.latest?.self ?? "?"})`).join(", ")}`,
          );
        }
        const selves = new Set(up.map((s) => s.latest?.self as string));
        const inRedis = await this.loadAgent.request("redisActive", {}, 5_000).catch(() => null);
        if (inRedis === null) return this.#disagree("Redis did not answer");
        if (!same(inRedis, selves)) {
          return this.#disagree(`Redis holds [${inRedis.join(", ")}], the silos are [${[...selves].join(", ")}]`);
        }
        const apart = up.filter((s) => !same(s.latest?.active ?? [], selves));
        if (apart.length > 0) {
          return this.#disagree(
            apart
              .map((s) => `${s.name} lists [${s.latest?.active.join(", ")}] (silos: ${[...selves].join(", ")})`)
              .join("; "),
          );
        }
        return true;
      },
      ms,
      200,
    );
    if (!ok) this.options.log(`  the cluster did not settle in ${ms / 1000} s: ${this.lastDisagreement}`);
    return ok;
  }

  /** Why the last `settle` check failed (for logs and reports). */
  lastDisagreement = "";

  #disagree(why: string): false {
    this.lastDisagreement = why;
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#supervising;
    await Promise.all([...this.silos.values()].map((s) => s.slot.kill()));
    await Promise.all([...this.silos.values()].map((s) => s.agent.close()));
    await this.load?.close();
    await this.redis?.kill();
    await this.s3?.stop().catch(() => {});
  }
}
