import { type DecodeLimits, ProtocolError } from "@praas/core/internal";

/**
 * The JSON twin of core's checkCbor, for HTTP request bodies: one pass over
 * the bytes counting values, strings and containers and tracking the nesting,
 * so a body that would cost far more to parse and check than its size
 * suggests (a million empty objects, ten thousand levels of arrays) is refused
 * before JSON.parse. Well-formedness is left to JSON.parse.
 */
export function checkJson(body: Uint8Array, limits: DecodeLimits): void {
  const n = body.length;
  let depth = 0;
  let items = 0;
  let heapItems = 0;
  let objectKeys = 0;
  const recent = new Int32Array(2 * RECENT_KEYS); // start, length of the last new keys
  let recentCount = 0;
  let recentNext = 0;
  for (let i = 0; i < n; i++) {
    const c = body[i] as number;
    if (c === 0x22) {
      // A string (a key or a value): skip to its closing quote.
      const start = ++i;
      while (i < n) {
        const d = body[i] as number;
        if (d === 0x22) break;
        i += d === 0x5c ? 2 : 1;
      }
      items++;
      heapItems++;
      // A key when a colon follows: a new one (not one of the last few, as in an array of records) costs most.
      let next = i + 1;
      while (next < n && isSpace(body[next] as number)) next++;
      if (next < n && body[next] === 0x3a) {
        const length = i - start;
        let seen = false;
        if (length <= MAX_COMPARED_KEY) {
          for (let j = 0; j < recentCount && !seen; j++) {
            if (recent[2 * j + 1] === length) seen = sameBytes(body, recent[2 * j] as number, start, length);
          }
          if (!seen) {
            recent[2 * recentNext] = start;
            recent[2 * recentNext + 1] = length;
            recentNext = (recentNext + 1) % RECENT_KEYS;
            if (recentCount < RECENT_KEYS) recentCount++;
          }
        }
        if (!seen && ++objectKeys > limits.maxObjectKeys) {
          refuse(i, `more than ${limits.maxObjectKeys} distinct keys in objects`);
        }
      }
    } else if (c === 0x5b || c === 0x7b) {
      items++;
      heapItems++;
      if (++depth > limits.maxDepth) refuse(i, `arrays and objects are nested deeper than ${limits.maxDepth} levels`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      continue;
    } else if (isTokenStart(c)) {
      // A number, true, false or null: skip the rest of it.
      while (i + 1 < n && isTokenPart(body[i + 1] as number)) i++;
      items++;
    } else continue;
    if (items > limits.maxItems) refuse(i, `more than ${limits.maxItems} values`);
    if (heapItems > limits.maxHeapItems) refuse(i, `more than ${limits.maxHeapItems} strings, arrays and objects`);
  }
}

/** Keys remembered to tell repeated field names from new keys, and the longest compared (as in core's checkCbor). */
const RECENT_KEYS = 16;
const MAX_COMPARED_KEY = 64;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function sameBytes(b: Uint8Array, a: number, c: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (b[a + k] !== b[c + k]) return false;
  return true;
}

function isTokenStart(c: number): boolean {
  return c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;
}

function isTokenPart(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    c === 0x2e ||
    c === 0x2b ||
    c === 0x2d
  );
}

function refuse(at: number, what: string): never {
  throw new ProtocolError(`Request body refused: ${what} (at byte ${at})`);
}
