/**
 * The silo's spans (docs/observability.md): where a call enters (gateway,
 * dispatch, a peer's hop), its turn, the store, message delivery and reminder
 * firing. The call sites are one line each; everything else is here.
 *
 * A traced call carries its context in `call.trace` — set only when an
 * OpenTelemetry SDK is registered, so with none every helper returns at its
 * first check and a call costs what it did before.
 */
import {
  type ActorId,
  actorAttributes,
  type ClientFrame,
  type Context,
  carrierOf,
  contextFromCarrier,
  contextWithSpan,
  currentContext,
  endSpan,
  endWhenSettled,
  inContext,
  praasTracer,
  type Span,
  SpanKind,
  type StateStore,
  SYSTEM_METHODS,
  startSpan,
  TRACE_ATTR,
  type TraceCarrier,
} from "@praas/core/internal";
import type { Call } from "./call.js";
import { type CallEnvelope, traceOf } from "./cluster/frames.js";

/** The context a traced call is handled in, and the silo handling it (for the spans' attributes). */
export interface CallTrace {
  readonly context: Context;
  readonly silo: string;
}

/** What a span calls the call's method: system calls by what they are for. */
function methodLabel(call: Call): string {
  if (call.method === SYSTEM_METHODS.deliver) return "send";
  return call.method === SYSTEM_METHODS.remind ? "onReminder" : call.method;
}

/** The span name and kind where a call starts on this silo: deliveries are messages, the rest calls. */
function dispatchName(call: Call): [string, SpanKind] {
  if (call.method === SYSTEM_METHODS.deliver) return [`praas.send ${call.type}`, SpanKind.PRODUCER];
  return [`praas.dispatch ${call.type}.${methodLabel(call)}`, SpanKind.INTERNAL];
}

function callAttributes(call: Call, silo: string) {
  const attrs = actorAttributes(call.type, call.key, call.method, silo);
  if (call.method === SYSTEM_METHODS.deliver) {
    const channel = (call.args[0] as { channel?: unknown } | undefined)?.channel;
    if (typeof channel === "string") attrs[TRACE_ATTR.channel] = channel;
  }
  return attrs;
}

/** Follow `call` from `span` on: its context for what comes next, the span ended when the caller has its answer. */
function follow(call: Call, span: Span, parent: Context, silo: string): void {
  call.trace = { context: contextWithSpan(parent, span), silo };
  endWhenSettled(span, call.promise);
}

/** A call made on this silo (by a client through the gateway, an actor, a message or a reminder). */
export function traceCall(call: Call, silo: string): void {
  if (praasTracer() === undefined) return;
  const [name, kind] = dispatchName(call);
  const parent = currentContext();
  const span = startSpan(name, kind, callAttributes(call, silo), parent);
  if (span !== undefined) follow(call, span, parent, silo);
}

/** A call from a peer silo, continuing the trace its envelope carries (if any). */
export function traceInbound(call: Call, envelope: CallEnvelope, silo: string): void {
  if (praasTracer() === undefined) return;
  const carrier = traceOf(envelope);
  const parent = carrier === undefined ? currentContext() : contextFromCarrier(carrier);
  const name = `praas.remote ${call.type}.${methodLabel(call)}`;
  const span = startSpan(name, SpanKind.SERVER, callAttributes(call, silo), parent);
  if (span !== undefined) follow(call, span, parent, silo);
}

/** Run `fn` (which dispatches a traced call) in the call's context, so activation and load are its children. */
export function inCallContext<T>(call: Call, fn: () => T): T {
  const t = call.trace as CallTrace | undefined;
  return t === undefined ? fn() : inContext(t.context, fn);
}

/**
 * Run a call's turn (or a message's delivery) under its own span; spans the
 * actor starts meanwhile, calls it makes and the state write of the turn are
 * its children. The span ends when the caller has its answer.
 */
export function traceTurn(call: Call, run: () => boolean): boolean {
  const t = call.trace as CallTrace | undefined;
  if (t === undefined) return run();
  const deliver = call.method === SYSTEM_METHODS.deliver;
  const span = startSpan(
    deliver ? `praas.deliver ${call.type}` : `praas.turn ${call.type}.${methodLabel(call)}`,
    deliver ? SpanKind.CONSUMER : SpanKind.INTERNAL,
    callAttributes(call, t.silo),
    t.context,
  );
  if (span === undefined) return run();
  follow(call, span, t.context, t.silo);
  return inContext((call.trace as CallTrace).context, run);
}

/** The span of one silo-to-silo hop and what it puts in the envelope. */
export interface HopTrace {
  readonly span: Span;
  readonly carrier: TraceCarrier;
}

/** A traced call leaving for silo `peer`: a client span whose context the envelope carries. */
export function traceHop(call: Call, peer: string): HopTrace | undefined {
  const t = call.trace as CallTrace | undefined;
  if (t === undefined) return undefined;
  const attrs = actorAttributes(call.type, call.key, call.method, t.silo);
  attrs[TRACE_ATTR.peer] = peer;
  const span = startSpan(`praas.hop ${call.type}.${methodLabel(call)}`, SpanKind.CLIENT, attrs, t.context);
  return span === undefined ? undefined : { span, carrier: carrierOf(span) };
}

/** End a hop's span: `error` when the peer answered with one or the call was lost. */
export function endHop(hop: HopTrace | undefined, error?: unknown): void {
  if (hop !== undefined) endSpan(hop.span, error);
}

/** The gateway's span for a client frame, continuing the client's trace when the frame carries one. */
export function traceGateway(frame: ClientFrame, silo: string): Span | undefined {
  if (praasTracer() === undefined || frame.t === "sub" || frame.t === "unsub") return undefined;
  const carrier =
    frame.traceparent === undefined ? undefined : { traceparent: frame.traceparent, tracestate: frame.tracestate };
  const parent = carrier === undefined ? currentContext() : contextFromCarrier(carrier);
  const method = frame.t === "send" ? "send" : frame.method;
  const attrs = actorAttributes(frame.type, frame.t === "invoke" ? "" : frame.key, method, silo);
  if (frame.t === "send") attrs[TRACE_ATTR.channel] = frame.channel;
  return startSpan(`praas.gateway ${frame.type}.${method}`, SpanKind.SERVER, attrs, parent);
}

/** A reminder firing: the root of what it causes (the turn running `onReminder`). */
export function traceReminder(
  actor: ActorId,
  name: string,
  silo: string,
  fire: () => Promise<unknown>,
): Promise<unknown> {
  if (praasTracer() === undefined) return fire();
  const attrs = actorAttributes(actor.type, actor.key, "onReminder", silo);
  attrs[TRACE_ATTR.reminder] = name;
  const span = startSpan(`praas.reminder ${actor.type}`, SpanKind.PRODUCER, attrs);
  if (span === undefined) return fire();
  let fired: Promise<unknown>;
  try {
    fired = inContext(contextWithSpan(currentContext(), span), fire);
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
  return endWhenSettled(span, fired);
}

/** An actor waiting in `recv` until a message is handed to it (a child of its turn). */
export function traceRecv<T>(actor: ActorId, channel: string, recv: Promise<T>): Promise<T> {
  if (praasTracer() === undefined) return recv;
  const attrs = actorAttributes(actor.type, actor.key, "recv");
  attrs[TRACE_ATTR.channel] = channel;
  return endWhenSettled(startSpan(`praas.recv ${actor.type}`, SpanKind.CONSUMER, attrs), recv);
}

/**
 * The store as activations see it: load, save and delete get a span each when
 * tracing is on (children of the call or turn that caused them).
 */
export function tracedStore(store: StateStore, silo: () => string): StateStore {
  const traced = <T>(op: string, id: ActorId, run: () => Promise<T>): Promise<T> => {
    const attrs = actorAttributes(id.type, id.key, op, silo());
    attrs[TRACE_ATTR.store] = store.kind;
    const span = startSpan(`praas.state.${op}`, SpanKind.CLIENT, attrs);
    let result: Promise<T>;
    try {
      result = run();
    } catch (err) {
      if (span !== undefined) endSpan(span, err);
      throw err;
    }
    return endWhenSettled(span, result);
  };
  const tracedLoad = (id: ActorId) => traced("load", id, () => store.load(id));
  const tracedSave = (id: ActorId, data: Uint8Array, expected: string | null) =>
    traced("save", id, () => store.save(id, data, expected));
  const tracedDelete = (id: ActorId, expected?: string) => traced("delete", id, () => store.delete(id, expected));
  return {
    get kind() {
      return store.kind;
    },
    // Untraced: straight through (the traced paths' closures live in functions of their own).
    load: (id) => (praasTracer() === undefined ? store.load(id) : tracedLoad(id)),
    save: (id, data, expected) =>
      praasTracer() === undefined ? store.save(id, data, expected) : tracedSave(id, data, expected),
    delete: (id, expected) => (praasTracer() === undefined ? store.delete(id, expected) : tracedDelete(id, expected)),
    describe: (id) => store.describe(id),
    close: () => store.close(),
  };
}
