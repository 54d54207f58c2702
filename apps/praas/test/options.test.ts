import { defaultText } from "@praas/core/internal";
import { describe, expect, test } from "vitest";
import {
  ConfigError,
  DEFAULTS,
  envOf,
  flagOf,
  resolveStartConfig,
  runCommand,
  SETTINGS,
  START_FLAGS,
  settingHelp,
  settingHint,
  USAGE,
} from "../src/index.js";

/** USAGE's text about one flag, from its line to the next flag's, on one line. */
function helpOf(flag: string): string {
  const withArg = USAGE.indexOf(`      --${flag} `);
  const start = withArg >= 0 ? withArg : USAGE.indexOf(`      --${flag}\n`);
  expect(start, `--${flag} in the help`).toBeGreaterThanOrEqual(0);
  const next = USAGE.slice(start + 8).search(/\n {4,6}\S/);
  return USAGE.slice(start, start + 8 + next).replace(/\s+/g, " ");
}

describe("the help text is generated from the settings' descriptions", () => {
  const flags = SETTINGS.filter((s) => s.fileOnly !== true);

  test("every flag is listed once, with its default", () => {
    expect(flags.length).toBeGreaterThan(30);
    for (const s of flags) {
      const help = helpOf(flagOf(s));
      expect(help).toContain(`(default: ${defaultText(s.spec)})`);
      expect(help).toContain(s.spec.doc);
      const start = USAGE.slice(0, USAGE.indexOf("  praas call"));
      expect(start.split(`      --${flagOf(s)} `).length + start.split(`      --${flagOf(s)}\n`).length - 2).toBe(1);
    }
    // The flags the parser accepts are the ones the help lists (plus --config, described on its own).
    expect(Object.keys(START_FLAGS).sort()).toEqual([...flags.map(flagOf), "config"].sort());
    expect(USAGE).toContain("--config <file.json>");
  });

  test("defaults in the help are the values applied", () => {
    const config = resolveStartConfig({ flags: { actors: ["a.js"] }, env: {}, cwd: "/w" });
    for (const s of SETTINGS) {
      if (s.spec.default === undefined || s.key === "actors") continue;
      expect(config[s.key], s.key).toEqual(s.spec.default);
      expect(DEFAULTS[s.key], s.key).toEqual(s.spec.default);
    }
    expect(helpOf("port")).toContain("(default: 7070)");
    expect(helpOf("idle-timeout-ms")).toContain("(default: 300000)"); // the silo's, not copied
    expect(helpOf("redis-key-prefix")).toContain("(default: praas:state:)");
    expect(helpOf("storage")).toMatch(/^ *--storage lmdb\|fs\|s3\|redis\|memory /);
  });

  test("lines stay within the terminal width", () => {
    for (const s of SETTINGS.filter((x) => x.fileOnly !== true)) {
      for (const line of settingHelp(s)) expect(line.length, line).toBeLessThanOrEqual(104);
    }
  });

  test("flag, variable and config-file key are one name", () => {
    const s = SETTINGS.find((x) => x.key === "redisConnectTimeoutMs");
    expect(s && [flagOf(s), envOf(s)]).toEqual(["redis-connect-timeout-ms", "PRAAS_REDIS_CONNECT_TIMEOUT_MS"]);
  });
});

describe("a bad value names its setting as it was written, from every source", () => {
  const cluster = { actors: ["a"], cluster: "c", "redis-url": "redis://127.0.0.1:6379" };
  const file = "/work/conf/praas.json";
  const caught = (f: () => unknown): ConfigError => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error("expected a ConfigError");
  };

  test("flag", () => {
    const err = caught(() => resolveStartConfig({ flags: { ...cluster, "heartbeat-ms": "soon" }, env: {}, cwd: "/w" }));
    expect(err.path).toBe("--heartbeat-ms");
    expect(err.code).toBe("CONFIG");
    expect(err.message).toBe('heartbeatMs (--heartbeat-ms) must be an integer ≥ 1, got "soon"');
  });

  test("environment", () => {
    const err = caught(() => resolveStartConfig({ flags: cluster, env: { PRAAS_HEARTBEAT_MS: "1.5" }, cwd: "/w" }));
    expect(err.path).toBe("$PRAAS_HEARTBEAT_MS");
    expect(err.message).toBe('heartbeatMs ($PRAAS_HEARTBEAT_MS) must be an integer ≥ 1, got "1.5"');
  });

  test("config file, limits included", () => {
    const read = (text: string) => () =>
      resolveStartConfig({ flags: { ...cluster, config: file }, env: {}, cwd: "/w", readFile: () => text });
    const err = caught(read('{"idleTimeoutMs": -5}'));
    expect(err.path).toBe(`${file}: idleTimeoutMs`);
    expect(err.message).toBe("idleTimeoutMs (config file) must be an integer ≥ 1, got -5");
    const limit = caught(read('{"limits": {"maxFrameBytes": 0}}'));
    expect(limit.path).toBe(`${file}: limits.maxFrameBytes`);
    expect(limit.message).toMatch(/^limits\.maxFrameBytes \(config file\) must be an integer ≥ 1, got 0$/);
  });

  test("a refused Redis URL is shown without its password", () => {
    const err = caught(() =>
      resolveStartConfig({ flags: { ...cluster, "redis-url": "http://u:hunter2@h:1" }, env: {}, cwd: "/w" }),
    );
    expect(err.message).toContain("http://u:***@h:1");
    expect(err.message).not.toContain("hunter2");
  });

  test("an option the silo refuses maps back to the setting that gives it", () => {
    expect(settingHint("cluster.secret")).toBe(
      'give --cluster-secret or $PRAAS_CLUSTER_SECRET (or "clusterSecret" in the config file)',
    );
    expect(settingHint("cluster.listen.port")).toMatch(/^give --cluster-port or \$PRAAS_CLUSTER_PORT/);
    expect(settingHint("cluster.transport.backoffMs")).toBeUndefined();
  });
});

describe("praas call and status flags come from the same descriptions", () => {
  const run = async (argv: string[], env: Record<string, string> = {}) => {
    const err: string[] = [];
    const outcome = await runCommand(argv, { out: () => {}, err: (t) => err.push(t), env, cwd: "/w" });
    return { outcome, err: err.join("\n") };
  };

  test("listed with their defaults, the URL's being praas start's gateway", () => {
    expect(helpOf("url")).toContain(`(default: $PRAAS_URL, else http://${DEFAULTS.host}:${DEFAULTS.port})`);
    expect(helpOf("timeout-ms")).toContain("(call only)");
  });

  test("a bad value names the flag or the variable it came from, exit code 2", async () => {
    const flag = await run(["status", "--url", "ftp://x"]);
    expect(flag.outcome).toEqual({ exitCode: 2 });
    expect(flag.err).toBe('praas: --url must be a http://… or https://… URL, got "ftp://x" [USAGE]');
    const env = await run(["status"], { PRAAS_URL: "localhost:7070" });
    expect(env.err).toMatch(/^praas: \$PRAAS_URL must be a http:\/\/… or https:\/\/… URL, got "localhost:7070"/);
    const timeout = await run(["call", "Counter/a", "add", "--timeout-ms", "-3"]);
    expect(timeout.err).toBe('praas: --timeout-ms must be a positive number, got "-3" [USAGE]');
  });
});
