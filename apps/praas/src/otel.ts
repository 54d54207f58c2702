/**
 * `praas start --otel`: export the runtime's spans over OTLP/HTTP
 * (docs/observability.md). Only the command loads the OpenTelemetry SDK —
 * libraries use the API alone — and only when tracing is asked for.
 *
 * The exporter, the batch processor and the sampler read the standard
 * variables: OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
 */
import type { LogFunction } from "@praas/core/internal";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Is OTLP export on? `--otel` (or $PRAAS_OTEL, "otel" in the config file), or
 * the standard variables: OTEL_TRACES_EXPORTER naming otlp, or an OTLP
 * endpoint. OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turns it off.
 */
export function otelWanted(flag: boolean, env: Env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  if (exporters.includes("none")) return false;
  if (flag || exporters.includes("otlp")) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export interface Otel {
  /** Export what is still buffered and stop (at the end of `praas start`). */
  shutdown(): Promise<void>;
}

/** Register a tracer provider exporting over OTLP/HTTP, and an AsyncLocalStorage context manager. */
export async function startOtel(env: Env, log: LogFunction): Promise<Otel> {
  const [api, { AsyncLocalStorageContextManager }, sdk, { OTLPTraceExporter }, resources] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
  ]);
  // service.name "praas" unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say otherwise.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ "service.name": "praas" }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new sdk.BasicTracerProvider({
    resource,
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter())],
  });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (!api.trace.setGlobalTracerProvider(provider)) {
    log("warn", "otel: another tracer provider is registered already; praas spans go to it");
  }
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://localhost:4318";
  log("info", `otel: exporting traces over OTLP/HTTP to ${redactEndpoint(endpoint)}`);
  return {
    async shutdown() {
      try {
        await provider.shutdown();
      } catch (err) {
        log("warn", `otel: could not export the last spans: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
  };
}

/** An endpoint for a log line: no credentials. */
function redactEndpoint(text: string): string {
  try {
    const u = new URL(text);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "(an unparsable OTEL_EXPORTER_OTLP_ENDPOINT)";
  }
}
