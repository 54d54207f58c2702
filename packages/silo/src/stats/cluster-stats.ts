/**
 * The gateway's side of the dashboard: asks every live silo for its snapshot
 * (silo requests, in parallel, each bounded by ASK_TIMEOUT_MS), merges them,
 * and serves the result to any number of dashboards from one gathering per
 * GATHER_MS. A silo that does not answer is listed with the reason, and the
 * rest of the cluster is shown regardless.
 */
import { type ActorId, describeError } from "@praas/core/internal";
import type { Silo } from "../silo.js";
import { type AggregateInput, aggregate, type SiloAnswer } from "./aggregate.js";
import { ACTOR_REQUEST, SNAPSHOT_REQUEST } from "./collector.js";
import type { ActorDetails, ClusterSnapshot, SiloSnapshot } from "./snapshot.js";

const ASK_TIMEOUT_MS = 2_000;
/** Gatherings younger than this are reused (one per second serves every open dashboard). */
const GATHER_MS = 900;

interface Gathering {
  readonly at: number;
  readonly input: Promise<Omit<AggregateInput, "page" | "pageSize">>;
}

export class ClusterStats {
  readonly #silo: Silo;
  #last: Gathering | undefined;

  constructor(silo: Silo) {
    this.#silo = silo;
  }

  async snapshot(page: number, pageSize: number): Promise<ClusterSnapshot> {
    const now = Date.now();
    if (this.#last === undefined || now - this.#last.at >= GATHER_MS) {
      this.#last = { at: now, input: this.#gather() };
      // A failed gathering is not reused.
      this.#last.input.catch(() => {
        this.#last = undefined;
      });
    }
    return aggregate({ ...(await this.#last.input), page, pageSize });
  }

  async #gather(): Promise<Omit<AggregateInput, "page" | "pageSize">> {
    const view = this.#silo.clusterView({ perType: false });
    const answers = await Promise.all(
      view.silos.map(async (silo): Promise<SiloAnswer> => {
        if (silo.status === "dead") return { silo, unavailable: "dead" };
        try {
          const s = await this.#silo.askSilo(silo.id, SNAPSHOT_REQUEST, [], ASK_TIMEOUT_MS);
          if (!isSnapshot(s)) return { silo, unavailable: "answered with something that is not a snapshot" };
          return { silo, snapshot: s };
        } catch (err) {
          return { silo, unavailable: describeError(err).slice(0, 300) };
        }
      }),
    );
    return { self: view.self, membershipVersion: view.version, answers };
  }

  /**
   * Where an actor lives and what its silo knows of it. Activates nothing:
   * the owner answers where it is, then that silo gives the details.
   */
  async actor(id: ActorId): Promise<ActorDetails> {
    const where = await this.#silo.locate(id);
    let details: ActorDetails;
    try {
      details = (await this.#silo.askSilo(
        where.silo,
        ACTOR_REQUEST,
        [id.type, id.key],
        ASK_TIMEOUT_MS,
      )) as ActorDetails;
    } catch {
      // That silo serves no dashboard (or did not answer): what locate said is still true.
      details = { type: id.type, key: id.key, silo: where.silo, active: where.active };
    }
    if (details.active) return details;
    return { ...details, stored: (await this.#silo.store.load(id)) !== undefined };
  }
}

/** Enough of a check that a peer's answer can be merged without throwing. */
function isSnapshot(v: unknown): v is SiloSnapshot {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.id === "string" &&
    typeof s.windowMs === "number" &&
    typeof s.activations === "number" &&
    Array.isArray(s.calls) &&
    Array.isArray(s.busiest) &&
    Array.isArray(s.stuck) &&
    Array.isArray(s.bucketsS) &&
    typeof s.perType === "object" &&
    s.perType !== null &&
    typeof s.reminders === "object" &&
    s.reminders !== null
  );
}
