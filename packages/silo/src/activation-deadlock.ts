/**
 * Call chains and deadlock detection. Every call carries the chain of turns
 * waiting on it (actor and turn id); a call that would have to wait for a turn
 * already in its own chain can never run — that turn waits for the call — so
 * it is refused at once with DEADLOCK instead of timing out. Pure functions
 * over the running turns, so the check costs no allocation on the call path.
 */
import { type ChainLink, commonLinks, DeadlockError, describeCycle, EMPTY_CHAIN } from "@praas/core/internal";
import type { Call } from "./call.js";

/** What a turn shows of itself to the chain logic. */
export interface ChainedTurn {
  readonly turnId: number;
  readonly chain: readonly ChainLink[];
}

/** The chain an outgoing call from the activation `self` carries, made while `turns` run. */
export function outgoingChain(turns: readonly ChainedTurn[], self: string): readonly ChainLink[] {
  if (turns.length === 1) {
    const t = turns[0] as ChainedTurn;
    return [...t.chain, [self, t.turnId]];
  }
  if (turns.length === 0) return EMPTY_CHAIN;
  // Several turns interleave and we cannot tell which one is calling: keep only
  // the links they all share, so a deadlock is never reported falsely.
  return commonLinks(turns.map((t) => t.chain));
}

/**
 * Reject `call` with DeadlockError if it would wait on the turn of `self` that
 * is waiting for it (the ordinary turn in progress in `mailbox`); true if so.
 */
export function rejectIfDeadlock(
  call: Call,
  mailbox: { readonly current: ChainedTurn | undefined },
  self: string,
): boolean {
  if (call.interleave || call.chain.length === 0) return false;
  const current = mailbox.current;
  if (current === undefined) return false;
  for (const [actor, turn] of call.chain) {
    if (actor === self && turn === current.turnId) {
      call.reject(new DeadlockError(describeCycle(call.chain, self)));
      return true;
    }
  }
  return false;
}
