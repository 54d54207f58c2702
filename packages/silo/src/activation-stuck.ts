/**
 * Stuck-turn detection. A JavaScript turn cannot be cancelled, so a turn
 * still running a grace period after its call's deadline (or the call
 * timeout, for a timer callback) is declared stuck: reported, logged, and its
 * activation abandoned so the actor is served from a fresh one. One watch per
 * activation, made only when a turn first runs overdue, with one timer for
 * the overdue turn whose grace ends first.
 */
import { StuckTurnError, type TimerHandle } from "@praas/core/internal";
import type { AbandonedActivation, ActivationHost, ActivationStatus } from "./activation-host.js";
import type { ActivationTurn } from "./activation-turns.js";
import type { ActorTypeInfo } from "./registry.js";

/** What the stuck-turn watch needs from its activation. */
export interface StuckTurnHost {
  readonly idString: string;
  readonly info: ActorTypeInfo;
  readonly ctx: Pick<ActivationHost, "clock" | "stuckTurnGraceMs" | "report" | "log">;
  readonly status: ActivationStatus;
  readonly turns: { readonly running: readonly ActivationTurn[] };
  abandon(reason: "stuck"): Promise<AbandonedActivation>;
}

export class StuckTurnWatch {
  readonly #host: StuckTurnHost;
  #check: TimerHandle | undefined;
  /** Turns still running past their deadline, and since when (clock ms). */
  readonly #overdue = new Map<ActivationTurn, number>();

  constructor(host: StuckTurnHost) {
    this.#host = host;
  }

  /** `turn` outlived its deadline: if it is still running after the grace period, it is stuck. */
  add(turn: ActivationTurn): void {
    const { ctx } = this.#host;
    this.#overdue.set(turn, ctx.clock.now());
    if (this.#check === undefined) this.#arm(ctx.stuckTurnGraceMs);
  }

  /** The activation ended: nothing left to watch. */
  stop(): void {
    this.#check?.cancel();
    this.#check = undefined;
  }

  #arm(ms: number): void {
    this.#check = this.#host.ctx.clock.setTimeout(() => this.#checkOverdue(), ms, true);
  }

  #checkOverdue(): void {
    this.#check = undefined;
    const host = this.#host;
    if (host.status === "deactivated") return;
    const overdue = this.#overdue;
    const grace = host.ctx.stuckTurnGraceMs;
    const now = host.ctx.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [turn, since] of overdue) {
      if (!host.turns.running.includes(turn)) overdue.delete(turn);
      else if (now - since >= grace) {
        this.#declareStuck(turn, grace);
        return;
      } else next = Math.min(next, since + grace);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next - now);
  }

  #declareStuck(turn: ActivationTurn, overrunMs: number): void {
    const { ctx, idString, info } = this.#host;
    const err = new StuckTurnError(idString, turn.method, overrunMs);
    ctx.report("stuck", idString, err);
    ctx.log(
      "error",
      `${err.message}; abandoning this activation` +
        (info.persistence === "deactivate" ? " (its state is saved as it is now)" : "") +
        " and serving the actor from a fresh one",
      idString,
      err,
    );
    void this.#host.abandon("stuck");
  }
}
