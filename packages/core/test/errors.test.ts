import {
  ActorError,
  CorruptStateError,
  DeadlockError,
  deserializeError,
  PraasError,
  SiloUnavailableError,
  StateConflictError,
  serializeError,
  TimeoutError,
} from "@praas/core/internal";
import { describe, expect, it } from "vitest";

describe("error serialization", () => {
  it("rebuilds framework errors as their own classes with stable codes", () => {
    const originals = [
      new DeadlockError(["A/1", "B/2", "A/1"]),
      new TimeoutError("late"),
      new StateConflictError("memory:X/y", "3"),
      new CorruptStateError("/tmp/f", "bad"),
      new SiloUnavailableError("gone"),
    ];
    for (const original of originals) {
      const copy = deserializeError(serializeError(original));
      expect(copy).toBeInstanceOf(original.constructor);
      expect(copy).toBeInstanceOf(PraasError);
      expect(copy.name).toBe(original.name);
      expect(copy.code).toBe(original.code);
      expect(copy.message).toBe(original.message);
      expect(copy.retryable).toBe(original.retryable);
    }
    expect((deserializeError(serializeError(originals[0])) as DeadlockError).cycle).toEqual(["A/1", "B/2", "A/1"]);
  });

  it("carries user errors as ActorError with their name, message and code", () => {
    const user = Object.assign(new TypeError("bad thing"), { code: "E_BAD" });
    const copy = deserializeError(serializeError(user));
    expect(copy).toBeInstanceOf(ActorError);
    expect(copy).toMatchObject({ name: "TypeError", message: "bad thing", code: "E_BAD" });
    expect(deserializeError(serializeError(new Error("x"))).code).toBe("ACTOR_ERROR");
    expect(deserializeError(serializeError(42)).message).toBe("non-Error value thrown");
  });

  it("keeps the retryable flag of an error whose class this process does not know (a store's, in a client)", () => {
    const storeError = new PraasError("SOME_STORE_REFUSAL", "refused; send it again", { retryable: true });
    storeError.name = "SomeStoreError";
    const copy = deserializeError(serializeError(storeError));
    expect(copy).toMatchObject({ name: "SomeStoreError", code: "SOME_STORE_REFUSAL", retryable: true });
    expect(deserializeError(serializeError(new Error("x"))).retryable).toBe(false);
  });

  it("does not let a user error pose as a framework class by name", () => {
    const fake = Object.assign(new Error("pretend"), { name: "ActorError", code: "TIMEOUT" });
    expect(deserializeError(serializeError(fake))).toBeInstanceOf(ActorError);
  });
});
