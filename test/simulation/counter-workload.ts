/**
 * The seeded campaign's workload: clients adding to and reading counters
 * through random silos of a TestCluster while a fault schedule plays, every
 * call recorded in a History; then the final values, read through every silo
 * and straight from the store.
 */

import { Actor } from "@praas/silo";
import {
  checkCounterLinearizable,
  checkHistory,
  describeOp,
  type FinalObservation,
  type History,
  type Prng,
  type TestCluster,
} from "@praas/testing";

interface CounterState {
  value: number;
}

/** A counter whose every turn is stored before the call is acknowledged. */
export class SimCounter extends Actor<CounterState> {
  static persistence = "turn" as const;
  /** Short: keys are swapped out and reactivated during the run. */
  static idleTimeoutMs = 3_000;

  static initialState(): CounterState {
    return { value: 0 };
  }

  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }

  get(): number {
    return this.state.value;
  }
}

/**
 * The same counter with the default persistence (stored when swapped out):
 * a crash loses what it acknowledged since — the campaign's checks must say so.
 */
export class LazySimCounter extends Actor<CounterState> {
  static idleTimeoutMs = 60_000;

  static initialState(): CounterState {
    return { value: 0 };
  }

  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }

  get(): number {
    return this.state.value;
  }
}

type CounterClass = typeof SimCounter | typeof LazySimCounter;

export interface WorkloadOptions {
  readonly keys: readonly string[];
  readonly clients: number;
  readonly durationMs: number;
  readonly prng: Prng;
  readonly actor?: CounterClass;
}

/** Run the clients until `durationMs` of cluster time has passed. */
export async function runCounterClients(cluster: TestCluster, history: History, o: WorkloadOptions): Promise<void> {
  const end = cluster.clock.now() + o.durationMs;
  const clients = Array.from({ length: o.clients }, () => o.prng.fork());
  await Promise.all(
    clients.map(async (rnd) => {
      while (cluster.clock.now() < end) {
        const key = rnd.pick(o.keys);
        const ref = cluster.ref(o.actor ?? SimCounter, key);
        if (rnd.chance(0.7)) {
          const n = rnd.between(1, 5);
          const call = history.begin(key, "add", { n });
          await ref.add(n).then(call.ok, (err: { code?: string }) => call.fail(err.code ?? "ERROR"));
        } else {
          const call = history.begin(key, "read");
          await ref.get().then(call.ok, (err: { code?: string }) => call.fail(err.code ?? "ERROR"));
        }
        await cluster.advance(rnd.between(0, 300));
      }
    }),
  );
}

/** Read every key through every running silo (retrying refusals) and from the store. */
export async function finalObservations(
  cluster: TestCluster,
  history: History,
  keys: readonly string[],
  actor: CounterClass = SimCounter,
): Promise<FinalObservation[]> {
  const out: FinalObservation[] = [];
  for (const key of keys) {
    const reads: { via: string; value: number }[] = [];
    for (const i of cluster.running()) {
      for (let attempt = 0; attempt < 20; attempt++) {
        const call = history.begin(key, "read", { via: `s${i}` });
        try {
          const value = await cluster.ref(actor, key, { via: i }).get();
          call.ok(value);
          reads.push({ via: `s${i}`, value });
          break;
        } catch (err) {
          call.fail((err as { code?: string }).code ?? "ERROR");
          await cluster.advance(500);
        }
      }
    }
    const stored = (await cluster.stored(actor, key)) as CounterState | undefined;
    out.push({ key, stored: stored?.value ?? 0, reads });
  }
  return out;
}

/** Every problem found in the history, one line each (empty: none). */
export function judge(history: History, finals: readonly FinalObservation[], unchecked: string[] = []): string[] {
  const problems: string[] = [];
  const result = checkHistory(history, finals);
  for (const v of result.violations) {
    problems.push(
      `${v.kind} on ${v.key}: ${v.message}${v.ops.length > 0 ? ` (${v.ops.map(describeOp).join("; ")})` : ""}`,
    );
  }
  const stored = new Map(finals.map((f) => [f.key, f.stored ?? 0]));
  for (const [key, r] of checkCounterLinearizable(history.ops, stored)) {
    if (r.verdict === "unknown") unchecked.push(key);
    if (r.verdict === "violation") {
      problems.push(`not linearizable on ${key}: ${r.longestPrefix} ops ordered, then stuck at ${r.stuck.join("; ")}`);
    }
  }
  return problems;
}
