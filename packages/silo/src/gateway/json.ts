/**
 * Rendering actor results as JSON for the HTTP control plane. JSON cannot
 * carry every value the codec can, so (docs/protocol.md):
 * bigint → decimal string; Uint8Array → base64 string; Date → ISO string;
 * Set → array; Map → object when every key is a string or number, else an
 * array of [key, value] pairs; undefined → null (omitted inside objects);
 * NaN and ±Infinity → "NaN", "Infinity", "-Infinity" (JSON.stringify would
 * make them null, indistinguishable from a real null).
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer) ?? "null";
}

function replacer(this: unknown, key: string, v: unknown): unknown {
  // JSON.stringify calls toJSON (Buffer has one) before the replacer: look at the original.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) {
    return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString("base64");
  }
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  if (v instanceof Map) {
    let simple = true;
    for (const k of v.keys()) {
      if (typeof k !== "string" && typeof k !== "number") {
        simple = false;
        break;
      }
    }
    return simple ? Object.fromEntries(v) : [...v];
  }
  if (v instanceof Set) return [...v];
  return v;
}
