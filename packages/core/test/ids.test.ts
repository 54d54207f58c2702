import {
  ActorTypeNotFoundError,
  InvalidArgumentError,
  MethodNotFoundError,
  parseActorId,
  quoteValue,
  validateKey,
  validateTypeName,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";

/** The message of the error `fn` throws. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error("expected a throw");
}

describe("error messages quote bad values briefly", () => {
  it("an invalid 2,000-character key is named by its start and its length, not echoed whole", () => {
    const key = `${"k".repeat(1999)}\n`;
    const message = messageOf(() => validateKey(key));
    expect(message.length).toBeLessThan(300);
    expect(message).toMatch(/^Invalid actor key "kkkk.*… \(2000 chars\): /);
  });

  it("so are invalid type names and Type/key strings", () => {
    expect(messageOf(() => validateTypeName(`9${"x".repeat(5000)}`)).length).toBeLessThan(300);
    expect(messageOf(() => parseActorId("y".repeat(5000))).length).toBeLessThan(300);
    expect(new MethodNotFoundError("Counter", "m".repeat(5000)).message.length).toBeLessThan(300);
    expect(new ActorTypeNotFoundError("T".repeat(1024)).message.length).toBeLessThan(300);
  });

  it("short values are quoted whole, as before", () => {
    expect(messageOf(() => validateKey(""))).toMatch(/^Invalid actor key "": /);
    expect(new MethodNotFoundError("Counter", "nope").message).toBe(
      'Actor type "Counter" has no callable method "nope"',
    );
    expect(quoteValue(12)).toBe("12");
    expect(quoteValue(10n)).toBe("10");
    expect(quoteValue(undefined)).toBe("undefined");
    expect(quoteValue("a".repeat(100), 10)).toBe('"aaaaaaaaa… (100 chars)');
  });
});
