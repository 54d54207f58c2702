/**
 * The membership provider of a silo process started by `praas start
 * --silos N` without Redis: the parent process keeps the table; this side
 * joins, heartbeats, and hears views and evictions over the IPC channel.
 *
 * The lease follows the Redis provider's rule: an acknowledged heartbeat
 * renews it to (when that heartbeat was *sent*) + deadAfterMs − margin. The
 * parent declares a silo dead only when it has received nothing from it for
 * more than deadAfterMs, counted from receipt, which is later than sending —
 * so the lease always ends before anyone can have declared this silo dead.
 */
import {
  type Clock,
  InvalidArgumentError,
  leaseMarginMs,
  MembershipListeners,
  type MembershipProvider,
  type MembershipView,
  type SiloInfo,
  systemClock,
  type TimerHandle,
} from "@praas/core/internal";
import type { LocalTimings, ToChild, ToParent } from "./protocol.js";

/** The IPC channel as this module needs it (the child's `process`, or a test double). */
export interface ParentChannel {
  send(message: ToParent): void;
  onMessage(listener: (message: ToChild) => void): void;
}

type State = "new" | "joining" | "joined" | "left" | "evicted" | "closed";

export class IpcMembership implements MembershipProvider {
  readonly clock: Clock = systemClock;
  readonly #channel: ParentChannel;
  readonly #timings: LocalTimings;
  readonly #margin: number;
  /**
   * A listener that throws does not keep the others from hearing; its error
   * is rethrown on its own tick, so it still ends the silo process as an
   * uncaught exception would (the listeners are the silo's own).
   */
  readonly #listeners = new MembershipListeners((error) =>
    queueMicrotask(() => {
      throw error;
    }),
  );
  /** Send time of each heartbeat not yet acknowledged, by sequence number. */
  readonly #beats = new Map<number, number>();
  #state: State = "new";
  #self: string | undefined;
  #view: MembershipView = { version: 0, silos: [] };
  #leaseUntil = Number.NEGATIVE_INFINITY;
  #seq = 0;
  #timer: TimerHandle | undefined;
  #pendingJoin: { resolve: (v: MembershipView) => void; reject: (e: Error) => void } | undefined;
  #pendingLeave: (() => void) | undefined;
  /**
   * A view that arrived while joining. Node delivers the messages of one read
   * of the channel in one go, so "joined" and the next "view" can arrive before
   * join() has resumed: the view is kept and delivered after join() returns.
   */
  #early: MembershipView | undefined;

  constructor(channel: ParentChannel, timings: LocalTimings) {
    this.#channel = channel;
    this.#timings = timings;
    this.#margin = leaseMarginMs(timings.deadAfterMs);
    channel.onMessage((m) => this.#receive(m));
  }

  async join(self: Omit<SiloInfo, "status">): Promise<MembershipView> {
    if (this.#state !== "new" && this.#state !== "evicted") {
      throw new InvalidArgumentError(`local membership: join() on a provider that is ${this.#state}`);
    }
    this.#state = "joining";
    const sentAt = this.clock.now();
    const view = await new Promise<MembershipView>((resolve, reject) => {
      this.#pendingJoin = { resolve, reject };
      this.#channel.send({ t: "join", self });
    }).catch((err: unknown) => {
      this.#state = "evicted";
      throw err;
    });
    this.#self = self.id;
    this.#state = "joined";
    this.#view = view;
    this.#leaseUntil = sentAt + this.#timings.deadAfterMs - this.#margin;
    this.#schedule();
    const early = this.#early;
    this.#early = undefined;
    // After the caller has the join's view (its continuation runs before this).
    if (early !== undefined) setImmediate(() => this.#deliver(early));
    return view;
  }

  view(): MembershipView {
    return this.#view;
  }

  onChange(listener: (view: MembershipView) => void): () => void {
    return this.#listeners.onChange(listener);
  }

  onEvicted(listener: (reason: string) => void): () => void {
    return this.#listeners.onEvicted(listener);
  }

  leaseValidUntil(): number {
    return this.#leaseUntil;
  }

  async leave(): Promise<void> {
    if (this.#state !== "joined" || this.#self === undefined) return;
    const id = this.#self;
    this.#stop("left");
    await new Promise<void>((resolve) => {
      this.#pendingLeave = resolve;
      this.#channel.send({ t: "leave", id });
    });
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#stop("closed");
    this.#pendingJoin?.reject(new InvalidArgumentError("local membership: closed while joining"));
    this.#pendingJoin = undefined;
    this.#pendingLeave?.();
  }

  #schedule(): void {
    this.#timer = this.clock.setTimeout(() => this.#beat(), this.#timings.heartbeatMs, true);
  }

  #beat(): void {
    if (this.#state !== "joined" || this.#self === undefined) return;
    const seq = ++this.#seq;
    this.#beats.set(seq, this.clock.now());
    // Beats never acknowledged (the parent is stalled) must not pile up.
    if (this.#beats.size > 64) this.#beats.delete(this.#beats.keys().next().value as number);
    this.#channel.send({ t: "beat", id: this.#self, seq });
    this.#schedule();
  }

  #receive(m: ToChild): void {
    switch (m.t) {
      case "joined":
        this.#pendingJoin?.resolve(m.view);
        this.#pendingJoin = undefined;
        return;
      case "join-failed":
        this.#pendingJoin?.reject(new InvalidArgumentError(m.message));
        this.#pendingJoin = undefined;
        return;
      case "ack": {
        const sentAt = this.#beats.get(m.seq);
        if (sentAt === undefined || this.#state !== "joined") return;
        for (const seq of this.#beats.keys()) {
          if (seq > m.seq) break;
          this.#beats.delete(seq);
        }
        this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.#timings.deadAfterMs - this.#margin);
        return;
      }
      case "view":
        if (this.#state === "joining") {
          if (m.view.version > (this.#early?.version ?? 0)) this.#early = m.view;
        } else this.#deliver(m.view);
        return;
      case "evicted":
        this.#evict(m.reason);
        return;
      case "left":
        this.#pendingLeave?.();
        this.#pendingLeave = undefined;
        return;
    }
  }

  #deliver(view: MembershipView): void {
    if (this.#state !== "joined" || view.version <= this.#view.version) return;
    this.#view = view;
    const me = view.silos.find((s) => s.id === this.#self);
    if (me === undefined || me.status === "dead") {
      this.#evict(`the coordinating praas process declared silo ${this.#self} ${me === undefined ? "gone" : "dead"}`);
      return;
    }
    this.#listeners.changed(view);
  }

  #evict(reason: string): void {
    if (this.#state !== "joined") return;
    this.#stop("evicted");
    this.#listeners.evicted(reason);
  }

  #stop(state: State): void {
    this.#state = state;
    this.#leaseUntil = Number.NEGATIVE_INFINITY;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#beats.clear();
  }
}
