import { Counter, Gauge, Registry } from "prom-client";
import type { CallObserver } from "../call.js";
import type { Silo, SiloFailure } from "../silo.js";
import { CallMetrics, FastCounter } from "./call-metrics.js";

/**
 * Prometheus metrics of one silo and its gateway, in a registry of their own
 * (not prom-client's global one, so several silos in one process don't clash).
 * Call metrics come from `silo.observeCalls`: every call the silo runs, from
 * clients, HTTP or other actors.
 */
export class GatewayMetrics implements CallObserver {
  readonly registry = new Registry();
  /** Calls per type and method, also read by the dashboard's statistics (stats/). */
  readonly calls = new CallMetrics();
  readonly #errors: Counter<"type" | "method" | "code">;
  readonly #activations: Counter;
  readonly #deactivations: Counter<"reason">;
  readonly #failures: Counter<"kind">;
  readonly #rejectedFrames: Counter<"code">;
  readonly #http = new FastCounter("praas_http_requests_total", "HTTP control plane requests, by route and status", [
    "route",
    "status",
  ]);
  readonly #events: Counter;
  readonly #unhook: (() => void)[] = [];

  constructor(
    silo: Silo,
    connections: () => number,
    sockets: () => { open: number; displaced: number; refused: number } = () => ({ open: 0, displaced: 0, refused: 0 }),
  ) {
    const registers = [this.registry];
    for (const m of this.calls.metrics()) this.registry.registerMetric(m);
    this.#errors = new Counter({
      name: "praas_call_errors_total",
      help: "Actor calls that failed, by actor type, method and error code",
      labelNames: ["type", "method", "code"],
      registers,
    });
    new Gauge({
      name: "praas_activations",
      help: "Activations in memory on this silo",
      registers,
      collect() {
        this.set(silo.activationCount);
      },
    });
    this.#activations = new Counter({
      name: "praas_activations_total",
      help: "Activations started (swap-ins and first activations)",
      registers,
    });
    this.#deactivations = new Counter({
      name: "praas_deactivations_total",
      help: "Activations ended (swap-outs), by reason",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "praas_gateway_connections",
      help: "Connected WebSocket clients",
      registers,
      collect() {
        this.set(connections());
      },
    });
    new Gauge({
      name: "praas_gateway_open_connections",
      help: "Open connections to the gateway, HTTP and WebSocket (under the maxConnections cap)",
      registers,
      collect() {
        this.set(sockets().open);
      },
    });
    new Gauge({
      name: "praas_gateway_connections_shed",
      help: "Connections closed at the cap: displaced (held no request) or refused (429)",
      labelNames: ["how"],
      registers,
      collect() {
        const s = sockets();
        this.set({ how: "displaced" }, s.displaced);
        this.set({ how: "refused" }, s.refused);
      },
    });
    this.#rejectedFrames = new Counter({
      name: "praas_gateway_rejected_frames_total",
      help: "Client frames refused before reaching an actor (malformed, too large, over limits, or arrived after their deadline: TIMEOUT), by error code",
      labelNames: ["code"],
      registers,
    });
    this.#failures = new Counter({
      name: "praas_failures_total",
      help: "Failures with no caller to tell, by kind (conflict: a write lost to newer state; stuck: a turn abandoned; save: a swap-out that could not save; activate, deactivate, timer, reminder)",
      labelNames: ["kind"],
      registers,
    });
    this.registry.registerMetric(this.#http.metric());
    this.#events = new Counter({
      name: "praas_gateway_events_sent_total",
      help: "Event frames sent to clients",
      registers,
    });

    const onActivate = () => this.#activations.inc();
    const onDeactivate = (_id: unknown, reason: string) => this.#deactivations.inc({ reason });
    const onFailure = (f: SiloFailure) => this.#failures.inc({ kind: f.kind });
    silo.on("activate", onActivate);
    silo.on("deactivate", onDeactivate);
    silo.on("failure", onFailure);
    this.#unhook.push(
      silo.observeCalls(this),
      () => silo.off("activate", onActivate),
      () => silo.off("deactivate", onDeactivate),
      () => silo.off("failure", onFailure),
    );
  }

  callCompleted(type: string, method: string, durationMs: number, errorCode: string | undefined): void {
    this.calls.observe(type, method, durationMs, errorCode);
    if (errorCode !== undefined) this.#errors.inc({ type, method, code: errorCode });
  }

  rejectedFrame(code: string): void {
    this.#rejectedFrames.inc({ code });
  }

  httpRequest(route: string, status: number): void {
    this.#http.inc(route, String(status));
  }

  eventsSent(n: number): void {
    this.#events.inc(n);
  }

  close(): void {
    for (const f of this.#unhook) f();
    this.#unhook.length = 0;
  }
}
