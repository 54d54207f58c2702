import {
  Actor,
  ActorError,
  ActorTypeNotFoundError,
  CodecError,
  MethodNotFoundError,
  PraasError,
  StaleActivationError,
} from "@praas/silo";
import { describe, expect, it } from "vitest";
import { Counter, testSilo } from "./fixtures.js";

class PaymentError extends Error {
  readonly code = "PAYMENT_DECLINED";
  constructor(message: string) {
    super(message);
    this.name = "PaymentError";
  }
}

class Thrower extends Actor {
  fail(): never {
    throw new PaymentError("card expired");
  }
  async failLater(): Promise<never> {
    await Promise.resolve();
    throw new PaymentError("card expired later");
  }
  plain(): never {
    throw new Error("boom");
  }
  notAnError(): never {
    throw "just a string";
  }
  framework(): never {
    throw new StaleActivationError("X/y");
  }
  returnsFunction(): () => void {
    return () => {};
  }
  returnsInstance(): object {
    return new PaymentError("not data");
  }
  take(_v: unknown): string {
    return "taken";
  }
  _hidden(): string {
    return "hidden";
  }
}

describe("errors reach the caller", () => {
  it("with the name, message and code of an error thrown by a method", async () => {
    const { silo } = await testSilo([Thrower]);
    const ref = silo.ref(Thrower, "t");
    for (const call of [() => ref.fail(), () => ref.failLater()]) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ActorError);
      expect(err).toMatchObject({ name: "PaymentError", code: "PAYMENT_DECLINED" });
      expect((err as Error).message).toMatch(/^card expired/);
    }
    await expect(ref.plain()).rejects.toMatchObject({ name: "Error", code: "ACTOR_ERROR", message: "boom" });
    await expect(ref.notAnError()).rejects.toMatchObject({ code: "ACTOR_ERROR", message: "just a string" });
    await silo.stop();
  });

  it("as a copy, never the thrown object itself (the same as across silos)", async () => {
    const { silo } = await testSilo([Thrower]);
    const err = await silo
      .ref(Thrower, "t")
      .fail()
      .catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(PaymentError);
    await silo.stop();
  });

  it("rebuilding framework errors as their own classes", async () => {
    const { silo } = await testSilo([Thrower]);
    const err = await silo
      .ref(Thrower, "t")
      .framework()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleActivationError);
    expect(err).toBeInstanceOf(PraasError);
    expect(err).toMatchObject({ code: "STALE_ACTIVATION", retryable: true });
    await silo.stop();
  });

  it("MethodNotFoundError for unknown, private and Actor-owned methods", async () => {
    const { silo } = await testSilo([Thrower]);
    const ref = silo.ref(Thrower, "t") as unknown as Record<string, () => Promise<unknown>>;
    for (const name of ["nope", "_hidden", "saveState", "onActivate", "constructor", "toString", "__proto__"]) {
      const err = await (ref[name] as () => Promise<unknown>)().catch((e: unknown) => e);
      expect(err, name).toBeInstanceOf(MethodNotFoundError);
      expect((err as MethodNotFoundError).code).toBe("METHOD_NOT_FOUND");
    }
    await silo.stop();
  });

  it("ActorTypeNotFoundError for a class the silo does not host", async () => {
    const { silo } = await testSilo([Thrower]);
    await expect(silo.ref(Counter, "c").get()).rejects.toBeInstanceOf(ActorTypeNotFoundError);
    await expect(silo.call("Nope", "k", "m", [])).rejects.toMatchObject({ code: "ACTOR_TYPE_NOT_FOUND" });
    await silo.stop();
  });

  it("CodecError at the call site for arguments the codec cannot carry", async () => {
    const { silo } = await testSilo([Thrower]);
    const ref = silo.ref(Thrower, "t");
    const cases: [unknown, RegExp][] = [
      [() => 1, /arguments of Thrower\.take\[0\] is a function/],
      [Symbol("s"), /is a symbol/],
      [new PaymentError("x"), /instance of class PaymentError/],
      [{ nested: [1, { f: () => 2 }] }, /\[0\]\.nested\[1\]\.f is a function/],
      [new Float64Array(2), /Float64Array; use a Uint8Array/],
    ];
    for (const [arg, message] of cases) {
      const err = await ref.take(arg).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CodecError);
      expect((err as Error).message).toMatch(message);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(ref.take(cyclic)).rejects.toThrow(/circular reference/);
    await silo.stop();
  });

  it("CodecError for results the codec cannot carry", async () => {
    const { silo } = await testSilo([Thrower]);
    await expect(silo.ref(Thrower, "t").returnsFunction()).rejects.toThrow(
      /result of Thrower\.returnsFunction is a function/,
    );
    await expect(silo.ref(Thrower, "t").returnsInstance()).rejects.toThrow(/instance of class PaymentError/);
    await silo.stop();
  });
});
