/**
 * TestCluster: several silos in one process, on in-memory membership and an
 * in-memory network, sharing one store, with time, message delivery and
 * faults driven from one seed.
 *
 * ```ts
 * const cluster = await TestCluster.start({ silos: 3, actors: [Cart], seed: 42 });
 * await cluster.ref(Cart, "u1").add("apple");      // through a silo the seed picks
 * await cluster.crash(cluster.ownerIndex(Cart, "u1")); // no save, no goodbye
 * await cluster.ref(Cart, "u1", { via: 2 }).items(); // served again elsewhere
 * await cluster.stop();
 * ```
 *
 * Time is a {@link SimClock}. By default ("auto") it moves only while a call
 * made through `cluster.ref` is waiting, and only when nothing else can
 * happen (no frame to deliver, no store call under way): then it jumps to the
 * next timer. Heartbeats, leases, failure detection and call deadlines all
 * run on it, so "wait until the crashed silo is declared dead" costs no real
 * time. `advance(ms)` lets time pass explicitly.
 */
import {
  type Actor,
  type ActorClass,
  type ActorId,
  type ActorRef,
  type CallOptions,
  createRef,
  decodeStateRecord,
  InvalidArgumentError,
  type Invoker,
  type LogFunction,
  type LogLevel,
  type MembershipProvider,
  type MembershipTimings,
  MemoryMembershipRegistry,
  MemoryReminderStore,
  MemoryStateStore,
  memoryMembership,
  PraasError,
  type RefTarget,
  refTarget,
  SiloUnavailableError,
  type StateStore,
} from "@praas/core/internal";
import { Silo, type SiloOptions } from "@praas/silo";
import { FaultyStore, SharedReminders, type StoreFaults } from "./faulty-store.js";
import { History } from "./history.js";
import { Prng, seedFromEnv } from "./prng.js";
import { SiloClock, SimClock, settle } from "./sim-clock.js";
import { type LinkFaults, SimNetwork } from "./sim-network.js";

/** A silo index that does not name a running silo (crashed, or out of range). */
export class SiloNotRunningError extends PraasError {
  constructor(message: string) {
    super("SILO_NOT_RUNNING", message);
  }
}

/** Where the cluster's state lives. */
export type TestStorage =
  /** In this process (default). */
  | "memory"
  /** A redis-server this cluster starts and stops (needs `redis-server` on the PATH). */
  | "redis"
  /** A local S3 server this cluster starts and stops. */
  | "s3"
  /** Any store, e.g. one on the test run's Redis (`redisUrl()` from `@praas/testing/vitest`). Closed by `stop()`. */
  | StateStore;

export interface TestClusterOptions {
  readonly actors: readonly ActorClass[];
  /** Silos at start (default 3). */
  readonly silos?: number;
  /** Seed of every random choice (default `$PRAAS_SEED`, else random). `failureReport()` names it. */
  readonly seed?: number;
  readonly storage?: TestStorage;
  /** "auto" (default): time moves while calls through `ref` wait; "manual": only `advance`/`jump` move it. */
  readonly time?: "auto" | "manual";
  /** Membership timings (default heartbeat 500 ms, dead after 2 s). */
  readonly membership?: MembershipTimings;
  /** More silo options (idle timeout, call timeout…), for every silo. */
  readonly silo?: Omit<SiloOptions, "actors" | "storage" | "reminders" | "cluster" | "clock">;
  /** Where silo log lines go (default: kept in `cluster.logs`, last 2,000 lines). */
  readonly log?: LogFunction;
}

/** How `cluster.ref` picks the silo a call enters through. */
export interface TestRefOptions extends CallOptions {
  /** Always this silo (default: one of the running silos, drawn per call from the seed). */
  readonly via?: number;
}

export type NodeState = "running" | "paused" | "crashed" | "stopped";

interface Node {
  readonly index: number;
  silo: Silo;
  clock: SiloClock;
  membership: MembershipProvider;
  state: NodeState;
  restarts: number;
  /** The silo id cut off from membership by `pause` (healed by `resume`). */
  pausedId: string | undefined;
  /** Calls that entered through this silo and wait: a crash fails them, as a dropped client connection would. */
  readonly calls: Set<(error: Error) => void>;
}

const MAX_LOG_LINES = 2_000;

export class TestCluster {
  readonly seed: number;
  readonly clock: SimClock;
  readonly network: SimNetwork;
  readonly store: FaultyStore;
  readonly registry: MemoryMembershipRegistry;
  /** Log lines of every silo ("level silo: message"), oldest first (when no `log` option was given). */
  readonly logs: string[] = [];
  /** Exceptions thrown by timers or frame handlers while the driver ran them (also logged). */
  readonly driverErrors: unknown[] = [];
  readonly #options: TestClusterOptions;
  readonly #prng: Prng;
  readonly #reminders: SharedReminders;
  readonly #nodes: Node[] = [];
  readonly #stopServers: (() => Promise<void>)[] = [];
  /** Silo ids cut off from membership by `isolate` (healed by `heal`; a pause has its own). */
  readonly #cutIds = new Set<string>();
  /** Calls through `ref` still waiting: while any does, auto time moves. */
  #busy = 0;
  /** advance/waitFor under way: time moves in manual mode too. */
  #movers = 0;
  #wake: (() => void) | undefined;
  #driving: Promise<void> | undefined;
  #halted = false;
  #stopped = false;
  readonly #faults: string[] = [];

  private constructor(options: TestClusterOptions, seed: number, store: StateStore) {
    this.#options = options;
    this.seed = seed;
    const root = new Prng(seed);
    this.#prng = root.fork();
    this.clock = new SimClock();
    this.network = new SimNetwork(root.fork(), () => this.clock.now());
    this.network.onEnqueue = () => this.#poke();
    this.store = new FaultyStore(store, root.fork());
    this.registry = new MemoryMembershipRegistry({ clock: this.clock });
    this.#reminders = new SharedReminders(new MemoryReminderStore());
  }

  /** Start `silos` silos (default 3) and wait until every one sees all of them. */
  static async start(options: TestClusterOptions): Promise<TestCluster> {
    if (typeof options !== "object" || options === null || !Array.isArray(options.actors)) {
      throw new InvalidArgumentError("TestCluster.start needs { actors: [...] }");
    }
    const size = options.silos ?? 3;
    if (!Number.isInteger(size) || size < 1 || size > 64) {
      throw new InvalidArgumentError(`TestCluster option silos must be an integer in 1..64, got ${String(size)}`);
    }
    const seed = options.seed ?? seedFromEnv();
    const { store, stop } = await openStorage(options.storage ?? "memory");
    const cluster = new TestCluster(options, seed, store);
    if (stop !== undefined) cluster.#stopServers.push(stop);
    cluster.#driving = cluster.#drive();
    try {
      for (let i = 0; i < size; i++) cluster.#nodes.push(await cluster.#startNode(i, 0));
      await cluster.waitFor(() => cluster.#converged(), "every silo to see the whole cluster");
    } catch (err) {
      await cluster.stop().catch(() => {});
      throw err;
    }
    return cluster;
  }

  /** The silo of node `i` (the current one after a restart). Throws if it crashed. */
  silo(i: number): Silo {
    return this.#running(i).silo;
  }

  /** Every node's silo, crashed ones included (for inspection). */
  get silos(): readonly Silo[] {
    return this.#nodes.map((n) => n.silo);
  }

  /** Number of nodes (running or not). */
  get size(): number {
    return this.#nodes.length;
  }

  /** Indexes of the silos that run (not crashed, not paused). */
  running(): number[] {
    return this.#nodes.filter((n) => n.state === "running").map((n) => n.index);
  }

  /** What happened to the node: "running", "paused", "crashed" or "stopped". */
  stateOf(i: number): NodeState {
    return this.#node(i).state;
  }

  /** Faults applied so far, with the cluster time of each ("t=1001500 crash 1"). */
  get faults(): readonly string[] {
    return this.#faults;
  }

  /**
   * A typed reference whose calls enter through silo `via`, or through a
   * running silo the seed picks for each call. While a call waits, auto time moves.
   */
  ref<T extends Actor<unknown>>(cls: ActorClass<T>, key: string, options: TestRefOptions = {}): ActorRef<T> {
    const { via, ...callOptions } = options;
    if (via !== undefined) this.#node(via);
    const first = this.#nodes.find((n) => n.state !== "crashed") ?? this.#nodes[0];
    if (first === undefined) throw new SiloNotRunningError("The cluster has no silo");
    const target = refTarget(first.silo.ref(cls, key, callOptions)) as RefTarget;
    const invoker: Invoker = {
      invokeRef: (t: RefTarget, method: string, args: unknown[]): Promise<unknown> => {
        let node: Node;
        try {
          node = this.#running(via === undefined ? this.#pickIndex() : via);
        } catch (err) {
          return Promise.reject(err);
        }
        const work = node.silo.invokeRef(t, method, args);
        return this.track(
          new Promise<unknown>((resolve, reject) => {
            node.calls.add(reject);
            work.then(resolve, reject).finally(() => node.calls.delete(reject));
          }),
        );
      },
    };
    return createRef(invoker, target) as ActorRef<T>;
  }

  /** Index of the node whose silo owns (or hosts) `Type/key` now, asked through a running silo. */
  async ownerIndex(cls: ActorClass, key: string): Promise<number> {
    const via = this.silo(this.#pickIndex());
    const { silo } = await this.track(via.locate(via.ref(cls, key)));
    const node = this.#nodes.find((n) => n.state !== "crashed" && n.silo.siloId === silo);
    if (node === undefined) throw new SiloNotRunningError(`No running node has silo id ${silo}`);
    return node.index;
  }

  /** Let auto time move while `work` runs (for calls made on silos directly). */
  track<T>(work: Promise<T>): Promise<T> {
    this.#busy++;
    this.#poke();
    return work.finally(() => {
      this.#busy--;
    });
  }

  /**
   * Let `ms` of cluster time pass (timers fire, frames are delivered, faults
   * play out). Several at once are fine: each resolves at its own time.
   */
  advance(ms: number): Promise<void> {
    if (!(ms >= 0)) return Promise.reject(new InvalidArgumentError("advance() needs a non-negative number of ms"));
    this.#movers++;
    this.#poke();
    return new Promise<void>((resolve) => {
      this.clock.setTimeout(resolve, ms);
    }).finally(() => {
      this.#movers--;
    });
  }

  /**
   * Move time until `check()` holds (checked after every event), at most
   * `limitMs` of cluster time (default 60 s). Throws naming `what` if it never does.
   */
  async waitFor(check: () => boolean, what: string, limitMs = 60_000): Promise<void> {
    const end = this.clock.now() + limitMs;
    this.#movers++;
    this.#poke();
    try {
      while (!check()) {
        if (this.clock.now() >= end || this.#halted) {
          throw new Error(
            `TestCluster (seed ${this.seed}): gave up after ${limitMs} ms of cluster time waiting for ${what}`,
          );
        }
        await settle();
      }
    } finally {
      this.#movers--;
    }
  }

  /** Wait (moving time, at most `limitMs`) until every running silo sees every running silo as active. */
  converge(limitMs = 60_000): Promise<void> {
    return this.waitFor(() => this.#converged(), "every running silo to see every other as active", limitMs);
  }

  // ---- faults ----

  /** Crash silo `i`: no save, no goodbye. Its connections reset; peers declare it dead when its lease runs out. */
  async crash(i: number): Promise<void> {
    const node = this.#node(i);
    if (node.state === "crashed") return;
    this.#mark(`crash ${i}`);
    node.state = "crashed";
    node.clock.kill();
    const lost = new SiloUnavailableError(
      `Silo ${i} (${node.silo.siloId}) crashed before the reply; the call may or may not have run`,
    );
    for (const reject of [...node.calls]) reject(lost);
    node.calls.clear();
    this.network.crash(i);
    this.store.fence(i);
    this.#reminders.fence(i);
    // close() without leave(): the entry stays and peers declare it dead — a crash.
    await node.membership.close();
  }

  /** Start a new silo on node `i` (after a crash), with a new id; resolves once every silo sees it. */
  async restart(i: number): Promise<void> {
    const node = this.#node(i);
    if (node.state !== "crashed" && node.state !== "stopped") {
      throw new InvalidArgumentError(`restart(${i}): silo ${i} is ${node.state}; crash or stop it first`);
    }
    this.#mark(`restart ${i}`);
    this.network.revive(i);
    this.#reminders.unfence(i);
    const fresh = await this.#startNode(i, node.restarts + 1);
    this.#nodes[i] = fresh;
    await this.waitFor(() => this.#converged(), `restarted silo ${i} to be seen by every silo`);
  }

  /** Stop silo `i` gracefully (drain, save, goodbye). */
  async stopSilo(i: number): Promise<void> {
    const node = this.#running(i);
    this.#mark(`stop ${i}`);
    node.state = "stopped";
    await this.track(node.silo.stop());
  }

  /**
   * Freeze silo `i` as a long GC pause or a stopped VM would: no timer fires,
   * no frame in or out, no store answer, no heartbeat. Peers declare it dead
   * if it stays paused past the membership timeout; on `resume` it finds out
   * and rejoins under a new id.
   */
  pause(i: number): void {
    const node = this.#running(i);
    this.#mark(`pause ${i}`);
    node.state = "paused";
    node.clock.pause();
    this.network.pause(i);
    this.store.pause(i);
    node.pausedId = node.silo.siloId;
    this.registry.partition(node.pausedId, true);
  }

  resume(i: number): void {
    const node = this.#node(i);
    if (node.state !== "paused") return;
    this.#mark(`resume ${i}`);
    node.state = "running";
    // Still cut if it is also isolated: then `heal` reconnects it.
    if (node.pausedId !== undefined && !this.#cutIds.has(node.pausedId)) this.registry.partition(node.pausedId, false);
    node.pausedId = undefined;
    this.store.resume(i);
    this.network.resume(i);
    node.clock.resume();
    this.#poke();
  }

  /** Partition silos `a` from silos `b` (silo-to-silo links only: every silo still reaches membership). */
  partition(a: readonly number[], b: readonly number[]): void {
    this.#mark(`partition [${a.join(",")}] | [${b.join(",")}]`);
    for (const x of a) for (const y of b) if (x !== y) this.network.cut(x, y);
  }

  /** Cut silo `i` off from its peers and from membership: they declare it dead and take over its actors. */
  isolate(i: number): void {
    this.#mark(`isolate ${i}`);
    for (const n of this.#nodes) if (n.index !== i) this.network.cut(i, n.index);
    this.#cut(this.#node(i).silo.siloId);
  }

  /** Heal every partition and isolation, and clear every link fault. */
  heal(): void {
    this.#mark("heal");
    this.network.healAll();
    for (const id of [...this.#cutIds]) this.#uncut(id);
    this.#poke();
  }

  /** Faults on the link between silos `a` and `b` (replacing earlier ones); `{}` clears them. */
  link(a: number, b: number, faults: LinkFaults): void {
    this.#mark(`link ${a}-${b} ${JSON.stringify(faults)}`);
    this.network.setLink(a, b, faults);
  }

  /** Storage faults for every silo (replacing earlier ones); `{}` clears them. */
  storageFaults(faults: StoreFaults): void {
    this.#mark(`storage ${JSON.stringify(faults)}`);
    this.store.setFaults(faults);
  }

  /** A conflicting write from elsewhere to `Type/key` now (same bytes, new version). */
  conflict(cls: ActorClass, key: string): Promise<boolean> {
    const type = this.#typeOf(cls, key);
    this.#mark(`conflict ${type}/${key}`);
    return this.store.conflict({ type, key });
  }

  /** A clock jump for the whole cluster: time moves `ms` at once; overdue timers fire late. */
  async jumpClock(ms: number): Promise<void> {
    this.#mark(`jump ${ms}`);
    this.clock.setNow(this.clock.now() + ms);
    await this.advance(0);
  }

  /** Step silo `i`'s clock by `ms` (its `now()` only): a wall-clock step on one host. */
  skewClock(i: number, ms: number): void {
    this.#mark(`skew ${i} ${ms}`);
    this.#node(i).clock.skew(ms);
  }

  // ---- observation ----

  /**
   * What to print when a test on this cluster fails: the seed and how to
   * replay it, the faults applied, and the last `logLines` silo log lines.
   */
  failureReport(logLines = 30): string {
    return [
      `TestCluster seed ${this.seed} (replay with PRAAS_SEED=${this.seed})`,
      `faults applied (cluster time):${this.#faults.length === 0 ? " none" : `\n  ${this.#faults.join("\n  ")}`}`,
      `last silo log lines:${this.logs.length === 0 ? " none" : `\n  ${this.logs.slice(-logLines).join("\n  ")}`}`,
    ].join("\n");
  }

  /** A call history on the cluster's clock (see `checkHistory`, `checkLinearizable`). */
  history(): History {
    return new History(() => this.clock.now());
  }

  /** The actor state stored for `Type/key` (undefined when nothing is stored), read straight from the store. */
  async stored(cls: ActorClass, key: string): Promise<unknown> {
    const id: ActorId = { type: this.#typeOf(cls, key), key };
    const record = await this.store.load(id);
    if (record === undefined) return undefined;
    return decodeStateRecord(record.data, this.store.inner.describe(id)).state;
  }

  /** Stop every running silo gracefully (healing faults first), then the stores and servers. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.network.healAll();
    this.store.setFaults({});
    for (const id of [...this.#cutIds]) this.#uncut(id);
    for (const n of this.#nodes) if (n.state === "paused") this.resume(n.index);
    const live = this.#nodes.filter((n) => n.state === "running");
    for (const n of live) n.state = "stopped";
    // One after the other: when every silo drains at once, each waits for goodbyes from peers that
    // are leaving too, and the drain ends only at its (real-time) deadline.
    const results: PromiseSettledResult<unknown>[] = [];
    for (const n of live) results.push(...(await this.track(Promise.allSettled([n.silo.stop()]))));
    this.#halted = true;
    this.#poke();
    await this.#driving;
    await this.store.close().catch(() => {});
    await this.#reminders.inner.close().catch(() => {});
    for (const stop of this.#stopServers) await stop().catch(() => {});
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) {
      throw new AggregateError(
        failed.map((r) => (r as PromiseRejectedResult).reason),
        `TestCluster (seed ${this.seed}): ${failed.length} silo(s) failed to stop cleanly`,
      );
    }
  }

  // ---- internals ----

  /** The type name the silos register `cls` under. */
  #typeOf(cls: ActorClass, key: string): string {
    const any = this.#nodes[0]?.silo;
    if (any === undefined) throw new SiloNotRunningError("The cluster has no silo");
    return (refTarget(any.ref(cls, key)) as RefTarget).id.type;
  }

  #mark(what: string): void {
    this.#faults.push(`t=${this.clock.now()} ${what}`);
  }

  #node(i: number): Node {
    const node = this.#nodes[i];
    if (!Number.isInteger(i) || node === undefined) {
      throw new SiloNotRunningError(`No silo ${i} in this cluster of ${this.#nodes.length}`);
    }
    return node;
  }

  #running(i: number): Node {
    const node = this.#node(i);
    if (node.state === "crashed" || node.state === "stopped") {
      throw new SiloNotRunningError(`Silo ${i} is ${node.state}`);
    }
    return node;
  }

  #pickIndex(): number {
    const live = this.running();
    if (live.length === 0) throw new SiloNotRunningError("No silo of the cluster is running");
    return live.length === 1 ? (live[0] as number) : this.#prng.pick(live);
  }

  #cut(id: string): void {
    this.#cutIds.add(id);
    this.registry.partition(id, true);
  }

  #uncut(id: string): void {
    this.#cutIds.delete(id);
    // A paused silo stays cut off until it resumes.
    if (this.#nodes.some((n) => n.state === "paused" && n.pausedId === id)) return;
    this.registry.partition(id, false);
  }

  /** Every running silo sees every running silo as active. */
  #converged(): boolean {
    const live = this.#nodes.filter((n) => n.state === "running");
    const ids = live.map((n) => n.silo.siloId);
    return live.every((n) => {
      const view = n.silo.clusterView();
      return ids.every((id) => view.silos.some((s) => s.id === id && s.status === "active"));
    });
  }

  async #startNode(index: number, restarts: number): Promise<Node> {
    const clock = new SiloClock(this.clock);
    const membership = memoryMembership(this.registry, {
      ...this.#options.membership,
      onListenerError: (error) => this.#log("error", `s${index}`, `membership listener failed: ${String(error)}`),
    });
    const siloId = restarts === 0 ? `s${index}` : `s${index}r${restarts}`;
    const log: LogFunction =
      this.#options.log ?? ((level, message, details) => this.#log(level, details?.silo ?? siloId, message));
    const silo = await this.track(
      Silo.start({
        idleTimeoutMs: 600_000,
        ...this.#options.silo,
        actors: this.#options.actors,
        clock,
        storage: this.store.viewFor(index, clock),
        reminders: this.#reminders.viewFor(index),
        log,
        cluster: {
          name: "test-cluster",
          membership,
          // Frames never wait on a socket here; real-time timers (pings, redials) are kept out of the way.
          transport: { pingIntervalMs: 3_600_000, handshakeTimeoutMs: 60_000, backoffMs: 1, maxBackoffMs: 20 },
          drainTimeoutMs: 5_000,
          inProcess: { connector: this.network.connectorFor(index), siloId },
        },
      }),
    );
    return { index, silo, clock, membership, state: "running", restarts, pausedId: undefined, calls: new Set() };
  }

  #log(level: LogLevel, silo: string, message: string): void {
    this.logs.push(`${level} ${silo}: ${message}`);
    if (this.logs.length > MAX_LOG_LINES) this.logs.splice(0, this.logs.length - MAX_LOG_LINES);
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * The driver: deliver frames one at a time (the network picks which, from
   * the seed); when none may go, move time to the next timer or delayed frame
   * — but only while a call waits or `advance` asks, and never while a store
   * call is under way (a real server answers in real time).
   */
  async #drive(): Promise<void> {
    while (!this.#halted) {
      try {
        await this.#turn();
      } catch (err) {
        // A timer or a frame handler threw: that is the silo's failure to report, not the end of time.
        this.driverErrors.push(err);
        this.#log(
          "error",
          "driver",
          `a timer or frame handler threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      }
    }
  }

  /** One step of the driver. */
  async #turn(): Promise<void> {
    {
      await settle();
      if (this.network.step()) return;
      const wantTime = this.#movers > 0 || (this.#busy > 0 && this.#options.time !== "manual");
      if (!wantTime) {
        if (this.#halted) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        return;
      }
      if (this.store.inFlight > 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return;
      }
      const timerAt = this.clock.nextAt();
      const frameAt = this.network.nextReadyAt();
      if (frameAt !== undefined && frameAt > this.clock.now() && (timerAt === undefined || frameAt <= timerAt)) {
        this.clock.setNow(frameAt);
        return;
      }
      if (this.clock.runNext(Number.POSITIVE_INFINITY)) return;
      // A call waits on something outside simulated time (a real-time redial): let the event loop run.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

async function openStorage(storage: TestStorage): Promise<{ store: StateStore; stop?: () => Promise<void> }> {
  if (storage === "memory") return { store: new MemoryStateStore() };
  if (storage === "redis") {
    const { startRedisServer } = await import("./redis-server.js");
    const { redisStateStore } = await import("@praas/redis");
    const server = await startRedisServer();
    return { store: redisStateStore({ url: server.url }), stop: () => server.stop() };
  }
  if (storage === "s3") {
    const { startS3Server } = await import("./s3-server.js");
    const { s3Storage } = await import("@praas/storage-s3");
    const server = await startS3Server({ buckets: ["praas-test-cluster"] });
    const store = s3Storage({
      bucket: "praas-test-cluster",
      endpoint: server.endpoint,
      region: server.region,
      credentials: server.credentials,
      forcePathStyle: true,
    });
    return { store, stop: () => server.stop() };
  }
  if (typeof storage === "object" && storage !== null && typeof storage.save === "function") return { store: storage };
  throw new InvalidArgumentError(`TestCluster option storage must be "memory", "redis", "s3" or a StateStore`);
}
