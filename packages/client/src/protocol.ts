/** Checks of the frames a gateway sends, before the client trusts their shape. */
import { isSerializedError, type ServerFrame, type SubscribeResult } from "@praas/core/internal";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSeq(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Check a decoded server frame; undefined when it is not one (the client ignores and reports it). */
export function parseServerFrame(v: unknown): ServerFrame | undefined {
  if (!isRecord(v)) return undefined;
  switch (v.t) {
    case "ok":
      return isSeq(v.id) ? (v as unknown as ServerFrame) : undefined;
    case "err":
      return (v.id === null || isSeq(v.id)) && isSerializedError(v.error) ? (v as unknown as ServerFrame) : undefined;
    case "ev":
      return isSeq(v.sub) && isSeq(v.seq) && typeof v.event === "string" ? (v as unknown as ServerFrame) : undefined;
    case "gap":
      return isSeq(v.sub) && isSeq(v.from) && (v.to === null || isSeq(v.to))
        ? (v as unknown as ServerFrame)
        : undefined;
    case "hello":
      return isSeq(v.v) &&
        typeof v.silo === "string" &&
        isSeq(v.maxFrameBytes) &&
        isSeq(v.maxInFlight) &&
        (v.callTimeoutMs === undefined || (isSeq(v.callTimeoutMs) && v.callTimeoutMs > 0))
        ? (v as unknown as ServerFrame)
        : undefined;
    default:
      return undefined;
  }
}

export function isSubscribeResult(v: unknown): v is SubscribeResult {
  return isRecord(v) && isSeq(v.sub) && typeof v.stream === "string" && isSeq(v.seq);
}
