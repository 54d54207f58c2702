/**
 * Distributed tracing with the OpenTelemetry API (docs/observability.md).
 *
 * The runtime only talks to `@opentelemetry/api`, which does nothing until an
 * application registers an SDK. Every entry point first asks
 * {@link praasTracer}; without a registered tracer provider that is one
 * property read and the call goes on untouched: no span objects, no context
 * switches, no extra wire fields.
 *
 * Trace context crosses process boundaries as W3C `traceparent` (and
 * optionally `tracestate`) strings: in client frames and in silo call
 * envelopes. Both come from the network, so they are checked here like every
 * other wire field: bounded length, exact format, linear time.
 */
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";

export { type Context, type Span, SpanKind };

/** Name of the tracer (instrumentation scope) every praas span comes from. */
export const TRACER_NAME = "praas";

/** Span attribute names. */
export const TRACE_ATTR = {
  actorType: "praas.actor.type",
  actorKey: "praas.actor.key",
  method: "praas.method",
  silo: "praas.silo",
  /** The silo a hop goes to. */
  peer: "praas.peer.silo",
  channel: "praas.channel",
  store: "praas.store",
  reminder: "praas.reminder",
} as const;

/** A version-00 traceparent: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, exactly 55 chars. */
export const TRACEPARENT_LENGTH = 55;
/** W3C trace context: propagate at most 512 chars of tracestate. */
export const MAX_TRACESTATE_LENGTH = 512;

const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
// Printable ASCII only (list members are checked again by the API when parsed).
const TRACESTATE = /^[\x20-\x7e]*$/;

/** Is `v` a well-formed version-00 traceparent with non-zero ids? (Length checked before the regex.) */
export function isTraceparent(v: unknown): v is string {
  return typeof v === "string" && v.length === TRACEPARENT_LENGTH && TRACEPARENT.test(v);
}

/** Is `v` a tracestate we propagate: at most 512 printable ASCII chars? */
export function isTracestate(v: unknown): v is string {
  return typeof v === "string" && v.length <= MAX_TRACESTATE_LENGTH && TRACESTATE.test(v);
}

/** What travels on the wire: a traceparent, and a tracestate when there is one. */
export interface TraceCarrier {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/**
 * Check the optional trace fields of a frame from the network: undefined when
 * there are none, the carrier when both are valid, or a problem to report.
 */
export function readTraceFields(traceparent: unknown, tracestate: unknown): TraceCarrier | undefined | string {
  if (traceparent === undefined) {
    return tracestate === undefined ? undefined : "tracestate needs a traceparent";
  }
  if (!isTraceparent(traceparent)) {
    return "traceparent must be a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>, ids not all zero";
  }
  if (tracestate === undefined) return { traceparent };
  if (!isTracestate(tracestate)) return `tracestate must be at most ${MAX_TRACESTATE_LENGTH} printable ASCII chars`;
  return { traceparent, tracestate };
}

// With no SDK, the API keeps no tracer provider in its global slot: one lookup says so.
const API_GLOBAL = Symbol.for("opentelemetry.js.api.1");
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();
let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/**
 * While no SDK is registered, how many more calls answer "off" before the
 * global is looked at again. A symbol lookup on `globalThis` costs tens of ns
 * (a miss on the global object), a tenth of an in-process call; counting
 * down costs one. So an SDK registered while silos already serve is noticed
 * within this many calls — register it first, as OpenTelemetry advises.
 */
export const TRACING_RECHECK_CALLS = 1000;
let offFor = 0;

/**
 * The praas tracer, or undefined when no OpenTelemetry SDK is registered (so
 * nothing is traced).
 */
export function praasTracer(): Tracer | undefined {
  if (offFor > 0) {
    offFor--;
    return undefined;
  }
  const slot = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[API_GLOBAL];
  if (slot?.trace === undefined) {
    offFor = TRACING_RECHECK_CALLS;
    return undefined;
  }
  const provider = trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  if (delegate === NOOP_PROVIDER) {
    offFor = TRACING_RECHECK_CALLS;
    return undefined;
  }
  if (delegate !== cachedProvider) {
    cachedProvider = delegate;
    cachedTracer = delegate.getTracer(TRACER_NAME);
  }
  return cachedTracer;
}

/** The context a carrier from the network continues (its span is remote). */
export function contextFromCarrier(carrier: TraceCarrier): Context {
  const tp = carrier.traceparent;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: tp.slice(3, 35),
    spanId: tp.slice(36, 52),
    traceFlags: Number.parseInt(tp.slice(53, 55), 16) & 0xff,
    isRemote: true,
    traceState: carrier.tracestate === undefined ? undefined : createTraceState(carrier.tracestate),
  });
}

/** The carrier that makes the next process's spans children of `span`. */
export function carrierOf(span: Span): TraceCarrier {
  const sc = span.spanContext();
  const traceparent = `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
  const tracestate = sc.traceState?.serialize();
  return tracestate === undefined || tracestate === "" ? { traceparent } : { traceparent, tracestate };
}

/** Add the carrier's fields to an outgoing frame object. */
export function withTraceFields<T extends object>(frame: T, carrier: TraceCarrier | undefined): T {
  if (carrier === undefined) return frame;
  return carrier.tracestate === undefined
    ? { ...frame, traceparent: carrier.traceparent }
    : { ...frame, traceparent: carrier.traceparent, tracestate: carrier.tracestate };
}

/** The attributes naming an actor method (key left out for stateless workers). */
export function actorAttributes(type: string, key: string, method: string, silo?: string): Attributes {
  const a: Attributes = { [TRACE_ATTR.actorType]: type, [TRACE_ATTR.method]: method };
  if (key !== "") a[TRACE_ATTR.actorKey] = key;
  if (silo !== undefined) a[TRACE_ATTR.silo] = silo;
  return a;
}

/**
 * The context set by the innermost {@link inContext} still running. The
 * runtime's own hops (gateway → silo → activation → store) are synchronous up
 * to their first I/O, so they stay connected even when the application
 * registered no context manager; across awaits, the API's context manager
 * (AsyncLocalStorage, registered by the Node SDK) takes over.
 */
let syncContext: Context | undefined;

/** The context new spans start under: the runtime's own, else the API's active one. */
export function currentContext(): Context {
  return syncContext ?? context.active();
}

/** Start a span under `parent` (default: {@link currentContext}); undefined when tracing is off. */
export function startSpan(name: string, kind: SpanKind, attributes: Attributes, parent?: Context): Span | undefined {
  const tracer = praasTracer();
  return tracer?.startSpan(name, { kind, attributes }, parent ?? currentContext());
}

/** End `span`, recording `error` (an exception event and an error status) when given. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === "string") span.setAttribute("praas.error.code", code);
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}

/** End `span` when `promise` settles (with its error, if it fails); returns the promise. */
export function endWhenSettled<T>(span: Span | undefined, promise: Promise<T>): Promise<T> {
  if (span === undefined) return promise;
  promise.then(
    () => endSpan(span),
    (err: unknown) => endSpan(span, err),
  );
  return promise;
}

/** Run `fn` with `span` as the current span (so spans started inside are its children). */
export function inSpanContext<T>(span: Span, fn: () => T): T {
  return inContext(trace.setSpan(currentContext(), span), fn);
}

/** Run `fn` in `ctx`: current while it runs synchronously, and after its awaits with a context manager. */
export function inContext<T>(ctx: Context, fn: () => T): T {
  const outer = syncContext;
  syncContext = ctx;
  try {
    return context.with(ctx, fn);
  } finally {
    syncContext = outer;
  }
}

/** `parent` with `span` as its current span. */
export function contextWithSpan(parent: Context, span: Span): Context {
  return trace.setSpan(parent, span);
}

/** A client's span for one request and the trace context its frame carries. */
export interface ClientTrace {
  readonly span: Span;
  readonly carrier: TraceCarrier;
}

/** The client span of a call, invoke or send (`channel`); undefined when tracing is off. */
export function traceClient(type: string, key: string, method: string, channel?: string): ClientTrace | undefined {
  if (praasTracer() === undefined) return undefined;
  const attributes = actorAttributes(type, key, method);
  if (channel !== undefined) attributes[TRACE_ATTR.channel] = channel;
  const span = startSpan(`praas.client ${type}.${method}`, SpanKind.CLIENT, attributes);
  return span === undefined ? undefined : { span, carrier: carrierOf(span) };
}
