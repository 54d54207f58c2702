import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freshBucket, redisUrl, s3Server, uniqueName } from "@praas/testing/vitest";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";

// `praas start --cluster … --storage s3` in real processes, against this run's Redis and S3 server.
const here = dirname(fileURLToPath(import.meta.url));
const main = join(here, "../dist/main.js");
const actors = join(here, "fixtures", "actors.mjs");

let dir: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
  dir = mkdtempSync(join(tmpdir(), "praas-cluster-cli-"));
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly banner: string;
  output(): string;
  readonly exited: Promise<number | null>;
}

/** Run `praas start …` and wait for its banner. */
function startPraas(args: string[], env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [main, "start", "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const http = /HTTP\s+(http:\/\/\S+)/.exec(out);
      if (http?.[1] && out.includes("SIGTERM or Ctrl-C")) {
        resolve({ child, url: http[1], banner: out, output: () => out, exited });
      }
    });
    child.stderr?.on("data", (d: Buffer) => {
      out += d.toString();
    });
    void exited.then((code) => reject(new Error(`praas start exited with ${code}: ${out}`)));
  });
}

function runPraas(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [main, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), out: stdout, err: stderr });
    });
  });
}

interface ClusterJson {
  self: string;
  silos: { id: string; status: string; address?: string }[];
}

/** GET /v1/cluster until `done` holds (the other process joins on its own schedule). */
async function clusterUntil(url: string, done: (v: ClusterJson) => boolean): Promise<ClusterJson> {
  let last = "";
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${url}/v1/cluster`);
    last = await res.text();
    if (res.ok && done(JSON.parse(last) as ClusterJson)) return JSON.parse(last) as ClusterJson;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`cluster view never settled; last: ${last}`);
}

describe("praas start in a cluster with S3 storage", () => {
  test("two processes form one cluster, keep one counter, and a restart finds its state in the bucket", async () => {
    const s3 = s3Server();
    const bucket = await freshBucket("cli");
    const cluster = uniqueName("cli");
    const aws = {
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      // Every silo of the cluster proves this secret to the others.
      PRAAS_CLUSTER_SECRET: `cli-test-${cluster}-secret`,
    };

    // Silo A from flags, silo B from the environment.
    const a = startPraas(
      [
        ...["--actors", actors, "--cluster", cluster, "--redis-url", redisUrl(), "--storage", "s3"],
        ...["--s3-bucket", bucket, "--s3-endpoint", s3.endpoint, "--s3-region", s3.region, "--s3-path-style"],
      ],
      aws,
    );
    const b = startPraas(["--actors", actors], {
      ...aws,
      PRAAS_CLUSTER: cluster,
      PRAAS_REDIS_URL: redisUrl(),
      PRAAS_STORAGE: "s3",
      PRAAS_S3_BUCKET: bucket,
      PRAAS_S3_ENDPOINT: s3.endpoint,
      PRAAS_S3_REGION: s3.region,
      PRAAS_S3_PATH_STYLE: "true",
    });
    const [sa, sb] = await Promise.all([a, b]);
    for (const s of [sa, sb]) {
      expect(s.banner).toContain(`state      s3://${bucket}/ at ${s3.endpoint}`);
      expect(s.banner).toMatch(new RegExp(`cluster {4}${cluster}: silo-to-silo 127\\.0\\.0\\.1:\\d+`));
      expect(s.banner).toContain(`reminders  Redis hash praas:${cluster}:reminders`);
    }
    const idA = /PraaS silo (silo-\S+)/.exec(sa.banner)?.[1] as string;
    const idB = /PraaS silo (silo-\S+)/.exec(sb.banner)?.[1] as string;

    // Either gateway shows both silos.
    for (const s of [sa, sb]) {
      const view = await clusterUntil(s.url, (v) => v.silos.length === 2);
      expect(view.silos.map((x) => x.id).sort()).toEqual([idA, idB].sort());
    }
    const text = await runPraas(["status", "--url", sb.url]);
    expect(text.out).toContain(`answered by ${idB}`);
    expect(text.out).toMatch(new RegExp(`${idA} {2}\\w+ {2}127\\.0\\.0\\.1:\\d+`));

    // One counter, whichever gateway the call enters.
    expect((await runPraas(["call", "Counter/x", "add", "1", "--url", sa.url])).out).toBe("1\n");
    expect((await runPraas(["call", "Counter/x", "add", "1", "--url", sb.url])).out).toBe("2\n");
    expect((await runPraas(["call", "Counter/x", "get", "--url", sa.url])).out).toBe("2\n");

    sa.child.kill("SIGTERM");
    sb.child.kill("SIGTERM");
    expect(await Promise.all([sa.exited, sb.exited])).toEqual([0, 0]);

    // One silo again, from a config file: the counter's state comes back from the bucket.
    const config = join(dir, "cluster.json");
    writeFileSync(
      config,
      JSON.stringify({
        actors: [actors],
        cluster,
        redisUrl: redisUrl(),
        storage: "s3",
        s3Bucket: bucket,
        s3Endpoint: s3.endpoint,
        s3Region: s3.region,
        s3PathStyle: true,
      }),
    );
    const again = await startPraas(["--config", config], aws);
    const view = await clusterUntil(again.url, (v) => v.silos.length === 1);
    expect(view.silos[0]?.id).toBe(view.self);
    expect((await runPraas(["call", "Counter/x", "get", "--url", again.url])).out).toBe("2\n");
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  });

  test("bad combinations exit 2 with a message naming the setting and its source", async () => {
    const start = (args: string[], env: Record<string, string> = {}) =>
      runPraas(["start", "--actors", actors, "--port", "0", ...args], env);
    const badConfig = join(dir, "bad.json");
    writeFileSync(badConfig, JSON.stringify({ cluster: "c", redisUrl: "http://localhost:6379" }));
    const cases: [Promise<{ code: number; err: string }>, RegExp][] = [
      [
        start(["--cluster", "c"]),
        /cluster \(--cluster\) needs Redis for membership: give --redis-url, \$PRAAS_REDIS_URL/,
      ],
      [start([], { PRAAS_CLUSTER: "c" }), /cluster \(\$PRAAS_CLUSTER\) needs Redis/],
      [
        start(["--storage", "s3"]),
        /storage is s3 \(--storage\) but no bucket is set: give --s3-bucket, \$PRAAS_S3_BUCKET/,
      ],
      [start([], { PRAAS_STORAGE: "redis" }), /storage is redis \(\$PRAAS_STORAGE\) but no Redis URL is set/],
      [
        start(["--storage", "dynamo"]),
        /storage \(--storage\) must be one of lmdb, fs, s3, redis, memory, got "dynamo"/,
      ],
      [
        start(["--s3-bucket", "some-bucket"]),
        /s3Bucket \(--s3-bucket\) only applies to --storage s3, but storage is lmdb/,
      ],
      [
        start(["--storage", "memory", "--state-dir", dir]),
        /stateDir \(--state-dir\) only applies to --storage lmdb or fs/,
      ],
      [start(["--cluster-port", "7100"]), /clusterPort \(--cluster-port\) only applies to a cluster silo/],
      [start(["--redis-url", redisUrl()]), /redisUrl \(--redis-url\) is not used/],
      [start(["--config", badConfig]), /redisUrl \(config file\) must be a redis:\/\/… or rediss:\/\/… URL/],
      [
        start(["--cluster", "c", "--redis-url", redisUrl(), "--advertise", "nohost"]),
        /advertise \(--advertise\) must be "host:port"/,
      ],
      // Found by the silo itself, reported with the praas settings to change. No secret is
      // refused on loopback too: any local process could otherwise call past --token.
      [
        start(
          ["--cluster", "c", "--redis-url", redisUrl(), "--cluster-host", "0.0.0.0", "--advertise", "127.0.0.1:7999"],
          {
            PRAAS_CLUSTER_SECRET: "",
          },
        ),
        /cluster\.secret is required.*give --cluster-secret/,
      ],
      [
        start(["--cluster", "c", "--redis-url", redisUrl(), "--token", "t0ken-t0ken"], { PRAAS_CLUSTER_SECRET: "" }),
        /cluster\.secret is required.*give --cluster-secret or \$PRAAS_CLUSTER_SECRET/,
      ],
      [
        start(["--cluster", "c", "--redis-url", redisUrl(), "--cluster-secret", "short"]),
        /cluster\.secret must be a string of at least 16 characters/,
      ],
    ];
    const results = await Promise.all(cases.map(([run]) => run));
    results.forEach((r, i) => {
      expect(r.err).toMatch((cases[i] as [unknown, RegExp])[1]);
      expect(r.code).toBe(2);
    });
  });
});
