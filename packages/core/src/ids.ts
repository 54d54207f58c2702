import { InvalidArgumentError } from "./errors.js";
import { quoteValue } from "./excerpt.js";

/** The identity of a virtual actor: its type name and its key. */
export interface ActorId {
  readonly type: string;
  readonly key: string;
}

/** Longest accepted type name or key, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 1024;

// Control characters would make ids ambiguous in logs, file names and the wire.
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is exactly what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;
const TYPE_NAME = /^[A-Za-z_$][A-Za-z0-9_$.-]*$/;

export function validateTypeName(type: unknown): string {
  if (typeof type !== "string" || !TYPE_NAME.test(type) || type.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(
      `Invalid actor type name ${quoteValue(type)}: use letters, digits, _ $ . - (≤ ${MAX_NAME_LENGTH} chars), starting with a letter, _ or $`,
    );
  }
  return type;
}

export function validateKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_NAME_LENGTH || CONTROL.test(key)) {
    throw new InvalidArgumentError(
      `Invalid actor key ${quoteValue(key)}: a non-empty string of at most ${MAX_NAME_LENGTH} chars without control characters`,
    );
  }
  return key;
}

/** "Type/key": the canonical string form used in tables, logs and error messages. */
export function actorIdString(type: string, key: string): string {
  return `${type}/${key}`;
}

export function formatActorId(id: ActorId): string {
  return actorIdString(id.type, id.key);
}

/** Parse "Type/key" (the key may itself contain slashes). */
export function parseActorId(text: string): ActorId {
  const slash = text.indexOf("/");
  if (slash <= 0) throw new InvalidArgumentError(`Expected "Type/key", got ${quoteValue(text)}`);
  return { type: validateTypeName(text.slice(0, slash)), key: validateKey(text.slice(slash + 1)) };
}
