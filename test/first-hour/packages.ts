/**
 * The packages as a user gets them: `npm pack` each publishable package,
 * install the tarballs in a project outside the repository (dependencies from
 * the npm cache or registry), type-check a user's file that imports every
 * public entry point with `skipLibCheck: false`, then run it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO_ROOT, run, runOk, userEnv } from "./shell.js";

/** Every package a user may install, by workspace folder. */
const PUBLISHED = {
  "@praas/core": "packages/core",
  "@praas/silo": "packages/silo",
  "@praas/client": "packages/client",
  "@praas/redis": "packages/redis",
  "@praas/storage-s3": "packages/storage-s3",
  "@praas/testing": "packages/testing",
  "@praas/praas": "apps/praas",
} as const;
type Name = keyof typeof PUBLISHED;

interface Packed {
  readonly name: Name;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>;
};

describe("published packages", () => {
  let dir: string;
  let packed: Packed[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "praas-packages-"));
    const workspaces = Object.keys(PUBLISHED).flatMap((name) => ["-w", name]);
    const r = await runOk("npm", ["pack", "--json", "--pack-destination", dir, ...workspaces], {
      cwd: REPO_ROOT,
      timeoutMs: 120_000,
    });
    packed = JSON.parse(r.out) as Packed[];
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("each tarball holds the license, its package.json, built code with types, and no tests", () => {
    expect(packed.map((p) => p.name).sort()).toEqual(Object.keys(PUBLISHED).sort());
    const license = readFileSync(join(REPO_ROOT, "LICENSE"), "utf8");
    for (const p of packed) {
      const paths = p.files.map((f) => f.path);
      expect(paths, p.name).toContain("LICENSE");
      expect(paths, p.name).toContain("package.json");
      expect(paths, p.name).toContain("dist/index.js");
      expect(paths, p.name).toContain("dist/index.d.ts");
      expect(
        paths.filter((f) => /(^|\/)test\/|\.tsbuildinfo$/.test(f)),
        p.name,
      ).toEqual([]);
      // The copy in each package is the project's license, word for word.
      expect(readFileSync(join(REPO_ROOT, PUBLISHED[p.name], "LICENSE"), "utf8"), p.name).toBe(license);
      const manifest = JSON.parse(readFileSync(join(REPO_ROOT, PUBLISHED[p.name], "package.json"), "utf8"));
      expect(manifest.license, p.name).toBe("MIT");
    }
  });

  test("installed in a project of a user's: every entry point type-checks strictly, runs, and praas is on the PATH", {
    timeout: 420_000,
  }, async () => {
    const app = join(dir, "app");
    const tarball = (name: Name) => `file:${join(dir, (packed.find((p) => p.name === name) as Packed).filename)}`;
    const dependencies = Object.fromEntries(Object.keys(PUBLISHED).map((name) => [name, tarball(name as Name)]));
    mkdirSync(app);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "a-users-app",
        private: true,
        type: "module",
        dependencies,
        // What a user of these packages has anyway: Node's types, and vitest for @praas/testing's vitest helpers.
        devDependencies: {
          "@types/node": rootPackage.devDependencies["@types/node"],
          vitest: rootPackage.devDependencies.vitest,
        },
      }),
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          skipLibCheck: false,
          types: ["node"],
          outDir: "out",
        },
        include: ["*.ts"],
      }),
    );
    writeFileSync(join(app, "types-only.ts"), TYPES_ONLY);
    writeFileSync(join(app, "main.ts"), MAIN);
    const env = userEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" });
    await runOk("npm", ["install", "--prefer-offline"], { cwd: app, env, timeoutMs: 300_000 });

    const tsc = join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    const typed = await run(process.execPath, [tsc, "-p", "."], { cwd: app, env, timeoutMs: 120_000 });
    expect(typed.out + typed.err).toBe("");
    expect(typed.code).toBe(0);

    const ran = await run(process.execPath, ["out/main.js"], { cwd: app, env, timeoutMs: 60_000 });
    expect(ran).toMatchObject({ code: 0, out: "counter 5, event 5, saved in S3, redis store ok\n" });

    const help = await run("npx", ["praas", "--help"], { cwd: app, env, timeoutMs: 60_000 });
    expect(help).toMatchObject({ code: 0, out: expect.stringMatching(/^praas — run and use PraaS silos/), err: "" });
  });
});

/** Every public entry point, imported whole: with skipLibCheck false, tsc checks each one's declarations. */
const TYPES_ONLY = `
import type * as core from "@praas/core";
import type * as silo from "@praas/silo";
import type * as client from "@praas/client";
import type * as redis from "@praas/redis";
import type * as s3 from "@praas/storage-s3";
import type * as testing from "@praas/testing";
import type * as conformance from "@praas/testing/conformance";
import type * as testingVitest from "@praas/testing/vitest";
import type * as praas from "@praas/praas";

export type Everything = [
  typeof core, typeof silo, typeof client, typeof redis, typeof s3,
  typeof testing, typeof conformance, typeof testingVitest, typeof praas,
];
`;

/** A user's program: an actor, a silo on S3 storage, a client over WebSocket, a Redis store. */
const MAIN = `
import { retryDelay } from "@praas/core";
import { Actor, Silo, startGateway } from "@praas/silo";
import { connect } from "@praas/client";
import { redisStateStore } from "@praas/redis";
import { s3Storage } from "@praas/storage-s3";
import { createS3Bucket, startRedisServer, startS3Server } from "@praas/testing";
import { USAGE } from "@praas/praas";

interface CounterEvents {
  changed: number;
}

export class Counter extends Actor<{ value: number }> {
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    this.emit("changed", this.state.value);
    return this.state.value;
  }
}

const s3 = await startS3Server({ buckets: [] });
await createS3Bucket(s3, "app-state");
const storage = s3Storage({ bucket: "app-state", endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, forcePathStyle: true });
const silo = await Silo.start({ actors: [Counter], storage });
const gateway = await startGateway(silo, { port: 0 });
const client = await connect(gateway.wsUrl);
const counter = client.ref<Counter, CounterEvents>("Counter", "a");
let changed!: (v: number) => void;
const event = new Promise<number>((resolve) => (changed = resolve));
await counter.on("changed", (v) => { if (v === 5) changed(v); }).ready;
await silo.ref(Counter, "a").add(2);
const total: number = await counter.add(3);
const seen = await event;
await silo.deactivate(silo.ref(Counter, "a"));
const stored = await storage.load({ type: "Counter", key: "a" });
await client.close();
await gateway.close();
await silo.stop();
await s3.stop();

const redis = await startRedisServer();
const store = redisStateStore({ url: redis.url });
const nothing = await store.load({ type: "Counter", key: "none" });
await store.close();
await redis.stop();

if (!USAGE.startsWith("praas") || retryDelay({ initialDelayMs: 10, maxDelayMs: 10, jitter: "none" }, 1) !== 10) {
  throw new Error("unexpected exports");
}
console.log(\`counter \${total}, event \${seen}, \${stored === undefined ? "NOT saved" : "saved in S3"}, redis store \${nothing === undefined ? "ok" : "?"}\`);
`;
