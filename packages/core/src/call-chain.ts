/**
 * A call chain link: an activation ("Type/key") and the turn of it that made
 * the next call. Every call carries the links of the turns waiting on it, which
 * is how a call that would wait on its own chain (A→B→A) is caught at once.
 */
export type ChainLink = readonly [actor: string, turn: number];

export const EMPTY_CHAIN: readonly ChainLink[] = Object.freeze([]);

/** Longest chain accepted; a longer one is a runaway recursion between actors. */
export const MAX_CHAIN_LENGTH = 256;

/** The actors of a cycle: from `target`'s first appearance in `chain`, back to `target`. */
export function describeCycle(chain: readonly ChainLink[], target: string): string[] {
  const start = chain.findIndex((l) => l[0] === target);
  const actors = (start < 0 ? chain : chain.slice(start)).map((l) => l[0]);
  actors.push(target);
  return actors;
}

/** Links common to every chain (the only ones certainly behind a call made while several turns run). */
export function commonLinks(chains: readonly (readonly ChainLink[])[]): ChainLink[] {
  const [first, ...rest] = chains;
  if (first === undefined) return [];
  return first.filter((link) => rest.every((c) => c.some((l) => l[0] === link[0] && l[1] === link[1])));
}
