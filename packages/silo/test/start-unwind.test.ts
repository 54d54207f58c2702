/**
 * A start that fails at a late step gives back everything the earlier steps
 * took: cluster membership, the silo-to-silo port, the stores and the state
 * folder's lock. And the scope that does it runs its cleanups last-in first-out.
 */
import { createServer } from "node:net";
import { MemoryMembershipRegistry, MemoryReminderStore, MemoryStateStore, memoryMembership } from "@praas/core";
import { Actor, type ReminderRecord, Silo } from "@praas/silo";
import { freePort } from "@praas/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Scope } from "../src/scope.js";
import { tempDir } from "./fixtures.js";

class Noop extends Actor {
  ping(): string {
    return "pong";
  }
}

/** A reminder store that cannot be read: the silo's last start step (loading its reminders) fails. */
class UnreadableReminders extends MemoryReminderStore {
  closed = false;
  override async list(): Promise<ReminderRecord[]> {
    throw new Error("reminder store unreadable");
  }
  override async close(): Promise<void> {
    this.closed = true;
  }
}

function listenOn(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("Silo.start failing late", () => {
  it("leaves the cluster, frees its port, closes the stores and releases the state folder", async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const registry = new MemoryMembershipRegistry();
    const port = await freePort();
    const reminders = new UnreadableReminders();
    await expect(
      Silo.start({
        actors: [Noop],
        stateDir: dir,
        reminders,
        log: () => {},
        cluster: {
          name: "unwind",
          membership: memoryMembership(registry),
          secret: "unwind-test-secret",
          listen: { host: "127.0.0.1", port },
        },
      }),
    ).rejects.toThrow(/reminder store unreadable/);
    // It had joined (the reminders come after the cluster), and left again.
    expect(registry.view().version).toBeGreaterThan(0);
    expect(registry.view().silos.filter((s) => s.status === "active")).toEqual([]);
    await listenOn(port);
    expect(reminders.closed).toBe(true);
    // The embedded store's folder lock is free: another silo can take the folder.
    const next = await Silo.start({ actors: [Noop], stateDir: dir });
    expect(await next.ref(Noop, "a").ping()).toBe("pong");
    await next.stop();
  });

  it("releases the state folder when a single silo's start fails", async () => {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    await expect(Silo.start({ actors: [Noop], stateDir: dir, reminders: new UnreadableReminders() })).rejects.toThrow(
      /unreadable/,
    );
    const next = await Silo.start({ actors: [Noop], stateDir: dir });
    await next.stop();
  });
});

describe("Silo.stop", () => {
  it("is bounded when the membership store stops answering: leave and close are given up on, and reported", async () => {
    const registry = new MemoryMembershipRegistry();
    const inner = memoryMembership(registry);
    // A membership whose leave() and close() never settle (Redis frozen at the wrong moment).
    const hung = new Proxy(inner, {
      get(target, prop) {
        if (prop === "leave" || prop === "close") return () => new Promise<void>(() => {});
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const lines: string[] = [];
    const silo = await Silo.start({
      actors: [Noop],
      storage: new MemoryStateStore(),
      log: (_level, message) => lines.push(message),
      cluster: {
        drainTimeoutMs: 200,
        name: "bounded",
        membership: hung,
        secret: "bounded-stop-secret",
        listen: { host: "127.0.0.1", port: 0 },
      },
    });
    expect(await silo.ref(Noop, "a").ping()).toBe("pong");
    const failures: string[] = [];
    silo.on("failure", (f) => failures.push(`${f.kind} ${String((f.error as Error).message)}`));
    await silo.stop(); // hangs for ever without the bound
    const said = [...lines, ...failures].join("\n");
    expect(said).toMatch(/membership leave did not finish within 200 ms/);
    expect(said).toMatch(/membership close did not finish within 200 ms/);
  });
});

describe("Scope", () => {
  it("runs cleanups last-in first-out, all of them, and returns their errors", async () => {
    const scope = new Scope();
    const ran: number[] = [];
    scope.defer(() => ran.push(1));
    scope.defer(() => {
      ran.push(2);
      throw new Error("two");
    });
    scope.defer(async () => {
      await Promise.resolve();
      ran.push(3);
    });
    const errors = await scope.close();
    expect(ran).toEqual([3, 2, 1]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["two"]);
    // Once only.
    expect(await scope.close()).toEqual([]);
    expect(ran).toEqual([3, 2, 1]);
    expect(() => scope.defer(() => {})).toThrow(/closed/);
  });
});
