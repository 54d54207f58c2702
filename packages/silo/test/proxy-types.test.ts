/**
 * Type-level tests: `tsc -b` (part of `npm test`) checks the `expectTypeOf`
 * assertions and that every `@ts-expect-error` line really is an error.
 */
import { Actor, type ActorId, type ActorRef, MemoryStateStore, Silo } from "@praas/silo";
import { describe, expect, expectTypeOf, it } from "vitest";

interface CartState {
  items: string[];
}

class Cart extends Actor<CartState> {
  static initialState(): CartState {
    return { items: [] };
  }
  async add(item: string, quantity = 1): Promise<number> {
    for (let i = 0; i < quantity; i++) this.state.items.push(item);
    return this.state.items.length;
  }
  list(): readonly string[] {
    return this.state.items;
  }
  nothing(): void {}
  async nested(): Promise<Promise<{ ok: true }>> {
    return Promise.resolve({ ok: true as const });
  }
  _internal(): number {
    return 1;
  }
  #secret(): number {
    return 2;
  }
  private hidden(): number {
    return this.#secret();
  }
  protected guarded(): number {
    return this.hidden();
  }
  readonly label = "not a method";
  get computed(): number {
    return this.guarded();
  }
  override async onActivate(): Promise<void> {}
}

describe("typed proxies", () => {
  it("expose exactly the public methods, each returning a Promise of the awaited result", async () => {
    const silo = await Silo.start({ actors: [Cart], storage: new MemoryStateStore() });
    const cart = silo.ref(Cart, "u1");

    expectTypeOf(cart).toEqualTypeOf<ActorRef<Cart>>();
    expectTypeOf(cart.add).toEqualTypeOf<(item: string, quantity?: number) => Promise<number>>();
    expectTypeOf(cart.list).toEqualTypeOf<() => Promise<readonly string[]>>();
    expectTypeOf(cart.nothing).toEqualTypeOf<() => Promise<void>>();
    expectTypeOf(cart.nested).returns.resolves.toEqualTypeOf<{ ok: true }>();
    expectTypeOf(cart.id).toEqualTypeOf<ActorId>();
    expectTypeOf<keyof ActorRef<Cart>>().toEqualTypeOf<"add" | "list" | "nothing" | "nested" | "id">();

    // @ts-expect-error _-prefixed methods are not exposed
    cart._internal;
    // @ts-expect-error private methods are not exposed
    cart.hidden;
    // @ts-expect-error protected methods are not exposed
    cart.guarded;
    // @ts-expect-error fields are not methods
    cart.label;
    // @ts-expect-error getters are not methods
    cart.computed;
    // @ts-expect-error Actor's own members are not exposed
    cart.state;
    // @ts-expect-error Actor's own members are not exposed
    cart.saveState;
    // @ts-expect-error lifecycle hooks are not exposed, even when overridden publicly
    cart.onActivate;
    // @ts-expect-error arguments are checked
    const wrongArgs = () => cart.add(42);
    expectTypeOf(wrongArgs).toBeFunction();

    expect(await cart.add("apple", 2)).toBe(2);
    expect(await cart.list()).toEqual(["apple", "apple"]);
    await silo.stop();
  });

  it("type refs made inside actors the same way", () => {
    class Other extends Actor {
      async useCart(): Promise<number> {
        const cart = this.ref(Cart, "x");
        expectTypeOf(cart.add).returns.toEqualTypeOf<Promise<number>>();
        return cart.add("pear");
      }
    }
    expectTypeOf<ActorRef<Other>["useCart"]>().toEqualTypeOf<() => Promise<number>>();
  });
});
