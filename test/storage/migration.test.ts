import { Actor, ManualClock, Silo, type SiloFailure, StateVersionError } from "@praas/silo";
import { afterEach, describe, expect, it } from "vitest";
import { providers, rejection, type StoreScope, storedRecord } from "./providers.js";

/** Version 1 of a profile: one name string. */
class ProfileV1 extends Actor<{ name: string }> {
  static readonly actorType = "Profile";
  static initialState() {
    return { name: "" };
  }
  rename(name: string): void {
    this.state.name = name;
  }
  read(): unknown {
    return this.state;
  }
}

interface ProfileV2State {
  first: string;
  last: string;
  tags: string[];
}

/** Version 2: split names and tags; knows how to read version 1. */
class ProfileV2 extends Actor<ProfileV2State> {
  static readonly actorType = "Profile";
  static readonly stateVersion = 2;
  static migrations = 0;
  static initialState(): ProfileV2State {
    return { first: "", last: "", tags: [] };
  }
  static migrateState(old: unknown, fromVersion: number): ProfileV2State {
    ProfileV2.migrations++;
    if (fromVersion !== 1) throw new Error(`cannot migrate from version ${fromVersion}`);
    const [first = "", last = ""] = (old as { name: string }).name.split(" ");
    return { first, last, tags: [] };
  }
  tag(t: string): void {
    this.state.tags.push(t);
  }
  read(): ProfileV2State {
    return this.state;
  }
}

/** A version 2 whose migration fails. */
class BrokenMigration extends ProfileV2 {
  static override migrateState(): ProfileV2State {
    throw new Error("migration exploded");
  }
}

describe.each(providers)("state migration ($name)", (provider) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  /** Failures the silos reported (activations that could not load), instead of logging them. */
  const failures: SiloFailure[] = [];
  afterEach(async () => {
    failures.length = 0;
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function silo(scope: StoreScope, actor: typeof ProfileV1 | typeof ProfileV2): Promise<Silo> {
    const s = await Silo.start({ actors: [actor], storage: scope.open(), clock: new ManualClock() });
    s.on("failure", (f) => failures.push(f));
    cleanups.push(() => s.stop());
    return s;
  }

  async function scopeWithV1State(): Promise<StoreScope> {
    const scope = await provider.scope();
    cleanups.push(scope.cleanup);
    const v1 = await silo(scope, ProfileV1);
    await v1.ref(ProfileV1, "ada").rename("Ada Lovelace");
    await v1.stop();
    expect(await storedRecord(scope, { type: "Profile", key: "ada" })).toEqual({
      stateVersion: 1,
      state: { name: "Ada Lovelace" },
    });
    return scope;
  }

  it("migrates version 1 state to version 2 on load, and stores it as version 2", async () => {
    const scope = await scopeWithV1State();
    const v2 = await silo(scope, ProfileV2);
    const before = ProfileV2.migrations;
    const ref = v2.ref(ProfileV2, "ada");
    expect(await ref.read()).toEqual({ first: "Ada", last: "Lovelace", tags: [] });
    expect(ProfileV2.migrations).toBe(before + 1);
    await ref.tag("math");
    await v2.deactivate(ref);
    expect(await storedRecord(scope, { type: "Profile", key: "ada" })).toEqual({
      stateVersion: 2,
      state: { first: "Ada", last: "Lovelace", tags: ["math"] },
    });
    // Loading version 2 state runs no migration.
    expect(await ref.read()).toEqual({ first: "Ada", last: "Lovelace", tags: ["math"] });
    expect(ProfileV2.migrations).toBe(before + 1);
  });

  it("refuses state newer than the code knows, with a clear error, and leaves it alone", async () => {
    const scope = await scopeWithV1State();
    const v2 = await silo(scope, ProfileV2);
    await v2.ref(ProfileV2, "ada").tag("x");
    await v2.stop();

    const old = await silo(scope, ProfileV1);
    const err = await rejection(old.ref(ProfileV1, "ada").read());
    expect(err).toBeInstanceOf(StateVersionError);
    expect(err.code).toBe("STATE_VERSION_TOO_NEW");
    expect(err.message).toMatch(/version 2, newer than version 1/);
    expect(old.isActive({ type: "Profile", key: "ada" })).toBe(false);
    expect(failures.map((f) => [f.kind, f.actor])).toEqual([["activate", "Profile/ada"]]);
    await old.stop();
    expect((await storedRecord(scope, { type: "Profile", key: "ada" }))?.stateVersion).toBe(2);
    // Other actors of the type are unaffected.
    const fresh = await silo(scope, ProfileV1);
    await fresh.ref(ProfileV1, "bob").rename("Bob");
    expect(await fresh.ref(ProfileV1, "bob").read()).toEqual({ name: "Bob" });
  });

  it("refuses older state when the class has no migrateState, saying so", async () => {
    const scope = await scopeWithV1State();
    class NoMigration extends ProfileV1 {
      static readonly stateVersion = 2;
    }
    const s = await silo(scope, NoMigration as unknown as typeof ProfileV1);
    const err = await rejection(s.ref(NoMigration, "ada").read());
    expect(err).toBeInstanceOf(StateVersionError);
    expect(err.code).toBe("STATE_MIGRATION_MISSING");
    expect(err.message).toMatch(
      /version 1, older than version 2 of the code, and its class defines no static migrateState/,
    );
    expect((await storedRecord(scope, { type: "Profile", key: "ada" }))?.stateVersion).toBe(1);
  });

  it("fails the call when a migration throws, and keeps the old state", async () => {
    const scope = await scopeWithV1State();
    const broken = await silo(scope, BrokenMigration);
    const err = await rejection(broken.ref(BrokenMigration, "ada").read());
    expect(err.message).toContain("migration exploded");
    expect(failures.map((f) => [f.kind, f.actor])).toEqual([["activate", "Profile/ada"]]);
    await broken.stop();
    expect(await storedRecord(scope, { type: "Profile", key: "ada" })).toEqual({
      stateVersion: 1,
      state: { name: "Ada Lovelace" },
    });
  });
});
