/**
 * A silo's place in its cluster across incarnations. Each incarnation is a
 * {@link ClusterNode} with its own silo id; when membership evicts one (peers
 * declared it dead, or Redis lost its data) this module:
 *
 * 1. stops serving at once (the node already refuses every call);
 * 2. drops every activation without saving: its state may be stale, since
 *    another silo may already own the key and have written newer state;
 * 3. logs one line with the reason, and ends the old incarnation's transport;
 * 4. rejoins under a new id (`<base id>.<n>`) as soon as membership answers,
 *    retrying with backoff.
 *
 * Calls that arrive while the lease has lapsed or the silo is rejoining are
 * parked, not failed: a lapse caused by a stalled event loop ends with the
 * next heartbeat, and a rejoin takes a moment. They are routed again once the
 * lease is back or the new incarnation serves, and refused (retryable) if that
 * takes longer than PARK_LIMIT_MS. Nothing is served meanwhile. A refused
 * call that a peer forwarded is marked "not run", so its origin resends it,
 * by then perhaps to the key's new owner.
 *
 * If the silo is out of membership — lease expired or evicted — for longer
 * than `rejoinTimeoutMs`, it gives up: the silo stops and says so (`praas
 * start` then exits with code 3 so that a supervisor restarts it).
 */
import {
  type MembershipView,
  PraasError,
  type RetryPolicy,
  retryDelay,
  SiloUnavailableError,
  type TimerHandle,
} from "@praas/core/internal";
import type { Activation } from "../activation.js";
import type { Call } from "../call.js";
import type { ResolvedClusterOptions } from "./config.js";
import { InboundCall } from "./inbound-call.js";
import { type ClusterHost, ClusterNode, type NodeEvents } from "./node.js";

/** What the silo hears about its membership, beyond what one incarnation needs. */
export interface SiloClusterHost extends ClusterHost {
  /** Membership was lost; activations are being dropped unsaved and a rejoin follows. */
  evicted(reason: string): void;
  /** Take `a` out of the activation table now (it may still be finishing a turn). */
  forget(a: Activation): void;
  /** A new incarnation joined and serves. */
  rejoined(siloId: string, previousId: string): void;
  /**
   * The lease ran out: peers may take over this silo's keys from now on, so
   * store writes in flight must be abandoned (none may land later).
   */
  leaseLost(): void;
  /** Not back in the cluster within rejoinTimeoutMs: the silo must stop. */
  gaveUp(error: MembershipLostError): void;
}

/** The silo could not get back into its cluster within `rejoinTimeoutMs`. */
export class MembershipLostError extends PraasError {
  constructor(message: string, cause?: unknown) {
    super("MEMBERSHIP_LOST", message, { cause });
  }
}

/** What this silo is to its cluster now, for `clusterView()`. */
export interface SelfStatus {
  readonly id: string;
  readonly address: string | undefined;
  readonly status: "active" | "joining" | "leaving" | "dead";
}

/** Pause between rejoin attempts: 100 ms, doubling, at most 2 s (a stop ends it early). */
const REJOIN_BACKOFF: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 2_000, jitter: "none" };
/** Longest a call waits for the lease to come back, or for a rejoin, before it is refused. */
export const PARK_LIMIT_MS = 3_000;
/** Calls parked at most; beyond, new ones are refused at once. */
const MAX_PARKED = 100_000;

export class Cluster {
  readonly #host: SiloClusterHost;
  readonly #options: ResolvedClusterOptions;
  readonly #baseId: string;
  #incarnation = 0;
  #node: ClusterNode | undefined;
  /** The last incarnation's id, address and view, shown while rejoining. */
  #lastId: string;
  #lastAddress: string | undefined;
  #lastView: MembershipView = { version: 0, silos: [] };
  #rejoinReason = "";
  #rejoining: Promise<void> | undefined;
  #lastError: unknown;
  /** Ends the pause between two rejoin attempts early (stop). */
  #wake: (() => void) | undefined;
  #watchdog: TimerHandle | undefined;
  /** Calls waiting for the lease to come back or for a rejoin, oldest first, with when they came. */
  #parked: { readonly call: Call; readonly at: number }[] = [];
  #parkTimer: TimerHandle | undefined;
  #stopping = false;
  #gaveUp = false;
  /** The silo's clock is the lease clock: a time the silo read already serves the check. */
  readonly #sameClock: boolean;
  /** The error while rejoining (one per eviction). */
  #rejoinError: SiloUnavailableError | undefined;

  private constructor(host: SiloClusterHost, options: ResolvedClusterOptions, baseId: string) {
    this.#host = host;
    this.#options = options;
    this.#sameClock = host.clock === options.membership.clock;
    this.#baseId = baseId;
    this.#lastId = baseId;
  }

  /** Join the cluster as the first incarnation, with id `baseId`. */
  static async start(host: SiloClusterHost, options: ResolvedClusterOptions, baseId: string): Promise<Cluster> {
    const id = options.inProcess?.siloId ?? baseId;
    const cluster = new Cluster(host, options, id);
    cluster.#node = await ClusterNode.start(host, options, id, cluster.#eventsOf(id));
    return cluster;
  }

  /** Id of the current incarnation (the last one while rejoining). */
  get siloId(): string {
    return this.#node?.selfId ?? this.#lastId;
  }

  /** 0 for the first incarnation, +1 for each rejoin attempt. */
  get incarnation(): number {
    return this.#incarnation;
  }

  get address(): string | undefined {
    return this.#node?.address ?? this.#lastAddress;
  }

  get view(): MembershipView {
    return this.#node?.view ?? this.#lastView;
  }

  /** This silo as the cluster sees it: "dead" while it rejoins. */
  self(): SelfStatus {
    const node = this.#node;
    if (node === undefined) return { id: this.#lastId, address: this.#lastAddress, status: "dead" };
    const entry = node.view.silos.find((s) => s.id === node.selfId);
    return { id: node.selfId, address: node.address, status: entry?.status ?? "joining" };
  }

  /**
   * Undefined while this silo may serve the keys it owns; else why not (a
   * retryable error, shared by the calls that see it: copy it to hand it on).
   * `now`: the silo clock's time, if the caller read it already.
   */
  servingError(now?: number): PraasError | undefined {
    const node = this.#node;
    if (node !== undefined) return node.servingError(this.#sameClock ? now : undefined);
    this.#rejoinError ??= new SiloUnavailableError(
      `Silo ${this.#lastId} is not serving: it lost its cluster membership (${this.#rejoinReason}) and is rejoining; send the call again`,
    );
    return this.#rejoinError;
  }

  /**
   * May `call` be served here now? True: go ahead. False: it was parked until
   * the lease is back or the silo has rejoined (see above), or refused.
   */
  admit(call: Call, now?: number): boolean {
    const error = this.servingError(now);
    if (error === undefined) return true;
    this.#parkOrRefuse(call, error);
    return false;
  }

  /** Ask peer `siloId` a silo request (silo-request.ts); refused while this silo rejoins. */
  ask(siloId: string, method: string, args: readonly unknown[], timeoutMs: number): Promise<unknown> {
    return this.#node?.ask(siloId, method, args, timeoutMs) ?? Promise.reject(this.servingError());
  }

  owns(idString: string): boolean {
    return this.#node?.owns(idString) === true;
  }

  /**
   * May a fresh activation for `call` start here? False: it waits for the
   * previous owners of keys this silo just gained to let go (handover.ts), and
   * is dispatched again then (or refused, not run).
   */
  mayActivate(call: Call): boolean {
    const node = this.#node;
    return node === undefined || node.mayActivate(call, refuse);
  }

  /** True when the call went elsewhere (or, while rejoining, was parked or refused). */
  routeAway(call: Call): boolean {
    const node = this.#node;
    if (node !== undefined) return node.routeAway(call);
    this.#parkOrRefuse(call, this.servingError() as PraasError);
    return true;
  }

  #parkOrRefuse(call: Call, error: PraasError): void {
    if (this.#stopping || this.#gaveUp || this.#parked.length >= MAX_PARKED) {
      refuse(call, error);
      return;
    }
    this.#parked.push({ call, at: this.#options.membership.clock.now() });
    if (this.#parkTimer === undefined) this.#armParkTimer();
  }

  /** Route every parked call again (the lease is back, a new incarnation serves, or the silo drains). */
  #releaseParked(): void {
    this.#parkTimer?.cancel();
    this.#parkTimer = undefined;
    for (const { call } of this.#parked.splice(0)) if (!call.done) this.#host.dispatch(call);
  }

  /** Refuse the calls parked for longer than PARK_LIMIT_MS; re-arm for the next. */
  #armParkTimer(): void {
    const clock = this.#options.membership.clock;
    const oldest = this.#parked[0];
    if (oldest === undefined) return;
    this.#parkTimer = clock.setTimeout(
      () => {
        this.#parkTimer = undefined;
        const now = clock.now();
        const error = this.servingError();
        while (this.#parked.length > 0 && now - (this.#parked[0] as { at: number }).at >= PARK_LIMIT_MS) {
          const { call } = this.#parked.shift() as { call: Call };
          if (error === undefined) this.#host.dispatch(call);
          else refuse(call, error);
        }
        this.#armParkTimer();
      },
      Math.max(1, oldest.at + PARK_LIMIT_MS - clock.now()),
      true,
    );
  }

  /** Step 1 of a graceful stop; a rejoin under way is abandoned. */
  async beginStop(): Promise<void> {
    this.#stopping = true;
    this.#watchdog?.cancel();
    this.#wake?.();
    // Parked calls go where they are served now (a draining silo forwards them), or are refused.
    this.#releaseParked();
    if (this.#rejoining !== undefined) {
      // A join waiting for membership gives up when membership closes.
      await this.#options.membership.close().catch((err: unknown) => this.#host.report("membership close", err));
      await this.#rejoining;
    }
    await this.#node?.beginStop();
  }

  /** Steps 3–5 of a graceful stop (see node.ts). */
  async finishStop(): Promise<void> {
    if (this.#node !== undefined) await this.#node.finishStop();
    else await this.#options.membership.close().catch((err: unknown) => this.#host.report("membership close", err));
  }

  #eventsOf(id: string): NodeEvents {
    return {
      evicted: (reason) => {
        if (this.#node?.selfId === id) this.#evicted(this.#node, reason);
      },
      lease: (held) => {
        if (this.#node?.selfId !== id) return;
        if (held) {
          this.#stopWatchdog();
          // Not from here: the renewal may be noticed in the middle of routing another call.
          queueMicrotask(() => this.#releaseParked());
        } else {
          this.#host.leaseLost();
          this.#startWatchdog(`its membership lease expired and was not renewed`);
        }
      },
    };
  }

  #evicted(node: ClusterNode, reason: string): void {
    // Usually done when the lease ran out; here too, in case the eviction is heard first (a
    // process resumed after a freeze longer than the lease sees both at once).
    this.#host.leaseLost();
    const dropped = this.#drop();
    // Calls from peers cannot wait for the new incarnation: their connections end with this one.
    const refusal = new SiloUnavailableError(`Silo ${node.selfId} lost its cluster membership (${reason})`);
    this.#parked = this.#parked.filter(({ call }) => !(call instanceof InboundCall && refuse(call, refusal)));
    this.#lastId = node.selfId;
    this.#lastAddress = node.address;
    this.#lastView = markDead(node.view, node.selfId);
    this.#rejoinReason = reason;
    this.#rejoinError = undefined;
    this.#node = undefined;
    this.#host.log(
      "warn",
      `silo ${node.selfId} lost its membership of cluster ${this.#options.name}: ${reason}. Not serving; dropped ${dropped} activation(s) without saving (another silo may own their keys now)${this.#options.rejoinTimeoutMs === 0 ? "" : "; rejoining as a new member"}`,
    );
    this.#host.evicted(reason);
    if (this.#options.rejoinTimeoutMs === 0) {
      // Configured not to rejoin: stop now.
      void node.shutDown().catch((err: unknown) => this.#host.report("close the evicted incarnation", err));
      this.#giveUp(`it was evicted (${reason})`, 0);
      return;
    }
    this.#startWatchdog(`it was evicted (${reason})`);
    this.#rejoining = this.#rejoin(node).finally(() => {
      this.#rejoining = undefined;
    });
  }

  /** Drop every activation without saving; calls queued on them fail (retryable). */
  #drop(): number {
    let dropped = 0;
    for (const a of [...this.#host.activations()]) {
      if (a.status === "deactivated") continue;
      dropped++;
      // Stale: it must never write again, whatever its deactivation does.
      a.stale = true;
      a.deactivate("lost").catch((err: unknown) => this.#host.report(`drop ${a.idString}`, err));
      // Out of the table at once: a turn that never ends must not hold the key against the next incarnation.
      this.#host.forget(a);
    }
    return dropped;
  }

  async #rejoin(old: ClusterNode): Promise<void> {
    const started = performance.now();
    try {
      await old.shutDown();
    } catch (err) {
      this.#host.report("close the evicted incarnation", err);
    }
    const clock = this.#options.membership.clock;
    for (let attempt = 1; !this.#stopping && !this.#gaveUp; attempt++) {
      this.#incarnation++;
      const id = `${this.#baseId}.${this.#incarnation}`;
      let node: ClusterNode;
      try {
        node = await ClusterNode.start(this.#host, this.#options, id, this.#eventsOf(id));
      } catch (err) {
        this.#lastError = err;
        if (this.#stopping || this.#gaveUp) return;
        const pause = retryDelay(REJOIN_BACKOFF, attempt);
        await new Promise<void>((resolve) => {
          const timer = clock.setTimeout(resolve, pause, true);
          this.#wake = () => {
            timer.cancel();
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      if (this.#stopping || this.#gaveUp) {
        // Joined after all: leave again at once.
        await node.beginStop();
        await node.finishStop();
        return;
      }
      this.#node = node;
      this.#stopWatchdog();
      this.#releaseParked();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      this.#host.log(
        "info",
        `silo ${old.selfId} rejoined cluster ${this.#options.name} as ${id} after ${seconds} s; serving again`,
      );
      this.#host.rejoined(id, old.selfId);
      return;
    }
  }

  #startWatchdog(why: string): void {
    const limit = this.#options.rejoinTimeoutMs;
    if (limit === undefined || limit === 0 || this.#watchdog !== undefined || this.#stopping || this.#gaveUp) return;
    this.#watchdog = this.#options.membership.clock.setTimeout(
      () => {
        this.#watchdog = undefined;
        this.#giveUp(why, limit);
      },
      limit,
      true,
    );
  }

  #stopWatchdog(): void {
    this.#watchdog?.cancel();
    this.#watchdog = undefined;
  }

  #giveUp(why: string, limit: number): void {
    if (this.#stopping || this.#gaveUp) return;
    this.#gaveUp = true;
    const last = this.#lastError instanceof Error ? `; last attempt: ${this.#lastError.message.split("\n")[0]}` : "";
    const error = new MembershipLostError(
      limit === 0
        ? `Silo ${this.siloId} left cluster ${this.#options.name} for good after ${why} (rejoinTimeoutMs is 0)`
        : `Silo ${this.siloId} could not get back into cluster ${this.#options.name} within ${limit} ms after ${why}${last}`,
      this.#lastError,
    );
    this.#host.log("error", `${error.message}; stopping`);
    for (const { call } of this.#parked.splice(0)) refuse(call, new SiloUnavailableError(error.message));
    this.#host.gaveUp(error);
  }
}

/** `view` with `id` shown as dead (added if missing): how the cluster sees an evicted silo. */
function markDead(view: MembershipView, id: string): MembershipView {
  const others = view.silos.filter((s) => s.id !== id);
  const mine = view.silos.find((s) => s.id === id);
  const dead = { id, address: mine?.address ?? "", startedAt: mine?.startedAt ?? 0, status: "dead" as const };
  return { version: view.version, silos: [...others, dead].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** Fail a call that did not run (retryable); one a peer forwarded is marked "not run" so its origin resends it. */
function refuse(call: Call, error: PraasError): true {
  if (call instanceof InboundCall) call.notRun = true;
  // A copy: the error is shared by every call refused for the same reason.
  call.reject(new SiloUnavailableError(error.message));
  return true;
}
