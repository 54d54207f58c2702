import { type LogLevel, logAtLeast } from "@praas/core/internal";
import { Actor, MemoryStateStore, Silo } from "@praas/silo";
import { afterEach, describe, expect, test } from "vitest";
import { ConfigError, createLogger, type Io, resolveStartConfig, runCommand } from "../src/index.js";

/** A pino destination that keeps the lines it is given. */
function collector(): { write(line: string): void; lines: string[]; json(): Record<string, unknown>[] } {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(...line.split("\n").filter((l) => l.length > 0));
    },
    json() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

class Grumpy extends Actor<{ n: number }> {
  static initialState() {
    return { n: 0 };
  }
  poke(): number {
    return ++this.state.n;
  }
  override onDeactivate(): void {
    throw new Error("cannot let go");
  }
}

let silo: Silo | undefined;
afterEach(async () => {
  await silo?.stop();
  silo = undefined;
});

describe("the praas logger", () => {
  test("drops lines below the level", () => {
    const out = collector();
    const { log } = createLogger({ level: "warn", format: "json", destination: out });
    log("debug", "d");
    log("info", "i");
    log("warn", "w");
    log("error", "e");
    expect(out.json().map((l) => [l.level, l.msg])).toEqual([
      ["warn", "w"],
      ["error", "e"],
    ]);
    const all = collector();
    createLogger({ level: "debug", format: "json", destination: all }).log("debug", "d");
    expect(all.json()).toHaveLength(1);
    const none = collector();
    createLogger({ level: "silent", format: "json", destination: none }).log("error", "e");
    expect(none.lines).toEqual([]);
  });

  test("logAtLeast filters a plain log function for embedded users", () => {
    const seen: LogLevel[] = [];
    const log = logAtLeast("info", (level) => seen.push(level));
    for (const level of ["debug", "info", "warn", "error"] as const) log(level, level);
    expect(seen).toEqual(["info", "warn", "error"]);
  });

  test("JSON lines: one object per line with level name, time, silo, actor and the error", () => {
    const out = collector();
    const logger = createLogger({ level: "info", format: "json", destination: out });
    logger.log("info", "before the silo is known");
    logger.setSilo("silo-abc");
    logger.log("warn", "Counter/a: save failed", { actor: "Counter/a", error: new Error("disk full") });
    logger.log("info", "from another silo", { silo: "silo-def" });
    const [first, second, third] = out.json();
    expect(first).toMatchObject({ level: "info", msg: "before the silo is known" });
    expect(first).not.toHaveProperty("silo");
    expect(typeof first?.time).toBe("string");
    expect(Number.isNaN(Date.parse(first?.time as string))).toBe(false);
    expect(second).toMatchObject({
      level: "warn",
      silo: "silo-abc",
      actor: "Counter/a",
      msg: "Counter/a: save failed",
    });
    expect(second?.err).toMatchObject({ type: "Error", message: "disk full" });
    expect(String((second?.err as { stack?: string } | undefined)?.stack)).toContain("disk full");
    expect(third).toMatchObject({ silo: "silo-def" });
  });

  test("pretty lines are readable: time, level, silo, actor, message", () => {
    const out = collector();
    const logger = createLogger({ level: "info", format: "pretty", destination: out });
    logger.log("warn", "save failed", { silo: "silo-abc", actor: "Counter/a" });
    const text = out.lines.join("\n");
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN.*: silo-abc Counter\/a: save failed$/m);
    expect(text).not.toContain("{");
  });

  test("a silo's lines carry its id, and the actor's id where one is concerned", async () => {
    const out = collector();
    silo = await Silo.start({
      actors: [Grumpy],
      storage: new MemoryStateStore(),
      log: createLogger({ level: "info", format: "json", destination: out }).log,
    });
    await silo.ref(Grumpy, "g1").poke();
    await silo.deactivate(silo.ref(Grumpy, "g1"));
    await expect.poll(() => out.json().find((l) => String(l.msg).includes("onDeactivate failed"))).toBeDefined();
    const line = out.json().find((l) => String(l.msg).includes("onDeactivate failed"));
    expect(line).toMatchObject({ level: "warn", silo: silo.siloId, actor: "Grumpy/g1" });
    expect(line?.err).toMatchObject({ message: "cannot let go" });
  });
});

describe("--log-level", () => {
  const resolve = (flags: Record<string, string>, env: Record<string, string> = {}, file?: string) =>
    resolveStartConfig({ flags, env, cwd: "/w", readFile: () => file ?? "{}" });

  test("accepted from flags, environment and the config file; info by default", () => {
    expect(resolve({ actors: "a.js" }).logLevel).toBe("info");
    expect(resolve({ actors: "a.js", "log-level": "debug" }).logLevel).toBe("debug");
    expect(resolve({ actors: "a.js" }, { PRAAS_LOG_LEVEL: "warn" }).logLevel).toBe("warn");
    expect(resolve({ actors: "a.js", config: "c.json" }, {}, '{"logLevel":"error"}').logLevel).toBe("error");
    expect(resolve({ actors: "a.js", "log-format": "json" }).logFormat).toBe("json");
  });

  test("a bad level is a ConfigError naming the choices and where it came from", () => {
    expect(() => resolve({ actors: "a.js", "log-level": "loud" })).toThrow(ConfigError);
    expect(() => resolve({ actors: "a.js", "log-level": "loud" })).toThrow(
      /logLevel \(--log-level\) must be one of debug, info, warn, error, silent, got "loud"/,
    );
    expect(() => resolve({ actors: "a.js" }, { PRAAS_LOG_LEVEL: "INFO" })).toThrow(/\$PRAAS_LOG_LEVEL/);
    expect(() => resolve({ actors: "a.js", config: "c.json" }, {}, '{"logLevel":3}')).toThrow(
      /logLevel \(config file\) must be one of/,
    );
    expect(() => resolve({ actors: "a.js", "log-format": "xml" })).toThrow(/must be one of json, pretty/);
  });

  test("praas start --log-level loud exits 2 with the message", async () => {
    const err: string[] = [];
    const io: Io = { out: () => {}, err: (t) => err.push(t), env: {}, cwd: "/w" };
    const outcome = await runCommand(["start", "--actors", "a.js", "--log-level", "loud"], io);
    expect(outcome).toEqual({ exitCode: 2 });
    expect(err.join("\n")).toMatch(/^praas: logLevel \(--log-level\) must be one of .* \[CONFIG\]$/);
  });
});
