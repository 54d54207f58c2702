import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ConfigError, parseArgs, resolveStartConfig, START_FLAGS, UsageError } from "../src/index.js";

describe("flag parsing", () => {
  test("values, booleans, lists, = forms, -- and negative numbers", () => {
    const r = parseArgs(
      ["--port", "1", "--insecure", "--actors=a.js,b.js", "--actors", "c.js", "x", "-1", "--", "--y"],
      {
        port: "string",
        insecure: "boolean",
        actors: "list",
      },
    );
    expect(r.flags).toEqual({ port: "1", insecure: true, actors: ["a.js", "b.js", "c.js"] });
    expect(r.positionals).toEqual(["x", "-1", "--y"]);
  });

  test("unknown, repeated and valueless flags are usage errors", () => {
    expect(() => parseArgs(["--prot", "1"], START_FLAGS)).toThrow(UsageError);
    expect(() => parseArgs(["--prot", "1"], START_FLAGS)).toThrow(/Unknown option --prot \(known: --host, --port/);
    expect(() => parseArgs(["-p", "1"], START_FLAGS)).toThrow(/Unknown option -p/);
    expect(() => parseArgs(["--port", "1", "--port", "2"], START_FLAGS)).toThrow(/given twice/);
    expect(() => parseArgs(["--port"], START_FLAGS)).toThrow(/needs a value/);
    expect(() => parseArgs(["--insecure=maybe"], START_FLAGS)).toThrow(/takes no value/);
  });
});

describe("praas start configuration", () => {
  const cwd = "/work/here";
  const files: Record<string, string> = {
    "/work/conf/praas.json": JSON.stringify({ port: 8000, actors: ["./actors.js", "some-package"], stateDir: "st" }),
    "/work/conf/bad-key.json": JSON.stringify({ prot: 1 }),
    "/work/conf/bad-value.json": JSON.stringify({ port: "eighty" }),
    "/work/conf/bad-limit.json": JSON.stringify({ actors: ["a"], limits: { maxFrames: 2 } }),
    "/work/conf/limits.json": JSON.stringify({ actors: ["a"], limits: { maxFrameBytes: 2048 } }),
    "/work/conf/broken.json": "{ port: 1",
  };
  const readFile = (p: string) => {
    const f = files[p];
    if (f === undefined) throw new Error(`ENOENT: ${p}`);
    return f;
  };
  const resolve = (flags: Record<string, string | boolean | string[]>, env: Record<string, string> = {}) =>
    resolveStartConfig({ flags, env, cwd, readFile });

  test("defaults: loopback on 7070", () => {
    const c = resolve({ actors: ["./a.js"] });
    expect(c).toMatchObject({ host: "127.0.0.1", port: 7070, insecure: false, actors: [join(cwd, "a.js")] });
  });

  test("config file < environment < flags; paths relative to where they were written", () => {
    const fromFile = resolve({ config: "../conf/praas.json" });
    expect(fromFile).toMatchObject({
      port: 8000,
      actors: ["/work/conf/actors.js", "some-package"],
      stateDir: "/work/conf/st",
    });
    const fromEnv = resolve({ config: "../conf/praas.json" }, { PRAAS_PORT: "9000", PRAAS_INSECURE: "true" });
    expect(fromEnv).toMatchObject({ port: 9000, insecure: true });
    const fromFlags = resolve(
      { config: "../conf/praas.json", port: "9100", "state-dir": "s2" },
      { PRAAS_PORT: "9000" },
    );
    expect(fromFlags).toMatchObject({ port: 9100, stateDir: "/work/here/s2" });
    const viaEnvConfig = resolve({}, { PRAAS_CONFIG: "/work/conf/praas.json", PRAAS_ACTORS: "x.js,y.js" });
    expect(viaEnvConfig.actors).toEqual(["/work/here/x.js", "/work/here/y.js"]);
    expect(resolve({ config: "/work/conf/limits.json" }).limits).toEqual({ maxFrameBytes: 2048 });
  });

  test("errors name the bad key and where it came from", () => {
    expect(() => resolve({ config: "/work/conf/bad-key.json" })).toThrow(ConfigError);
    expect(() => resolve({ config: "/work/conf/bad-key.json" })).toThrow(
      /"prot" is not a known key; known: host, port/,
    );
    expect(() => resolve({ config: "/work/conf/bad-value.json" })).toThrow(
      /port \(config file\) must be an integer 0…65535, got "eighty"/,
    );
    expect(() => resolve({ config: "/work/conf/bad-limit.json" })).toThrow(
      /limits.maxFrames \(config file\) is not a known limit/,
    );
    expect(() => resolve({ config: "/work/conf/broken.json" })).toThrow(/not valid JSON/);
    expect(() => resolve({ config: "/work/conf/missing.json" })).toThrow(/Cannot read config file/);
    expect(() => resolve({ actors: ["a"], port: "99999" })).toThrow(/port \(--port\) must be an integer/);
    expect(() => resolve({ actors: ["a"] }, { PRAAS_IDLE_TIMEOUT_MS: "soon" })).toThrow(
      /idleTimeoutMs \(\$PRAAS_IDLE_TIMEOUT_MS\)/,
    );
    expect(() => resolve({ actors: ["a"] }, { PRAAS_INSECURE: "maybe" })).toThrow(
      /insecure \(\$PRAAS_INSECURE\) must be true or false/,
    );
    expect(() => resolve({})).toThrow(/No actors to host/);
  });

  test("secrets from files: one line, trailing line break dropped; unreadable, empty, multi-line or huge files refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "praas-secret-"));
    try {
      const file = (name: string, text: string | Buffer) => {
        const p = join(dir, name);
        writeFileSync(p, text);
        return p;
      };
      const token = file("token", "a-token-from-a-volume\n");
      const secret = file("secret", "a-cluster-secret-of-some-length\r\n");
      const cluster = { actors: ["a"], cluster: "c", "redis-url": "redis://127.0.0.1:6379" };
      const c = resolve({ ...cluster, "token-file": token, "cluster-secret-file": secret });
      expect(c).toMatchObject({ token: "a-token-from-a-volume", clusterSecret: "a-cluster-secret-of-some-length" });
      expect(resolve({ actors: ["a"] }, { PRAAS_TOKEN_FILE: token }).token).toBe("a-token-from-a-volume");
      expect(() => resolve({ actors: ["a"], "token-file": token, token: "t0ken-t0ken" })).toThrow(
        /tokenFile \(--token-file\) and token \(--token\) both give the token/,
      );
      expect(() => resolve({ actors: ["a"], "token-file": join(dir, "missing") })).toThrow(
        /tokenFile \(--token-file\): cannot read/,
      );
      expect(() => resolve({ actors: ["a"], "token-file": file("empty", "\n") })).toThrow(/is empty/);
      expect(() => resolve({ actors: ["a"], "token-file": file("two", "a\nb\n") })).toThrow(/more than one line/);
      expect(() => resolve({ actors: ["a"], "token-file": file("big", Buffer.alloc(5000, 97)) })).toThrow(
        /holds 5000 bytes; a secret file holds at most 4096/,
      );
      // The cluster secret file only applies to a cluster; in the environment it is harmless, as the secret is.
      expect(() => resolve({ actors: ["a"], "cluster-secret-file": secret })).toThrow(/only applies to a cluster silo/);
      expect(resolve({ actors: ["a"] }, { PRAAS_CLUSTER_SECRET_FILE: join(dir, "missing") }).clusterSecret).toBe(
        undefined,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("membership timings: cluster only, dead-after at least twice the heartbeat", () => {
    const cluster = { actors: ["a"], cluster: "c", "redis-url": "redis://127.0.0.1:6379" };
    expect(resolve({ ...cluster, "heartbeat-ms": "200", "dead-after-ms": "900" })).toMatchObject({
      heartbeatMs: 200,
      deadAfterMs: 900,
    });
    expect(() => resolve({ ...cluster, "heartbeat-ms": "500", "dead-after-ms": "900" })).toThrow(
      /deadAfterMs \(--dead-after-ms\) must be at least 2 × the heartbeat period \(500 ms\)/,
    );
    expect(() => resolve({ actors: ["a"], "heartbeat-ms": "200" })).toThrow(
      /heartbeatMs \(--heartbeat-ms\) only applies to a cluster silo/,
    );
    expect(() => resolve({ ...cluster }, { PRAAS_DEAD_AFTER_MS: "0" })).toThrow(/must be an integer ≥ 1, got "0"/);
  });

  test("store timeouts: each only where its store is used, whole ms in 1…600000", () => {
    const redis = "redis://127.0.0.1:6379";
    const s3 = { actors: ["a"], storage: "s3", "s3-bucket": "bucket" };
    expect(resolve({ ...s3, "s3-request-timeout-ms": "2500" })).toMatchObject({ s3RequestTimeoutMs: 2500 });
    expect(() => resolve({ actors: ["a"], "s3-request-timeout-ms": "2500" })).toThrow(
      /s3RequestTimeoutMs \(--s3-request-timeout-ms\) only applies to --storage s3, but storage is lmdb/,
    );
    expect(() => resolve({ ...s3, "s3-request-timeout-ms": "0" })).toThrow(/must be an integer 1…600000, got "0"/);
    // Redis holds state (--storage redis) or reminders (a cluster's default): both take the timeout.
    expect(
      resolve({ actors: ["a"], storage: "redis", "redis-url": redis, "redis-command-timeout-ms": "700" }),
    ).toMatchObject({ redisCommandTimeoutMs: 700 });
    expect(resolve({ ...s3, cluster: "c", "redis-url": redis, "redis-command-timeout-ms": "700" })).toMatchObject({
      redisCommandTimeoutMs: 700,
      reminders: "redis",
    });
    expect(() => resolve({ actors: ["a"], "redis-command-timeout-ms": "700" })).toThrow(
      /redisCommandTimeoutMs \(--redis-command-timeout-ms\) only applies where Redis holds state or reminders.*storage is lmdb and reminders are local/,
    );
  });
});
