import type { ActorRef } from "@praas/core";
import { describe, expectTypeOf, test } from "vitest";
import type { Client, ClientRef, EventInfo, Subscription } from "../src/index.js";
import type { Counter } from "./helpers.js";

declare const client: Client;

describe("client references are typed like in-silo references", () => {
  test("methods keep their parameters and return a promise of the awaited result", () => {
    const counter = client.ref<Counter>("Counter", "a");
    expectTypeOf(counter.add).toEqualTypeOf<(n: number) => Promise<number>>();
    // A synchronous method is still a promise through a reference.
    expectTypeOf(counter.get).toEqualTypeOf<() => Promise<number>>();
    expectTypeOf(counter.id).toEqualTypeOf<import("@praas/core").ActorId>();
    // The same members as the silo's ActorRef, plus `on`.
    expectTypeOf<Omit<ClientRef<Counter>, "on">>().toEqualTypeOf<Omit<ActorRef<Counter>, never>>();
  });

  test("wrong arguments, base members and private-by-convention methods are compile errors", () => {
    const counter = client.ref<Counter>("Counter", "a");
    // @ts-expect-error: add takes a number
    void counter.add("1");
    // @ts-expect-error: Actor's own members are not callable remotely
    void counter.onActivate;
    // @ts-expect-error: state is not reachable through a reference
    void counter.state;
  });

  test("events are typed when an event map is given", () => {
    const counter = client.ref<Counter, { changed: number; renamed: string }>("Counter", "a");
    const sub = counter.on("changed", (value, info) => {
      expectTypeOf(value).toEqualTypeOf<number>();
      expectTypeOf(info).toEqualTypeOf<EventInfo>();
    });
    expectTypeOf(sub).toEqualTypeOf<Subscription>();
    expectTypeOf(sub.ready).toEqualTypeOf<Promise<void>>();
    // @ts-expect-error: not in the event map
    counter.on("deleted", () => {});
    // Without a map, any event name and an unknown payload.
    client.ref<Counter>("Counter", "a").on("anything", (v) => expectTypeOf(v).toEqualTypeOf<unknown>());
  });
});

test('"*" receives any event of the map', () => {
  client.ref<Counter, { changed: number; renamed: string }>("Counter", "a").on("*", (v) => {
    expectTypeOf(v).toEqualTypeOf<number | string>();
  });
});

/** An event map written as an interface (no index signature), as users often declare them. */
interface CounterEvents {
  changed: number;
  reset: { readonly by: string };
}

test("an event map may be an interface", () => {
  const counter = client.ref<Counter, CounterEvents>("Counter", "a");
  counter.on("changed", (value) => expectTypeOf(value).toEqualTypeOf<number>());
  counter.on("reset", (value) => expectTypeOf(value).toEqualTypeOf<{ readonly by: string }>());
  counter.on("*", (value) => expectTypeOf(value).toEqualTypeOf<number | { readonly by: string }>());
  // @ts-expect-error: not in the event map
  counter.on("deleted", () => {});
  // @ts-expect-error: the payload of "changed" is a number
  counter.on("changed", (value: string) => void value);
  // @ts-expect-error: an event map is an object type, not a primitive
  client.ref<Counter, string>("Counter", "a");
});
