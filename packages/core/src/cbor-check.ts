import { CodecError } from "./errors.js";

/**
 * What a CBOR item may cost before it is decoded. {@link checkCbor} checks
 * them in one pass over the item headers (string and byte contents are
 * skipped), so refusing a hostile frame costs less than decoding a plain one
 * of the same size.
 */
export interface DecodeLimits {
  /** Arrays and maps nested deeper than this are refused (the decoder recurses per level). */
  readonly maxDepth: number;
  /**
   * Largest bignum (tags 2 and 3), in bytes of magnitude. Arithmetic on and
   * decimal printing of huge bigints is superlinear.
   */
  readonly maxBignumBytes: number;
  /**
   * Numbers and bigints used as keys of Maps or items of Sets, in total per
   * item. V8 hashes numbers without a secret seed, so keys chosen to collide
   * make building a Map quadratic (hash flooding: 16,000 such keys take
   * about half a second). Strings are hashed with a per-process seed and are
   * not counted; neither are plain objects' keys (they become strings).
   */
  readonly maxHashedNumbers: number;
  /**
   * Data items in total (every number, string, array, map key and value, …;
   * tags do not count). Decoding costs about 40 ns per number, so this bounds
   * the time a frame costs whatever its byte size.
   */
  readonly maxItems: number;
  /**
   * Items that allocate an object or a string: strings, byte strings, arrays,
   * maps and tagged values (Date, bigint, Map, Set, Uint8Array). Each costs
   * 2 to 5 times a number to decode; a bignum counts one more per 8 bytes of
   * magnitude.
   */
  readonly maxHeapItems: number;
  /**
   * Distinct keys of plain objects (maps decoded as objects). V8 interns each
   * new key and keeps big objects as hash tables: a new key costs about 25
   * times a number, so a frame of distinct keys is the most expensive to
   * decode. A key equal to one of the last few new ones (the fields of an
   * array of records) is not counted; Maps (tag 259) are the way to send big
   * dictionaries.
   */
  readonly maxObjectKeys: number;
}

/**
 * Deepest container nesting a decoder accepts: the deepest value the codec
 * encodes (MAX_DEPTH levels, see codec.ts) inside the deepest envelope that
 * carries values (a silo-to-silo frame, a state record), with room to spare.
 */
export const MAX_DECODE_DEPTH = 256 + 8;

/** Largest bigint the codec carries: a magnitude of at most 1 KiB (below 2^8192). */
export const MAX_BIGNUM_BYTES = 1024;

/** For data this process or an authenticated peer wrote: only the structural checks. */
export const TRUSTED_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxDepth: MAX_DECODE_DEPTH,
  maxBignumBytes: Number.POSITIVE_INFINITY,
  maxHashedNumbers: Number.POSITIVE_INFINITY,
  maxItems: Number.POSITIVE_INFINITY,
  maxHeapItems: Number.POSITIVE_INFINITY,
  maxObjectKeys: Number.POSITIVE_INFINITY,
});

/** For frames from clients: the structural checks and the cost bounds. */
export const UNTRUSTED_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxDepth: MAX_DECODE_DEPTH,
  maxBignumBytes: MAX_BIGNUM_BYTES,
  maxHashedNumbers: 1024,
  maxItems: 131_072,
  maxHeapItems: 32_768,
  maxObjectKeys: 4096,
});

// The tags the codec writes (cbor-x with useRecords: false), plus tag 0, which
// other standard encoders use for dates, and 55799, the self-describing prefix.
// Everything else (shared values 28/29, records, packed values, typed arrays
// other than Uint8Array, generic objects, …) is refused: the codec never
// writes it, and cbor-x's handling of several of them costs far more than
// their size (shared values make DAGs that a checker walks exponentially).
const TAG_DATE_STRING = 0;
const TAG_DATE_EPOCH = 1;
const TAG_BIGNUM = 2;
const TAG_NEGATIVE_BIGNUM = 3;
const TAG_UINT8ARRAY = 64;
const TAG_SET = 258;
const TAG_MAP = 259;
const TAG_SELF_DESCRIBE = 55799;
/** Longest date string under tag 0 ("2024-01-01T00:00:00.000000000+00:00" is 35 bytes). */
const MAX_DATE_STRING = 64;

// What the item after a tag must be.
const EXPECT_ANY = 0;
const EXPECT_DATE_STRING = 1;
const EXPECT_NUMBER = 2;
const EXPECT_BIGNUM = 3;
const EXPECT_BYTES = 4;
const EXPECT_SET = 5;
const EXPECT_MAP = 6;

// Per open container: items left (-1: indefinite length) and flags.
const FLAG_MAP = 1;
/** A Map (tag 259) or a Set (tag 258): its numeric keys / items are counted. */
const FLAG_HASHED = 2;
/** In a map: the next item is a key. */
const FLAG_KEY_NEXT = 4;

const BREAK = 0xff;

/** New keys of plain objects remembered, to tell a record's repeated field names from new keys. */
const RECENT_KEYS = 16;
/** Longer keys are always counted as new (comparing them could cost more than they do). */
const MAX_COMPARED_KEY = 64;

let scratchLeft = new Float64Array(MAX_DECODE_DEPTH + 1);
let scratchFlags = new Uint8Array(MAX_DECODE_DEPTH + 1);
const scratchRecent = new Int32Array(2 * RECENT_KEYS);

/**
 * Check that `bytes` hold exactly one well-formed CBOR item that the codec may
 * decode within `limits`; otherwise throw a {@link CodecError} saying what and
 * at which byte. One pass over the item headers, no recursion, no allocation.
 */
export function checkCbor(bytes: Uint8Array, limits: DecodeLimits): void {
  const end = bytes.length;
  const maxDepth = limits.maxDepth;
  const maxBignum = limits.maxBignumBytes;
  const maxHashed = limits.maxHashedNumbers;
  const maxItems = limits.maxItems;
  const maxHeapItems = limits.maxHeapItems;
  const maxObjectKeys = limits.maxObjectKeys;
  const countKeys = maxObjectKeys !== Number.POSITIVE_INFINITY;
  if (scratchLeft.length < maxDepth + 1) {
    scratchLeft = new Float64Array(maxDepth + 1);
    scratchFlags = new Uint8Array(maxDepth + 1);
  }
  // Shared scratch space (the check is synchronous and never re-entered); a level is written before it is read.
  const left = scratchLeft;
  const flags = scratchFlags;
  let depth = 0;
  let pos = 0;
  let hashed = 0;
  let items = 0;
  let heapItems = 0;
  let objectKeys = 0;
  const recent = scratchRecent; // start, length of each remembered key
  let recentCount = 0;
  let recentNext = 0;
  let expect = EXPECT_ANY;
  let done = false;

  for (;;) {
    if (pos >= end) {
      if (!done) refuse(pos, end, "data ends in the middle of an item");
      return;
    }
    if (done) refuse(pos, end, "data goes on after the end of the item");
    const start = pos;
    const initial = bytes[pos++] as number;
    const major = initial >> 5;
    const info = initial & 0x1f;
    let complete = false;

    if (initial === BREAK) {
      if (depth === 0 || left[depth] !== -1 || expect !== EXPECT_ANY) {
        refuse(start, end, "break code outside an indefinite-length array or map");
      }
      const f = flags[depth] as number;
      if ((f & FLAG_MAP) !== 0 && (f & FLAG_KEY_NEXT) === 0) refuse(start, end, "map ends between a key and its value");
      depth--;
      complete = true; // the container just closed is one item of its parent
    } else {
      // The argument: an integer, a length, a count, or a tag number.
      let arg: number;
      if (info < 24) arg = info;
      else if (info === 24) {
        if (pos + 1 > end) refuse(start, end, "data ends in an item header");
        arg = bytes[pos] as number;
        pos += 1;
      } else if (info === 25) {
        if (pos + 2 > end) refuse(start, end, "data ends in an item header");
        arg = ((bytes[pos] as number) << 8) | (bytes[pos + 1] as number);
        pos += 2;
      } else if (info === 26) {
        if (pos + 4 > end) refuse(start, end, "data ends in an item header");
        arg = uint32(bytes, pos);
        pos += 4;
      } else if (info === 27) {
        if (pos + 8 > end) refuse(start, end, "data ends in an item header");
        // Lengths and counts this large never fit; integers and floats need no value here.
        arg = uint32(bytes, pos) > 0 ? Number.POSITIVE_INFINITY : uint32(bytes, pos + 4);
        pos += 8;
      } else if (info === 31) arg = -1;
      else arg = refuse(start, end, `item header 0x${initial.toString(16)} is reserved`);

      if (expect !== EXPECT_ANY) {
        // The item a tag wraps: of the kind the tag needs.
        const e = expect;
        expect = EXPECT_ANY;
        if (e === EXPECT_DATE_STRING) {
          if (major !== 3 || arg > MAX_DATE_STRING) {
            refuse(start, end, `tag 0 needs a date string of at most ${MAX_DATE_STRING} bytes`);
          }
        } else if (e === EXPECT_NUMBER) {
          if (major > 1 && !(major === 7 && info >= 25 && info <= 27)) refuse(start, end, "tag 1 needs a number");
        } else if (e === EXPECT_BIGNUM) {
          if (major !== 2 || arg === -1) refuse(start, end, "a bignum tag needs a byte string");
          if (arg > maxBignum) refuse(start, end, `bignum of ${arg} bytes is over the limit of ${maxBignum}`);
          // Building a bigint costs about what 8 of its bytes as separate values would.
          heapItems += arg >> 3;
        } else if (e === EXPECT_BYTES) {
          if (major !== 2) refuse(start, end, "tag 64 needs a byte string");
        } else if (e === EXPECT_SET) {
          if (major !== 4) refuse(start, end, "tag 258 (Set) needs an array");
          expect = EXPECT_SET; // for the container opened below
        } else if (e === EXPECT_MAP) {
          if (major !== 5) refuse(start, end, "tag 259 (Map) needs a map");
          expect = EXPECT_MAP;
        }
      } else if (depth > 0) {
        // A new item in a container: a key of a Map or an item of a Set? A key of a plain object?
        const f = flags[depth] as number;
        if (countKeys && (f & (FLAG_MAP | FLAG_HASHED | FLAG_KEY_NEXT)) === (FLAG_MAP | FLAG_KEY_NEXT)) {
          let seen = false;
          if (major === 3 && arg <= MAX_COMPARED_KEY && arg <= end - pos) {
            for (let j = 0; j < recentCount && !seen; j++) {
              if (recent[2 * j + 1] === arg) seen = sameBytes(bytes, recent[2 * j] as number, pos, arg);
            }
            if (!seen) {
              recent[2 * recentNext] = pos;
              recent[2 * recentNext + 1] = arg;
              recentNext = (recentNext + 1) % RECENT_KEYS;
              if (recentCount < RECENT_KEYS) recentCount++;
            }
          }
          if (!seen && ++objectKeys > maxObjectKeys) {
            refuse(start, end, `more than ${maxObjectKeys} distinct keys in objects (send big dictionaries as a Map)`);
          }
        } else if ((f & FLAG_HASHED) !== 0 && ((f & FLAG_MAP) === 0 || (f & FLAG_KEY_NEXT) !== 0)) {
          const numeric =
            major <= 1 ||
            (major === 7 && info >= 25 && info <= 27) ||
            (major === 6 && (arg === TAG_BIGNUM || arg === TAG_NEGATIVE_BIGNUM));
          if (numeric && ++hashed > maxHashed) {
            refuse(start, end, `more than ${maxHashed} numbers as Map keys or Set items (use strings, or an array)`);
          }
        }
      }

      // Every header but a tag's starts a data item; all but numbers and simple values allocate.
      if (major !== 6 && ++items > maxItems) refuse(start, end, `more than ${maxItems} values in one item`);
      if (major >= 2 && major <= 6 && ++heapItems > maxHeapItems) {
        refuse(
          start,
          end,
          `more than ${maxHeapItems} strings, byte strings, arrays, maps and tagged values in one item`,
        );
      }

      switch (major) {
        case 0:
        case 1:
          if (arg === -1) refuse(start, end, "an integer cannot have an indefinite length");
          complete = true;
          break;
        case 2:
        case 3:
          if (arg === -1) refuse(start, end, "indefinite-length strings are not accepted");
          if (arg > end - pos) refuse(start, end, `string of ${arg} bytes runs past the end of the data`);
          pos += arg;
          complete = true;
          break;
        case 4:
        case 5: {
          const isMap = major === 5;
          const count = arg === -1 ? -1 : isMap ? arg * 2 : arg;
          // Every item takes at least one byte: a count beyond what is left is a lie.
          if (count > end - pos) {
            refuse(start, end, `${isMap ? "map" : "array"} of ${arg} entries runs past the end of the data`);
          }
          const kind = expect;
          expect = EXPECT_ANY;
          if (count === 0) {
            complete = true;
            break;
          }
          if (depth >= maxDepth) refuse(start, end, `arrays and maps are nested deeper than ${maxDepth} levels`);
          depth++;
          left[depth] = count;
          flags[depth] =
            (isMap ? FLAG_MAP | FLAG_KEY_NEXT : 0) | (kind === EXPECT_SET || kind === EXPECT_MAP ? FLAG_HASHED : 0);
          break;
        }
        case 6:
          if (arg === -1) refuse(start, end, "a tag cannot have an indefinite length");
          expect = expectAfterTag(arg, start, end, depth === 0 && start === 0);
          break;
        default:
          // false, true, null, undefined, and floats of every width; no other simple values.
          if (info < 20 || info === 24 || info === 31) {
            refuse(start, end, `simple value ${info === 24 ? arg : info} is not accepted`);
          }
          complete = true;
      }
    }

    // An item is complete: count it against its container; close containers that are full.
    while (complete) {
      if (depth === 0) {
        done = true;
        break;
      }
      const f = flags[depth] as number;
      if ((f & FLAG_MAP) !== 0) flags[depth] = f ^ FLAG_KEY_NEXT;
      const n = left[depth] as number;
      if (n === -1) break; // a break code closes it
      if (n > 1) {
        left[depth] = n - 1;
        break;
      }
      depth--;
    }
  }
}

/** What must follow tag `tag`; throws for tags the codec does not accept. */
function expectAfterTag(tag: number, at: number, end: number, first: boolean): number {
  switch (tag) {
    case TAG_DATE_STRING:
      return EXPECT_DATE_STRING;
    case TAG_DATE_EPOCH:
      return EXPECT_NUMBER;
    case TAG_BIGNUM:
    case TAG_NEGATIVE_BIGNUM:
      return EXPECT_BIGNUM;
    case TAG_UINT8ARRAY:
      return EXPECT_BYTES;
    case TAG_SET:
      return EXPECT_SET;
    case TAG_MAP:
      return EXPECT_MAP;
    case TAG_SELF_DESCRIBE:
      // Only as the prefix of the whole item, where standard encoders put it.
      if (first) return EXPECT_ANY;
      return refuse(at, end, "tag 55799 (self-described CBOR) is only accepted at the start");
    case 28:
    case 29:
      return refuse(at, end, `tag ${tag} (shared values) is not accepted: send each value in full`);
    default:
      return refuse(
        at,
        end,
        `tag ${tag} is not accepted (the protocol uses tags 0, 1, 2, 3, 64, 258 and 259, and 55799 as a prefix)`,
      );
  }
}

function sameBytes(b: Uint8Array, a: number, c: number, length: number): boolean {
  for (let i = 0; i < length; i++) if (b[a + i] !== b[c + i]) return false;
  return true;
}

function uint32(b: Uint8Array, at: number): number {
  return (
    (b[at] as number) * 0x1000000 +
    (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
  );
}

function refuse(at: number, end: number, what: string): never {
  throw new CodecError(`CBOR refused: ${what} (at byte ${at} of ${end})`);
}
