/**
 * One incarnation of a silo in a cluster: joins under one id, keeps the ring
 * in step with the membership view, hands over activations this silo no
 * longer owns, guards serving with the membership lease, and leaves
 * gracefully (or stops at once when evicted; cluster.ts then rejoins under a
 * new id).
 *
 * The lease: this silo serves its keys only while its membership lease holds
 * (MembershipProvider.leaseValidUntil), checked on every call with one clock
 * read and one compare. When it runs out the silo refuses to serve, logs one
 * line, and waits: the next heartbeat that gets through either renews the
 * lease (the silo serves again, with its activations intact: no peer can have
 * taken its keys, since nobody declared it dead) or finds it evicted.
 *
 * Graceful drain, in this order:
 * 1. the ring here drops this silo, so every call without an activation here
 *    is forwarded to its new owner;
 * 2. (the silo deactivates everything, saving state; calls parked on an
 *    activation are forwarded once its state is saved);
 * 3. "bye" to every peer: they take this silo off their rings at once;
 * 4. leave membership;
 * 5. wait until each peer acknowledged the bye and no call is in flight
 *    either way (bounded), then close the transport.
 * Calls reaching this silo meanwhile are forwarded; peers never send a
 * forwarded call back to the silo that gave it up (router.ts).
 */
import {
  type Clock,
  type LogFunction,
  type MembershipProvider,
  type MembershipView,
  type PraasError,
  SiloUnavailableError,
  serializeError,
  TimeoutError,
  type TimerHandle,
} from "@praas/core/internal";
import type { Activation } from "../activation.js";
import type { Call } from "../call.js";
import { settlesWithin } from "../scope.js";
import { formatAddress, type ResolvedClusterOptions } from "./config.js";
import type { CallEnvelope } from "./frames.js";
import {
  HandoverGate,
  parseReleasedQuestion,
  RELEASED_METHOD,
  ReleaseQuestion,
  ReleaseTracker,
  SILO_TYPE,
} from "./handover.js";
import type { PeerConnection } from "./peer-connection.js";
import { Placement } from "./placement.js";
import { Router, type RouterHost } from "./router.js";
import { OutboundSiloRequest } from "./silo-request.js";
import { Transport } from "./transport.js";

export interface ClusterHost extends RouterHost {
  /** Activations in memory now. */
  activations(): Iterable<Activation>;
  /** Something failed that has no caller to tell. */
  report(what: string, error: unknown): void;
  /** Operational messages (lease lost and renewed, eviction, rejoin). */
  readonly log: LogFunction;
  /** A new view was applied (ownership may have moved: e.g. re-read reminders). */
  viewChanged(): void;
}

/** What one incarnation tells the cluster runtime around it (cluster.ts). */
export interface NodeEvents {
  /** Membership says this silo is no longer a member: it already refuses to serve. */
  evicted(reason: string): void;
  /** The lease ran out (false) or was renewed after running out (true). */
  lease(held: boolean): void;
}

/** While the lease is out, how often to look whether a heartbeat renewed it (for the log line and the event). */
const LEASE_POLL_MS = 50;

const EMPTY_VIEW: MembershipView = { version: 0, silos: [] };

export class ClusterNode {
  readonly selfId: string;
  /** "host:port" peers dial. */
  readonly address: string;
  readonly #host: ClusterHost;
  readonly #options: ResolvedClusterOptions;
  readonly #membership: MembershipProvider;
  readonly #placement: Placement;
  readonly #transport: Transport;
  readonly #router: Router;
  /** Fresh activations wait here after this silo gained keys, until their previous owners let go (handover.ts). */
  readonly #gate: HandoverGate;
  /** What this silo has let go of, for peers that gained keys. */
  readonly #releases: ReleaseTracker;
  /** Hand-overs of the latest view still running (saves); the release waits for them. */
  #releasing: Promise<void> | undefined;
  #view: MembershipView = EMPTY_VIEW;
  /** Peers that said bye: off the ring before membership says so. */
  readonly #leavingPeers = new Set<string>();
  /** Peers seen with status "leaving": they go away gracefully and close their own connections. */
  readonly #gracefulPeers = new Set<string>();
  readonly #memberWaiters = new Set<() => void>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #events: NodeEvents;
  readonly #leaseClock: Clock;
  /** The lease end last read from membership: the hot path compares against this copy. */
  #leaseUntil = Number.NEGATIVE_INFINITY;
  /** When the lease was found out (on the lease clock); undefined while it holds. */
  #leaseLostAt: number | undefined;
  #leaseTimer: TimerHandle | undefined;
  /** Why this incarnation refuses to serve for good (evicted, stopping). */
  #refusal: SiloUnavailableError | undefined;
  /** The error of the current lapse of the lease (one per lapse: creating errors is not free). */
  #lapseError: SiloUnavailableError | undefined;
  #draining = false;
  #evicted = false;
  #stopped = false;

  private constructor(
    host: ClusterHost,
    options: ResolvedClusterOptions,
    transport: Transport,
    address: string,
    selfId: string,
    events: NodeEvents,
  ) {
    this.#host = host;
    this.#options = options;
    this.selfId = selfId;
    this.address = address;
    this.#membership = options.membership;
    this.#leaseClock = options.membership.clock;
    this.#events = events;
    this.#placement = new Placement(selfId);
    this.#transport = transport;
    this.#router = new Router(host, this.#placement, transport, options.maxHops);
    this.#releases = new ReleaseTracker(host.clock);
    const node = this;
    this.#gate = new HandoverGate({
      clock: host.clock,
      selfId,
      livePeers: () => node.#livePeers(),
      send: (peerId, request) => transport.send(peerId, request),
      get closed() {
        return node.#refusal !== undefined || node.#draining;
      },
    });
  }

  /** Listen, join membership under `selfId`, build the ring. */
  static async start(
    host: ClusterHost,
    options: ResolvedClusterOptions,
    selfId: string,
    events: NodeEvents,
  ): Promise<ClusterNode> {
    // The transport needs the handler before the node exists; calls it makes go through `node`.
    let node: ClusterNode | undefined;
    const transport = new Transport(
      {
        selfId,
        cluster: options.name,
        secret: options.secret,
        host: options.host,
        port: options.port,
        limits: options.limits,
        clock: host.clock,
        backoffMs: options.backoffMs,
        maxBackoffMs: options.maxBackoffMs,
        log: host.log,
        connector: options.inProcess?.connector,
      },
      {
        isMember: (id) => node?.isMember(id) === true,
        waitForMember: (id, ms) => (node === undefined ? Promise.resolve(false) : node.#waitForMember(id, ms)),
        addressOf: (id) => node?.view.silos.find((s) => s.id === id)?.address,
        onCall: (conn, call) => {
          if (node === undefined)
            conn.replyError(call[1], serializeError(new SiloUnavailableError("Silo is starting")), true);
          else if (call[2] === SILO_TYPE) node.#onSiloRequest(conn, call);
          else node.#router.onCall(conn, call);
        },
        onPeerLeaving: (id) => {
          if (node !== undefined) node.#peerLeaving(id);
        },
        reroute: (call) => {
          // A hand-over question is for its peer only: it fails, and is asked again if still needed.
          if (node !== undefined && !(call instanceof ReleaseQuestion)) node.#router.reroute(call);
          else call.refused(new SiloUnavailableError("Silo is starting"));
        },
      },
    );
    const bound = await transport.listen();
    const address = options.advertise ?? formatAddress(bound.host, bound.port);
    node = new ClusterNode(host, options, transport, address, selfId, events);
    try {
      const m = options.membership;
      const self = node;
      self.#unsubscribe.push(m.onChange((view) => self.#applyView(view)));
      self.#unsubscribe.push(m.onEvicted((reason) => self.#onEvicted(reason)));
      const view = await m.join({ id: selfId, address, startedAt: Date.now() });
      node.#applyView(view);
    } catch (err) {
      for (const u of node.#unsubscribe) u();
      await transport.close();
      throw err;
    }
    if (!node.#evicted) {
      node.#leaseUntil = node.#membership.leaseValidUntil();
      node.#armLeaseTimer();
    }
    return node;
  }

  /**
   * Undefined while this silo may serve the keys it owns; otherwise the
   * retryable error a call gets (no lease, evicted). The hot path: one clock
   * read (none when the caller passes `now`, read from the lease clock), one compare.
   */
  servingError(now?: number): PraasError | undefined {
    if (this.#refusal === undefined && (now ?? this.#leaseClock.now()) < this.#leaseUntil) return undefined;
    return this.#checkLease();
  }

  /** Read the lease from membership; log and tell on a change between held and lost. */
  #checkLease(): PraasError | undefined {
    if (this.#refusal !== undefined) return this.#refusal;
    const now = this.#leaseClock.now();
    const until = this.#membership.leaseValidUntil();
    if (now < until) {
      this.#leaseUntil = until;
      if (this.#leaseLostAt !== undefined) {
        const seconds = ((now - this.#leaseLostAt) / 1000).toFixed(1);
        this.#leaseLostAt = undefined;
        this.#lapseError = undefined;
        this.#host.log(
          "info",
          `silo ${this.selfId}: membership lease renewed after ${seconds} s without; serving again`,
        );
        this.#events.lease(true);
      }
      return undefined;
    }
    if (this.#leaseLostAt === undefined) {
      this.#leaseLostAt = now;
      this.#host.log(
        "warn",
        `silo ${this.selfId}: membership lease expired (no heartbeat reached the membership store in time, so peers may soon take over its actors); not serving until one does`,
      );
      this.#events.lease(false);
    }
    this.#lapseError ??= new SiloUnavailableError(
      `Silo ${this.selfId} is not serving: its membership lease expired (it cannot reach the membership store); send the call again`,
    );
    return this.#lapseError;
  }

  /**
   * A timer at the lease's end, or every LEASE_POLL_MS while it is out, so
   * the lost and renewed lines come on time even when no call comes.
   */
  #armLeaseTimer(): void {
    this.#leaseTimer?.cancel();
    this.#leaseTimer = undefined;
    if (this.#refusal !== undefined) return;
    const wait = this.#leaseLostAt === undefined ? this.#leaseUntil - this.#leaseClock.now() : LEASE_POLL_MS;
    this.#leaseTimer = this.#leaseClock.setTimeout(
      () => {
        this.#leaseTimer = undefined;
        this.#checkLease();
        this.#armLeaseTimer();
      },
      Math.max(1, Math.min(wait, 3_600_000)),
      true,
    );
  }

  /** From now on this incarnation refuses to serve, for `reason`. */
  #refuse(reason: string): void {
    this.#refusal ??= new SiloUnavailableError(reason);
    this.#gate.close();
    this.#releases.close();
    this.#leaseTimer?.cancel();
    this.#leaseTimer = undefined;
  }

  get view(): MembershipView {
    return this.#view;
  }

  /** Does this silo own "Type/key" now? */
  owns(idString: string): boolean {
    return this.#placement.owns(idString);
  }

  /** Ask peer `siloId` a silo request (silo-request.ts); never routed elsewhere nor retried. */
  ask(siloId: string, method: string, args: readonly unknown[], timeoutMs: number): Promise<unknown> {
    const request = new OutboundSiloRequest(siloId, method, args, this.#host.clock, timeoutMs);
    this.#transport.send(siloId, request);
    return request.promise;
  }

  /**
   * May a fresh activation start here now? False: the call waits until the
   * keys this silo gained were let go by their previous owners (or is refused,
   * not run, after HANDOVER_WAIT_LIMIT_MS) and is then dispatched again.
   */
  mayActivate(call: Call, refuse: (call: Call, error: PraasError) => void): boolean {
    if (this.#gate.open || this.#host.isStateless(call.type)) return true;
    this.#gate.wait(
      () => {
        if (!call.done) this.#host.dispatch(call);
      },
      (error) => refuse(call, error),
    );
    return false;
  }

  /** See Router.routeAway: true when the call went to another silo. */
  routeAway(call: Call): boolean {
    return this.#router.routeAway(call);
  }

  /** Step 1 of a graceful stop (or, when evicted, cut every connection now). */
  async beginStop(): Promise<void> {
    if (this.#evicted) {
      await this.shutDown();
      return;
    }
    this.#draining = true;
    this.#router.draining = true;
    this.#releases.close();
    this.#rebuild();
  }

  /** Steps 3–5 of a graceful stop, after the silo deactivated its activations. */
  async finishStop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Everything was deactivated; leaving membership ends the lease, which is not a failure.
    this.#refuse(`Silo ${this.selfId} is stopping`);
    try {
      if (!this.#evicted) {
        // Peers first take us off their rings (bye), then membership says so.
        await this.#transport.announceLeaving(this.#options.drainTimeoutMs);
        await this.#boundedStep("membership leave", this.#membership.leave());
        await this.#transport.drain(this.#options.drainTimeoutMs);
      }
    } finally {
      this.#router.closed = true;
      for (const u of this.#unsubscribe) u();
      await this.#boundedStep("transport close", this.#transport.close());
      await this.#boundedStep("membership close", this.#membership.close());
    }
  }

  /**
   * One step of a stop, bounded by the drain timeout: a membership store or a
   * socket that stopped answering must not hang `stop()`. A step that fails or
   * runs late is reported and the stop goes on.
   */
  async #boundedStep(what: string, work: Promise<unknown>): Promise<void> {
    const ms = this.#options.drainTimeoutMs;
    try {
      if (!(await settlesWithin(work, ms, this.#host.clock))) {
        this.#host.report(what, new TimeoutError(`${what} did not finish within ${ms} ms; stopping without it`));
      }
    } catch (err) {
      this.#host.report(what, err);
    }
  }

  /**
   * End an evicted incarnation: no more calls in or out (calls waiting for a
   * connection fail, retryable). Membership stays open for the next incarnation.
   */
  async shutDown(): Promise<void> {
    this.#refuse(`Silo ${this.selfId} is no longer a member of the cluster`);
    this.#router.closed = true;
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#transport.close();
  }

  /** Is `id` a member (active or leaving) in the current view? */
  isMember(id: string): boolean {
    return this.#view.silos.some((s) => s.id === id && s.status !== "dead");
  }

  #waitForMember(id: string, timeoutMs: number): Promise<boolean> {
    if (this.isMember(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.isMember(id)) return;
        finish(true);
      };
      const finish = (known: boolean): void => {
        clearTimeout(timer);
        this.#memberWaiters.delete(check);
        resolve(known);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      timer.unref();
      this.#memberWaiters.add(check);
    });
  }

  #applyView(view: MembershipView): void {
    if (view.version < this.#view.version) return;
    this.#view = view;
    const before = this.#placement.members;
    const live = new Set<string>();
    for (const s of view.silos) {
      if (s.status !== "dead") live.add(s.id);
      if (s.status === "leaving") this.#gracefulPeers.add(s.id);
    }
    this.#rebuild();
    if (gainedKeys(before, this.#placement.members, this.selfId)) this.#gate.gained(view.version);
    this.#gate.viewChanged();
    for (const peer of this.#transport.peers()) {
      if (!live.has(peer))
        this.#transport.peerGone(peer, this.#gracefulPeers.has(peer) || this.#leavingPeers.has(peer));
    }
    for (const set of [this.#leavingPeers, this.#gracefulPeers])
      for (const id of set) if (!live.has(id)) set.delete(id);
    for (const w of [...this.#memberWaiters]) w();
    if (!this.#draining && !this.#evicted) this.#release(view.version);
    this.#host.viewChanged();
  }

  /** Live members other than this silo that have not said bye (a bye comes after they deactivated everything). */
  #livePeers(): string[] {
    const out: string[] = [];
    for (const s of this.#view.silos) {
      if (s.status !== "dead" && s.id !== this.selfId && !this.#leavingPeers.has(s.id)) out.push(s.id);
    }
    return out;
  }

  /**
   * Hand over what another silo owns now, then tell peers that ask (handover.ts)
   * that `version` is released. Activations whose save fails stay, and keep the
   * release back: their key is not let go until their state is stored.
   */
  #release(version: number): void {
    const previous = this.#releasing ?? Promise.resolve();
    const run = previous.then(async () => {
      for (let attempt = 0; this.#refusal === undefined && !this.#draining; attempt++) {
        const handOvers = this.#handOver();
        if (handOvers.length === 0) {
          this.#releases.release(version);
          return;
        }
        await Promise.allSettled(handOvers);
        // A save that failed is retried by the activation's own backoff; look again now and then.
        if (attempt > 0) await new Promise<void>((r) => this.#host.clock.setTimeout(r, 1_000, true));
      }
    });
    this.#releasing = run;
    void run.finally(() => {
      if (this.#releasing === run) this.#releasing = undefined;
    });
  }

  /** A control request from a peer (type SILO_TYPE): the hand-over question, or one for a handler (silo-request.ts). */
  #onSiloRequest(conn: PeerConnection, call: CallEnvelope): void {
    const [, id, , key, method, args, timeoutMs] = call;
    if (method !== RELEASED_METHOD) {
      this.#router.answerSiloRequest(conn, id, key, method, args, timeoutMs);
      return;
    }
    const version = method === RELEASED_METHOD ? parseReleasedQuestion(args) : undefined;
    if (version === undefined) {
      conn.replyError(id, serializeError(new SiloUnavailableError(`Unknown silo request ${method}`)), true);
      return;
    }
    if (!this.#draining && this.#holdsUnowned()) {
      // Something ran here after the last release for a key another silo owns: let it go first.
      this.#releases.retract();
      this.#release(this.#view.version);
    }
    this.#releases.ask(
      version,
      (released) => conn.reply(id, released),
      () =>
        conn.replyError(
          id,
          serializeError(new SiloUnavailableError(`Silo ${this.selfId} has not released view ${version} yet`)),
          true,
        ),
    );
  }

  #rebuild(): void {
    const excluded = new Set(this.#leavingPeers);
    if (this.#draining || this.#evicted) excluded.add(this.selfId);
    this.#placement.update(this.#view, excluded);
  }

  /** Is an activation for a key another silo owns still here? */
  #holdsUnowned(): boolean {
    for (const a of this.#host.activations()) {
      if (a.status === "deactivated" || this.#placement.owns(a.idString) || this.#host.isStateless(a.info.name))
        continue;
      return true;
    }
    return false;
  }

  /**
   * Swap out (state saved) what another silo owns now; calls parked meanwhile
   * follow to the new owner. Returns one promise per activation still here
   * that this silo does not own (those already deactivating included).
   */
  #handOver(): Promise<unknown>[] {
    const out: Promise<unknown>[] = [];
    for (const a of this.#host.activations()) {
      if (this.#placement.owns(a.idString) || this.#host.isStateless(a.info.name)) continue;
      if (a.status === "active" || a.status === "activating" || a.status === "deactivating") {
        out.push(a.deactivate("rebalance").catch((err) => this.#host.report(`hand over ${a.idString}`, err)));
      }
    }
    return out;
  }

  #peerLeaving(id: string): void {
    if (this.#leavingPeers.has(id)) return;
    this.#leavingPeers.add(id);
    const before = this.#placement.members;
    this.#rebuild();
    // Its keys come here: it deactivated everything before saying bye, so nobody needs asking about them.
    if (gainedKeys(before, this.#placement.members, this.selfId)) this.#gate.gained(this.#view.version);
    this.#gate.viewChanged();
  }

  #onEvicted(reason: string): void {
    if (this.#evicted) return;
    this.#evicted = true;
    this.#refuse(`Silo ${this.selfId} is not serving: it lost its cluster membership (${reason}); send the call again`);
    this.#rebuild();
    this.#events.evicted(reason);
  }
}

/**
 * Did this silo gain keys from `before` to `after`? On a consistent-hash ring
 * it does exactly when it just appeared or another member disappeared.
 */
function gainedKeys(before: readonly string[], after: readonly string[], self: string): boolean {
  if (!after.includes(self)) return false;
  if (!before.includes(self)) return true;
  const now = new Set(after);
  return before.some((id) => id !== self && !now.has(id));
}
