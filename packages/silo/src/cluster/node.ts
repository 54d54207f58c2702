/**
 * A silo's membership of a cluster: joins it, keeps the ring in step with the
 * membership view, hands over activations this silo no longer owns, and
 * leaves it gracefully (or stops at once when declared dead).
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
  type MembershipProvider,
  type MembershipView,
  type SiloInfo,
  SiloUnavailableError,
  serializeError,
} from "@praas/core";
import type { Activation } from "../activation.js";
import type { Call } from "../call.js";
import { formatAddress, type ResolvedClusterOptions } from "./config.js";
import { Placement } from "./placement.js";
import { Router, type RouterHost } from "./router.js";
import { Transport, type TransportStats } from "./transport.js";

export interface ClusterHost extends RouterHost {
  readonly siloId: string;
  /** Activations in memory now. */
  activations(): Iterable<Activation>;
  /** Something failed that has no caller to tell. */
  report(what: string, error: unknown): void;
  /** Membership declared this silo dead: it must stop serving at once. */
  evicted(): void;
  /** A new view was applied (ownership may have moved: e.g. re-read reminders). */
  viewChanged(): void;
}

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
  #view: MembershipView = EMPTY_VIEW;
  /** Peers that said bye: off the ring before membership says so. */
  readonly #leavingPeers = new Set<string>();
  /** Peers seen with status "leaving": they go away gracefully and close their own connections. */
  readonly #gracefulPeers = new Set<string>();
  readonly #memberWaiters = new Set<() => void>();
  readonly #unsubscribe: (() => void)[] = [];
  #draining = false;
  #evicted = false;
  #stopped = false;

  private constructor(host: ClusterHost, options: ResolvedClusterOptions, transport: Transport, address: string) {
    this.#host = host;
    this.#options = options;
    this.selfId = host.siloId;
    this.address = address;
    this.#membership = options.membership;
    this.#placement = new Placement(host.siloId);
    this.#transport = transport;
    this.#router = new Router(host, this.#placement, transport, options.maxHops);
  }

  /** Listen, join membership, build the ring. */
  static async start(host: ClusterHost, options: ResolvedClusterOptions): Promise<ClusterNode> {
    // The transport needs the handler before the node exists; calls it makes go through `node`.
    let node: ClusterNode | undefined;
    const transport = new Transport(
      {
        selfId: host.siloId,
        cluster: options.name,
        secret: options.secret,
        host: options.host,
        port: options.port,
        limits: options.limits,
        clock: host.clock,
        backoffMs: options.backoffMs,
        maxBackoffMs: options.maxBackoffMs,
      },
      {
        isMember: (id) => node?.isMember(id) === true,
        waitForMember: (id, ms) => (node === undefined ? Promise.resolve(false) : node.#waitForMember(id, ms)),
        addressOf: (id) => node?.view.silos.find((s) => s.id === id)?.address,
        onCall: (conn, call) => {
          if (node !== undefined) node.#router.onCall(conn, call);
          else conn.replyError(call[1], serializeError(new SiloUnavailableError("Silo is starting")), true);
        },
        onPeerLeaving: (id) => {
          if (node !== undefined) node.#peerLeaving(id);
        },
        reroute: (call) => {
          if (node !== undefined) node.#router.reroute(call);
          else call.refused(new SiloUnavailableError("Silo is starting"));
        },
      },
    );
    const bound = await transport.listen();
    const address = options.advertise ?? formatAddress(bound.host, bound.port);
    node = new ClusterNode(host, options, transport, address);
    try {
      const m = options.membership;
      const self = node;
      self.#unsubscribe.push(m.onChange((view) => self.#applyView(view)));
      self.#unsubscribe.push(m.onEvicted(() => self.#onEvicted()));
      const view = await m.join({ id: host.siloId, address, startedAt: Date.now() });
      node.#applyView(view);
    } catch (err) {
      for (const u of node.#unsubscribe) u();
      await transport.close();
      throw err;
    }
    return node;
  }

  get view(): MembershipView {
    return this.#view;
  }

  /** Members of the ring now. */
  get ringMembers(): readonly string[] {
    return this.#placement.members;
  }

  get transportStats(): TransportStats {
    return this.#transport.stats;
  }

  get openConnections(): number {
    return this.#transport.openConnections;
  }

  /** Was this silo declared dead by its peers? */
  get evicted(): boolean {
    return this.#evicted;
  }

  /** Does this silo own "Type/key" now? */
  owns(idString: string): boolean {
    return this.#placement.owns(idString);
  }

  /** Owner of "Type/key" on the current ring. */
  ownerOf(idString: string): string | undefined {
    return this.#placement.owner(idString);
  }

  /** See Router.routeAway: true when the call went to another silo. */
  routeAway(call: Call): boolean {
    return this.#router.routeAway(call);
  }

  /** Step 1 of a graceful stop (or, when evicted, cut every connection now). */
  async beginStop(): Promise<void> {
    if (this.#evicted) {
      this.#router.closed = true;
      await this.#transport.close();
      return;
    }
    this.#draining = true;
    this.#router.draining = true;
    this.#rebuild();
  }

  /** Steps 3–5 of a graceful stop, after the silo deactivated its activations. */
  async finishStop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      if (!this.#evicted) {
        // Peers first take us off their rings (bye), then membership says so.
        await this.#transport.announceLeaving(this.#options.drainTimeoutMs);
        try {
          await this.#membership.leave();
        } catch (err) {
          this.#host.report("membership leave", err);
        }
        await this.#transport.drain(this.#options.drainTimeoutMs);
      }
    } finally {
      this.#router.closed = true;
      for (const u of this.#unsubscribe) u();
      await this.#transport.close();
      try {
        await this.#membership.close();
      } catch (err) {
        this.#host.report("membership close", err);
      }
    }
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
    const live = new Set<string>();
    for (const s of view.silos) {
      if (s.status !== "dead") live.add(s.id);
      if (s.status === "leaving") this.#gracefulPeers.add(s.id);
    }
    this.#rebuild();
    for (const peer of this.#transport.peers()) {
      if (!live.has(peer))
        this.#transport.peerGone(peer, this.#gracefulPeers.has(peer) || this.#leavingPeers.has(peer));
    }
    for (const set of [this.#leavingPeers, this.#gracefulPeers])
      for (const id of set) if (!live.has(id)) set.delete(id);
    for (const w of [...this.#memberWaiters]) w();
    if (!this.#draining && !this.#evicted) this.#handOver();
    this.#host.viewChanged();
  }

  #rebuild(): void {
    const excluded = new Set(this.#leavingPeers);
    if (this.#draining || this.#evicted) excluded.add(this.selfId);
    this.#placement.update(this.#view, excluded);
  }

  /** Swap out (state saved) what another silo owns now; calls parked meanwhile follow to the new owner. */
  #handOver(): void {
    for (const a of this.#host.activations()) {
      if (a.status !== "active" && a.status !== "activating") continue;
      if (this.#placement.owns(a.idString) || this.#host.isStateless(a.info.name)) continue;
      a.deactivate("rebalance").catch((err) => this.#host.report(`hand over ${a.idString}`, err));
    }
  }

  #peerLeaving(id: string): void {
    if (this.#leavingPeers.has(id)) return;
    this.#leavingPeers.add(id);
    this.#rebuild();
  }

  #onEvicted(): void {
    if (this.#evicted) return;
    this.#evicted = true;
    this.#rebuild();
    this.#host.evicted();
  }

  /** The silos of the current view, for `silo.clusterView()`. */
  silos(): readonly SiloInfo[] {
    return this.#view.silos;
  }
}
