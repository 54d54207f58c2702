import type { Metric } from "prom-client";

export const BUCKETS_S: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

interface Series {
  readonly labels: { readonly type: string; readonly method: string };
  count: number;
  sumS: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets: Float64Array;
  /** Failed calls by error code (the dashboard reads it; Prometheus has its own counter). */
  errors: Map<string, number> | undefined;
}

/** One type and method's totals since the silo started, as the dashboard samples them. */
export interface CallSeriesView {
  readonly type: string;
  readonly method: string;
  readonly count: number;
  /** Non-cumulative counts per bucket of BUCKETS_S; the last slot is +Inf. */
  readonly buckets: Float64Array;
  readonly errors: ReadonlyMap<string, number> | undefined;
}

interface Value {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

/**
 * A counter with labels, counted with a Map lookup and rendered when scraped
 * (prom-client's Counter hashes its label set on every increment).
 */
export class FastCounter<L extends string> {
  readonly #series = new Map<string, { labels: Record<L, string>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {}

  /** Add 1 for these label values (in the order of `labelNames`). */
  inc(...values: string[]): void {
    const k = values.join("\u0000");
    let s = this.#series.get(k);
    if (s === undefined) {
      const labels = {} as Record<L, string>;
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i] as string;
      });
      s = { labels, value: 0 };
      this.#series.set(k, s);
    }
    s.value++;
  }

  metric(): Metric {
    const m = {
      name: this.name,
      help: this.help,
      type: "counter",
      aggregator: "sum",
      get: async () => ({
        ...m,
        values: [...this.#series.values()].map((s) => ({ value: s.value, labels: s.labels })),
      }),
    };
    return m as unknown as Metric;
  }
}

/**
 * Calls and their latency per actor type and method, counted on the hot path
 * with plain arithmetic and rendered for Prometheus only when scraped.
 * prom-client's own Histogram hashes the label set on every observation,
 * which measured at about 2 µs per call; this costs a Map lookup and a short
 * bucket scan. The two metrics plug into a prom-client registry as its own do.
 */
export class CallMetrics {
  readonly #series = new Map<string, Series>();

  observe(type: string, method: string, durationMs: number, errorCode?: string): void {
    const k = `${type}\u0000${method}`;
    let s = this.#series.get(k);
    if (s === undefined) {
      s = {
        labels: { type, method },
        count: 0,
        sumS: 0,
        buckets: new Float64Array(BUCKETS_S.length + 1),
        errors: undefined,
      };
      this.#series.set(k, s);
    }
    const v = durationMs / 1000;
    s.count++;
    s.sumS += v;
    let i = 0;
    while (i < BUCKETS_S.length && v > (BUCKETS_S[i] as number)) i++;
    s.buckets[i] = (s.buckets[i] as number) + 1;
    if (errorCode !== undefined) {
      const errors = (s.errors ??= new Map());
      errors.set(errorCode, (errors.get(errorCode) ?? 0) + 1);
    }
  }

  /** Every series as it is now (live views: copy what must outlive the call). */
  *series(): IterableIterator<CallSeriesView> {
    for (const s of this.#series.values()) {
      yield { type: s.labels.type, method: s.labels.method, count: s.count, buckets: s.buckets, errors: s.errors };
    }
  }

  /** `praas_calls_total{type,method}` and `praas_call_duration_seconds{type,method}` for a registry. */
  metrics(): Metric[] {
    const calls = {
      name: "praas_calls_total",
      help: "Actor calls completed, by actor type and method",
      type: "counter",
      aggregator: "sum",
      get: async () => ({
        ...calls,
        values: [...this.#series.values()].map((s) => ({ value: s.count, labels: s.labels })),
      }),
    };
    const latency = {
      name: "praas_call_duration_seconds",
      help: "Time from a call entering the silo to its reply, by actor type and method",
      type: "histogram",
      aggregator: "sum",
      get: async () => {
        const values: Value[] = [];
        for (const s of this.#series.values()) {
          let cumulative = 0;
          for (let i = 0; i <= BUCKETS_S.length; i++) {
            cumulative += s.buckets[i] as number;
            values.push({
              metricName: "praas_call_duration_seconds_bucket",
              labels: { le: i < BUCKETS_S.length ? (BUCKETS_S[i] as number) : "+Inf", ...s.labels },
              value: cumulative,
            });
          }
          values.push({ metricName: "praas_call_duration_seconds_sum", labels: s.labels, value: s.sumS });
          values.push({ metricName: "praas_call_duration_seconds_count", labels: s.labels, value: s.count });
        }
        return { ...latency, values };
      },
    };
    return [calls, latency] as unknown as Metric[];
  }
}
