/**
 * Who owns which actor: the consistent-hash ring over the silos that may host
 * actors now. That is the view's active silos, minus peers that told us they
 * are draining (before membership says so) and minus this silo while it
 * drains, so calls go where they will be served.
 */
import { activeSilos, HashRing, type MembershipView } from "@praas/core/internal";

export class Placement {
  readonly selfId: string;
  #ring = new HashRing([]);

  constructor(selfId: string) {
    this.selfId = selfId;
  }

  get members(): readonly string[] {
    return this.#ring.members;
  }

  update(view: MembershipView, excluded: ReadonlySet<string>): void {
    const members = activeSilos(view)
      .map((s) => s.id)
      .filter((id) => !excluded.has(id));
    // Merging only the changed silos' points gives the same ring as a fresh build, cheaper.
    this.#ring = this.#ring.withMembers(members);
  }

  /** Owner of the actor "Type/key", or undefined when no silo can host actors. */
  owner(idString: string): string | undefined {
    return this.#ring.owner(idString);
  }

  owns(idString: string): boolean {
    return this.#ring.owner(idString) === this.selfId;
  }
}
