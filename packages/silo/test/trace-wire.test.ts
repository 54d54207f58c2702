/**
 * W3C trace context on the wire (docs/protocol.md): optional, and checked like
 * every other field — a malformed one fails the frame it came in, with its id.
 */

import { trace } from "@opentelemetry/api";
import {
  carrierOf,
  contextFromCarrier,
  isTraceparent,
  isTracestate,
  MAX_TRACESTATE_LENGTH,
  praasTracer,
  readTraceFields,
  startSpan,
  traceClient,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";
import { CALL, decodeFrame, encodeFrame, parseEnvelope, traceOf } from "../src/cluster/frames.js";
import { parseClientFrame } from "../src/gateway/ws-protocol.js";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function call(...trace: unknown[]): unknown[] {
  return [CALL, 7, "Counter", "alice", "add", [1], 1000, [], 0, ...trace];
}

describe("traceparent and tracestate checks", () => {
  it.each([
    [TP, true],
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true],
    ["01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false], // only version 00
    ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", false], // zero trace id
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false], // zero span id
    ["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false], // upper case
    [`${TP}-extra`, false],
    [TP.slice(0, 54), false],
    ["x".repeat(55), false],
    ["x".repeat(1_000_000), false],
    [55, false],
    [undefined, false],
  ])("isTraceparent(%j) is %s", (v, ok) => {
    expect(isTraceparent(v)).toBe(ok);
  });

  it("tracestate: printable ASCII up to 512 chars", () => {
    expect(isTracestate("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")).toBe(true);
    expect(isTracestate("a".repeat(MAX_TRACESTATE_LENGTH))).toBe(true);
    expect(isTracestate("a".repeat(MAX_TRACESTATE_LENGTH + 1))).toBe(false);
    expect(isTracestate("a=\n")).toBe(false);
    expect(isTracestate("a=é")).toBe(false);
    expect(isTracestate(["a=b"])).toBe(false);
  });

  it("readTraceFields: none, both, or a problem", () => {
    expect(readTraceFields(undefined, undefined)).toBeUndefined();
    expect(readTraceFields(TP, undefined)).toEqual({ traceparent: TP });
    expect(readTraceFields(TP, "a=b")).toEqual({ traceparent: TP, tracestate: "a=b" });
    expect(readTraceFields(undefined, "a=b")).toMatch(/tracestate needs a traceparent/);
    expect(readTraceFields("nope", undefined)).toMatch(/traceparent must be a W3C traceparent/);
    expect(readTraceFields(TP, 3)).toMatch(/tracestate must be at most 512/);
  });

  it("a carrier read from the wire is continued as the remote parent, and written back unchanged", () => {
    const ctx = contextFromCarrier({ traceparent: TP, tracestate: "congo=t61rcWkgMzE" });
    const sc = trace.getSpanContext(ctx);
    expect(sc).toMatchObject({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
      isRemote: true,
    });
    expect(carrierOf(trace.wrapSpanContext(sc as never))).toEqual({
      traceparent: TP,
      tracestate: "congo=t61rcWkgMzE",
    });
  });

  it("with no OpenTelemetry SDK registered nothing is traced and frames stay as they were", () => {
    expect(praasTracer()).toBeUndefined();
    expect(traceClient("Counter", "a", "add")).toBeUndefined();
    expect(startSpan("x", 0, {})).toBeUndefined();
  });
});

describe("client frames", () => {
  const frame = { t: "call", id: 3, type: "Counter", key: "a", method: "add", args: [1] };

  it("carry trace context optionally, for call, send and invoke", () => {
    const parsed = parseClientFrame({ ...frame, traceparent: TP, tracestate: "a=b" }, 30_000);
    expect(parsed).toMatchObject({ ok: true, frame: { traceparent: TP, tracestate: "a=b" } });
    expect(parseClientFrame(frame, 30_000)).toMatchObject({ ok: true });
    const plain = parseClientFrame(frame, 30_000);
    expect(plain.ok && "traceparent" in plain.frame).toBe(false);
    const send = { t: "send", id: 4, type: "Counter", key: "a", channel: "c", data: 1, traceparent: TP };
    expect(parseClientFrame(send, 30_000)).toMatchObject({ ok: true, frame: { traceparent: TP } });
    const invoke = { t: "invoke", id: 5, type: "W", method: "m", args: [], traceparent: TP };
    expect(parseClientFrame(invoke, 30_000)).toMatchObject({ ok: true, frame: { traceparent: TP } });
  });

  it.each([
    ["a malformed traceparent", { traceparent: "00-xyz" }, /call frame: traceparent must be a W3C traceparent/],
    ["a traceparent that is not a string", { traceparent: 1 }, /traceparent must be/],
    ["a huge traceparent", { traceparent: "0".repeat(100_000) }, /traceparent must be/],
    ["a tracestate alone", { tracestate: "a=b" }, /tracestate needs a traceparent/],
    ["a huge tracestate", { traceparent: TP, tracestate: "a".repeat(513) }, /tracestate must be at most 512/],
  ])("refuse %s with a protocol error for that request id", (_name, extra, message) => {
    const parsed = parseClientFrame({ ...frame, ...extra }, 30_000);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.id).toBe(3);
      expect(parsed.error.code).toBe("PROTOCOL_ERROR");
      expect(parsed.error.message).toMatch(message);
    }
  });
});

describe("silo call envelopes", () => {
  it("carry trace context as optional trailing elements", () => {
    for (const env of [call(), call(TP), call(TP, "a=b")]) {
      const parsed = parseEnvelope(decodeFrame(encodeFrame([env as never]))?.[0]);
      expect(parsed.ok).toBe(true);
    }
    const parsed = parseEnvelope(call(TP, "a=b"));
    expect(parsed.ok && traceOf(parsed.envelope as never)).toEqual({ traceparent: TP, tracestate: "a=b" });
    const plain = parseEnvelope(call());
    expect(plain.ok && traceOf(plain.envelope as never)).toBeUndefined();
  });

  it.each([
    ["a malformed traceparent", call("00-xyz")],
    ["a traceparent that is not a string", call(7)],
    ["a malformed tracestate", call(TP, "a".repeat(600))],
    ["too many elements", call(TP, "a=b", "more")],
  ])("refuse %s, answering the call's id", (_name, env) => {
    const parsed = parseEnvelope(env);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.id).toBe(7);
  });
});
