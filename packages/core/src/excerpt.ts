/** Longest rendering of a value that an error message quotes, in characters. */
export const MAX_QUOTED_CHARS = 80;

/**
 * A value as an error message quotes it: JSON-style, and cut to `max`
 * characters with its full length said, so a 2,000-character key from the
 * network names the culprit without flooding logs and terminals.
 */
export function quoteValue(value: unknown, max: number = MAX_QUOTED_CHARS): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // bigint, cycles: no JSON form; the plain string form is still useful.
    text = String(value);
  }
  if (text.length <= max) return text;
  const size = typeof value === "string" ? `${value.length} chars` : `${text.length} chars as JSON`;
  return `${text.slice(0, max)}… (${size})`;
}
