/**
 * One call from a WebSocket client, entering silo A for a key silo B owns,
 * makes one connected trace: client → gateway A → dispatch A → hop A→B →
 * remote B → turn B → state load/save on B. The SDK's in-memory exporter
 * collects the spans; an AsyncLocalStorage context manager is registered as
 * the Node SDK would.
 */
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { type Client, connect } from "@praas/client";
import { MemoryMembershipRegistry, MemoryStateStore, memoryMembership } from "@praas/core";
import { Actor, type Gateway, Silo, startGateway } from "@praas/silo";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

class Counter extends Actor<{ n: number }> {
  static readonly persistence = "turn";
  static initialState() {
    return { n: 0 };
  }
  add(by: number): number {
    this.state.n += by;
    return this.state.n;
  }
  fail(): never {
    throw new Error("no such luck");
  }
  async take(): Promise<unknown> {
    return (await this.recv("inbox")).data;
  }
  async schedule(): Promise<void> {
    await this.remind("tick", { at: Date.now() });
  }
  override onReminder(): void {
    this.state.n++;
  }
}

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
let a: Silo;
let b: Silo;
let gateway: Gateway;
let client: Client;

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
  const registry = new MemoryMembershipRegistry();
  const store = new MemoryStateStore();
  const start = () =>
    Silo.start({
      actors: [Counter],
      storage: store,
      cluster: { name: "traced", membership: memoryMembership(registry), secret: "tracing-test-secret" },
    });
  a = await start();
  b = await start();
  gateway = await startGateway(a, { port: 0 });
  client = await connect(gateway.wsUrl);
});

afterAll(async () => {
  await client?.close();
  await gateway?.close();
  await Promise.allSettled([a?.stop(), b?.stop()]);
  trace.disable();
  context.disable();
});

/** A key of Counter that silo B owns, found by asking silo A (both must see both). */
async function keyOwnedByB(): Promise<string> {
  let key: string | undefined;
  await expect
    .poll(async () => {
      for (let i = 0; i < 64; i++) {
        const where = await a.locate({ type: "Counter", key: `k${i}` });
        if (where.silo === b.siloId) {
          key = `k${i}`;
          return true;
        }
      }
      return false;
    })
    .toBe(true);
  return key as string;
}

function spansOf(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

function named(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found, `${name} in ${spans.map((s) => s.name).join(", ")}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

describe("distributed tracing", () => {
  test("a client call through two silos is one connected trace", async () => {
    const key = await keyOwnedByB();
    exporter.reset();
    const root = trace.getTracer("test").startSpan("test root");
    const result = await context.with(trace.setSpan(context.active(), root), () =>
      client.call("Counter", key, "add", [2]),
    );
    root.end();
    expect(result).toBe(2);
    const traceId = root.spanContext().traceId;
    // The store's save and the turn end before the reply; the client span ends with it.
    await expect.poll(() => spansOf(traceId).some((s) => s.name === "praas.client Counter.add")).toBe(true);
    const spans = spansOf(traceId);

    const clientSpan = named(spans, "praas.client Counter.add");
    const gw = named(spans, "praas.gateway Counter.add");
    const dispatch = named(spans, "praas.dispatch Counter.add");
    const hop = named(spans, "praas.hop Counter.add");
    const remote = named(spans, "praas.remote Counter.add");
    const turn = named(spans, "praas.turn Counter.add");
    const load = named(spans, "praas.state.load");
    const save = named(spans, "praas.state.save");

    expect(parentOf(clientSpan)).toBe(root.spanContext().spanId);
    expect(parentOf(gw)).toBe(clientSpan.spanContext().spanId);
    expect(parentOf(dispatch)).toBe(gw.spanContext().spanId);
    expect(parentOf(hop)).toBe(dispatch.spanContext().spanId);
    expect(parentOf(remote)).toBe(hop.spanContext().spanId);
    expect(parentOf(turn)).toBe(remote.spanContext().spanId);
    expect(parentOf(load)).toBe(remote.spanContext().spanId);
    expect(parentOf(save)).toBe(turn.spanContext().spanId);

    expect(clientSpan.kind).toBe(SpanKind.CLIENT);
    expect(gw.kind).toBe(SpanKind.SERVER);
    expect(hop.kind).toBe(SpanKind.CLIENT);
    expect(remote.kind).toBe(SpanKind.SERVER);
    expect(gw.attributes).toMatchObject({ "praas.silo": a.siloId, "praas.actor.type": "Counter" });
    expect(dispatch.attributes).toMatchObject({ "praas.silo": a.siloId, "praas.actor.key": key });
    expect(hop.attributes).toMatchObject({ "praas.silo": a.siloId, "praas.peer.silo": b.siloId });
    for (const s of [remote, turn, load, save]) expect(s.attributes).toMatchObject({ "praas.silo": b.siloId });
    expect(turn.attributes).toMatchObject({
      "praas.actor.type": "Counter",
      "praas.actor.key": key,
      "praas.method": "add",
    });
    expect(save.attributes).toMatchObject({ "praas.store": "memory", "praas.actor.key": key });
    for (const s of spans) expect(s.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  test("an actor's error is recorded on the spans it passes through", async () => {
    const key = await keyOwnedByB();
    exporter.reset();
    await expect(client.call("Counter", key, "fail", [])).rejects.toThrow(/no such luck/);
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === "praas.client Counter.fail")).toBe(true);
    const spans = exporter.getFinishedSpans();
    const traceId = named(spans, "praas.client Counter.fail").spanContext().traceId;
    for (const name of ["praas.client", "praas.gateway", "praas.dispatch", "praas.hop", "praas.remote", "praas.turn"]) {
      const s = named(spansOf(traceId), `${name} Counter.fail`);
      expect(s.status.code, name).toBe(SpanStatusCode.ERROR);
      expect(
        s.events.some((e) => e.name === "exception"),
        name,
      ).toBe(true);
    }
  });

  test("sends, receives and reminders are traced: send → deliver, recv in its turn, reminder → turn", async () => {
    const key = await keyOwnedByB();
    exporter.reset();
    await client.send("Counter", key, "inbox", { hello: 1 });
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === "praas.client Counter.send")).toBe(true);
    const sendTrace = named(exporter.getFinishedSpans(), "praas.client Counter.send").spanContext().traceId;
    const deliver = named(spansOf(sendTrace), "praas.deliver Counter");
    expect(deliver.kind).toBe(SpanKind.CONSUMER);
    expect(deliver.attributes).toMatchObject({ "praas.channel": "inbox", "praas.silo": b.siloId });
    const send = named(spansOf(sendTrace), "praas.send Counter");
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(send)).toBe(named(spansOf(sendTrace), "praas.gateway Counter.send").spanContext().spanId);
    const hop = named(spansOf(sendTrace), "praas.hop Counter.send");
    expect(parentOf(hop)).toBe(send.spanContext().spanId);
    expect(parentOf(named(spansOf(sendTrace), "praas.remote Counter.send"))).toBe(hop.spanContext().spanId);

    expect(await client.call("Counter", key, "take", [])).toEqual({ hello: 1 });
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === "praas.client Counter.take")).toBe(true);
    const takeTrace = named(exporter.getFinishedSpans(), "praas.client Counter.take").spanContext().traceId;
    const recv = named(spansOf(takeTrace), "praas.recv Counter");
    expect(recv.kind).toBe(SpanKind.CONSUMER);
    expect(recv.attributes).toMatchObject({ "praas.channel": "inbox", "praas.actor.key": key });
    expect(parentOf(recv)).toBe(named(spansOf(takeTrace), "praas.turn Counter.take").spanContext().spanId);

    await client.call("Counter", key, "schedule", []);
    await expect
      .poll(() => exporter.getFinishedSpans().some((s) => s.name === "praas.turn Counter.onReminder"))
      .toBe(true);
    const reminderTurn = named(exporter.getFinishedSpans(), "praas.turn Counter.onReminder");
    const reminder = named(spansOf(reminderTurn.spanContext().traceId), "praas.reminder Counter");
    expect(reminder.attributes).toMatchObject({ "praas.reminder": "tick", "praas.actor.key": key });
  });
});
