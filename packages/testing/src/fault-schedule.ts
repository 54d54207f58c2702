/**
 * Fault schedules drawn from a seed: a list of episodes — a fault, how long
 * it lasts, its repair — that `playSchedule` applies to a TestCluster on the
 * cluster's clock while a workload runs. The same seed gives the same
 * schedule; `describeSchedule` prints it next to the seed when a check fails.
 *
 * Episodes follow each other (with a quiet gap between), so at most one silo
 * is down at a time and a majority always remains: the schedule tests
 * recovery from each fault, not total loss.
 */

import type { StoreFaults } from "./faulty-store.js";
import { Prng } from "./prng.js";
import type { LinkFaults } from "./sim-network.js";
import type { TestCluster } from "./test-cluster.js";

export type FaultKind =
  /** Crash a silo (no save, no goodbye), restart it at the end of the episode. */
  | "crash"
  /** Pause a silo (GC pause, stopped VM), resume it. */
  | "pause"
  /** Cut a silo off from its peers and from membership, heal. */
  | "isolate"
  /** Split the silos into two groups (membership still reaches all), heal. */
  | "partition"
  /** Delay and reorder frames between two silos, and reset their connection now and then. */
  | "link"
  /** Lose frames between two silos silently (TCP never does: calls end by their deadlines). Not drawn by default. */
  | "drop"
  /** Duplicate frames between two silos (TCP never does: calls may run twice). Not drawn by default. */
  | "duplicate"
  /** Storage errors, latency and conflicting writes from elsewhere. */
  | "storage"
  /** The cluster's clock jumps ahead. */
  | "jump";

export const DEFAULT_FAULT_KINDS: readonly FaultKind[] = [
  "crash",
  "pause",
  "isolate",
  "partition",
  "link",
  "storage",
  "jump",
];

/** One episode: at `at` (ms after the start of play) the fault, at `at + durationMs` its repair. */
export interface FaultEpisode {
  readonly at: number;
  readonly durationMs: number;
  readonly kind: FaultKind;
  /** The silo(s) hit: one for crash/pause/isolate, two for link/duplicate, one group for partition. */
  readonly silos: readonly number[];
  readonly link?: LinkFaults;
  readonly storage?: StoreFaults;
}

export interface FaultScheduleOptions {
  readonly silos: number;
  /** How long the schedule runs, in ms of cluster time. */
  readonly durationMs: number;
  readonly kinds?: readonly FaultKind[];
  /** Longest episode (default 6 s: past the default 2 s failure detection). */
  readonly maxEpisodeMs?: number;
  /** Quiet time between episodes, at most (default 2 s). */
  readonly maxGapMs?: number;
}

/** A schedule drawn from `seed` (or a generator). */
export function faultSchedule(seed: number | Prng, options: FaultScheduleOptions): FaultEpisode[] {
  const prng = typeof seed === "number" ? new Prng(seed) : seed;
  const kinds = (options.kinds ?? DEFAULT_FAULT_KINDS).filter(
    (k) => options.silos >= 2 || !["isolate", "partition", "link", "drop", "duplicate"].includes(k),
  );
  const maxEpisode = options.maxEpisodeMs ?? 6_000;
  const maxGap = options.maxGapMs ?? 2_000;
  const n = options.silos;
  const out: FaultEpisode[] = [];
  let t = prng.between(0, maxGap);
  while (kinds.length > 0) {
    const kind = prng.pick(kinds);
    const durationMs = prng.between(Math.min(500, maxEpisode), maxEpisode);
    if (t + durationMs > options.durationMs) break;
    const one = prng.int(n);
    const two = (one + 1 + prng.int(Math.max(1, n - 1))) % n;
    let episode: FaultEpisode;
    switch (kind) {
      case "crash":
      case "pause":
      case "isolate":
        episode = { at: t, durationMs, kind, silos: [one] };
        break;
      case "partition": {
        const group = [...Array(n).keys()].filter(() => prng.chance(0.5));
        const side = group.length === 0 || group.length === n ? [one] : group;
        episode = { at: t, durationMs, kind, silos: side };
        break;
      }
      case "link":
        episode = {
          at: t,
          durationMs,
          kind,
          silos: [one, two],
          link: {
            delayMs: prng.between(0, 200),
            jitterMs: prng.between(0, 100),
            resetRate: prng.pick([0, 0.01, 0.05]),
            reorder: prng.chance(0.5),
          },
        };
        break;
      case "drop":
        episode = { at: t, durationMs, kind, silos: [one, two], link: { dropRate: prng.pick([0.05, 0.2]) } };
        break;
      case "duplicate":
        episode = { at: t, durationMs, kind, silos: [one, two], link: { duplicateRate: prng.pick([0.05, 0.2]) } };
        break;
      case "storage":
        episode = {
          at: t,
          durationMs,
          kind,
          silos: [],
          storage: {
            errorRate: prng.pick([0, 0.05, 0.2]),
            latencyMs: prng.between(0, 100),
            jitterMs: prng.between(0, 50),
            conflictRate: prng.pick([0, 0.05, 0.2]),
          },
        };
        break;
      case "jump":
        episode = { at: t, durationMs: prng.between(100, 5_000), kind, silos: [] };
        break;
    }
    out.push(episode);
    t += (kind === "jump" ? 0 : durationMs) + prng.between(0, maxGap);
  }
  return out;
}

/** One line per episode, for failure messages. */
export function describeSchedule(episodes: readonly FaultEpisode[]): string {
  return episodes
    .map((e) => {
      const extra = e.link ?? e.storage;
      return `  +${e.at} ms ${e.kind}${e.silos.length > 0 ? ` [${e.silos.join(",")}]` : ""} for ${e.durationMs} ms${extra === undefined ? "" : ` ${JSON.stringify(extra)}`}`;
    })
    .join("\n");
}

/**
 * Apply `episodes` to `cluster` on its clock (from now), each fault then its
 * repair. Resolves after the last repair; crashed silos are restarted.
 */
export async function playSchedule(cluster: TestCluster, episodes: readonly FaultEpisode[]): Promise<void> {
  const start = cluster.clock.now();
  const until = async (t: number): Promise<void> => {
    const wait = start + t - cluster.clock.now();
    if (wait > 0) await cluster.advance(wait);
  };
  for (const e of episodes) {
    await until(e.at);
    const [a = 0, b = 0] = e.silos;
    switch (e.kind) {
      case "crash":
        if (cluster.running().length < 2 || cluster.stateOf(a) !== "running") continue;
        await cluster.crash(a);
        await until(e.at + e.durationMs);
        await cluster.restart(a);
        break;
      case "pause":
        if (cluster.running().length < 2 || cluster.stateOf(a) !== "running") continue;
        cluster.pause(a);
        await until(e.at + e.durationMs);
        cluster.resume(a);
        break;
      case "isolate":
        cluster.isolate(a);
        await until(e.at + e.durationMs);
        cluster.heal();
        break;
      case "partition": {
        const other = [...Array(cluster.size).keys()].filter((i) => !e.silos.includes(i));
        cluster.partition(e.silos, other);
        await until(e.at + e.durationMs);
        cluster.heal();
        break;
      }
      case "link":
      case "drop":
      case "duplicate":
        cluster.link(a, b, e.link ?? {});
        await until(e.at + e.durationMs);
        cluster.link(a, b, {});
        break;
      case "storage":
        cluster.storageFaults(e.storage ?? {});
        await until(e.at + e.durationMs);
        cluster.storageFaults({});
        break;
      case "jump":
        await cluster.jumpClock(e.durationMs);
        break;
    }
  }
}
