import { randomFillSync } from "node:crypto";

/**
 * Layout of a state object in S3: a 24-byte header, then the state record.
 *
 *   bytes 0–6   "PRAASS3"   marks the object as ours (anything else is foreign)
 *   byte  7     format      this layout's version, so it can evolve
 *   bytes 8–23  random      makes every write's bytes, hence its ETag, unique
 *
 * The random part matters: S3's ETag of a simple PUT is the MD5 of the body, so
 * writing the same state twice would give the same ETag, and an activation
 * holding an old ETag could pass an `If-Match` after its object was deleted
 * and rewritten. The format is also stored as metadata (`praas-format`) so
 * people browsing the bucket can see what the objects are.
 */
export const S3_OBJECT_FORMAT = 1;
export const HEADER_BYTES = 24;
const MAGIC = Buffer.from("PRAASS3", "ascii");

/** The bytes to upload for `record`: one copy, header first. */
export function encodeObject(record: Uint8Array): Buffer {
  const body = Buffer.allocUnsafe(HEADER_BYTES + record.byteLength);
  MAGIC.copy(body, 0);
  body[MAGIC.length] = S3_OBJECT_FORMAT;
  randomFillSync(body, MAGIC.length + 1, HEADER_BYTES - MAGIC.length - 1);
  body.set(record, HEADER_BYTES);
  return body;
}

/** The record inside a stored object (a view, no copy), or why it is not one of ours. */
export function decodeObject(body: Uint8Array): { record: Uint8Array } | { problem: string } {
  if (body.byteLength < HEADER_BYTES || !MAGIC.equals(body.subarray(0, MAGIC.length))) {
    return { problem: "not a PraaS state object (no PraaS header; written by something else, or truncated)" };
  }
  const format = body[MAGIC.length];
  if (format !== S3_OBJECT_FORMAT) {
    return { problem: `object format ${format} is not supported (expected ${S3_OBJECT_FORMAT})` };
  }
  return { record: body.subarray(HEADER_BYTES) };
}
