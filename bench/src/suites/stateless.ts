import { Actor, MemoryStateStore, Silo } from "@praas/silo";
import {
  batchSamples,
  interleavedRounds,
  median,
  opsPerSec,
  ratio,
  summarize,
  timeWindowed,
  warmUp,
} from "../stats.js";
import type { Suite } from "../suite.js";

/** PraaS "invoke without a pid": a stateless worker type. */
class NoopFunction extends Actor {
  static readonly stateless = true;
  noop(x: number): number {
    return x;
  }
}

/** The same no-op on a keyed actor: one activation, one mailbox. */
class NoopActor extends Actor {
  noop(x: number): number {
    return x;
  }
}

/** Stateless invocations/s vs keyed actor calls/s, in one run. */
export const stateless: Suite = {
  name: "stateless",
  description: "invocations/s of a no-op stateless function (silo.invoke) vs a keyed actor call",
  async run(ctx) {
    const quick = ctx.profile === "quick";
    const total = quick ? 200_000 : 1_000_000;
    const window = 1_000;
    const rounds = quick ? 3 : 5;
    const silo = await Silo.start({ actors: [NoopFunction, NoopActor], storage: new MemoryStateStore() });
    const keyed = silo.ref(NoopActor, "k");
    const invokeFn = (i: number) => silo.invoke(NoopFunction, "noop", i);
    const keyedFn = (i: number) => keyed.noop(i);
    await warmUp(invokeFn);
    await warmUp(keyedFn);
    ctx.log(`stateless: ${rounds} rounds of ${total} pipelined calls (window ${window})`);
    const pipelined = await interleavedRounds(rounds, {
      stateless: () => timeWindowed(total, window, invokeFn),
      keyed: () => timeWindowed(total, window, keyedFn),
    });
    const seq = await interleavedRounds(rounds, {
      stateless: () => batchSamples(200, 100, invokeFn),
      keyed: () => batchSamples(200, 100, keyedFn),
    });
    await silo.stop();
    const statelessRate = opsPerSec(total, median(pipelined.stateless));
    const keyedRate = opsPerSec(total, median(pipelined.keyed));
    const s = summarize(seq.stateless.flat());
    const k = summarize(seq.keyed.flat());
    return {
      tables: [
        {
          title: "No-op invocation on one silo",
          rows: [
            {
              call: "keyed actor (ref.noop)",
              "pipelined calls/s": Math.round(keyedRate),
              "seq p50 µs": k.p50 / 1e3,
              "seq p99 µs": k.p99 / 1e3,
              "× keyed": 1,
            },
            {
              call: "stateless function (silo.invoke)",
              "pipelined calls/s": Math.round(statelessRate),
              "seq p50 µs": s.p50 / 1e3,
              "seq p99 µs": s.p99 / 1e3,
              "× keyed": ratio(statelessRate, keyedRate),
            },
          ],
          notes: [
            `pipelined: ${total} calls, ${window} in flight; median of ${rounds} interleaved rounds`,
            "stateless spreads calls over up to maxWorkers activations (default 16) on the calling silo",
          ],
        },
      ],
      summary: {
        statelessCallsPerSec: Math.round(statelessRate),
        keyedCallsPerSec: Math.round(keyedRate),
        statelessVsKeyed: ratio(statelessRate, keyedRate),
      },
    };
  },
};
