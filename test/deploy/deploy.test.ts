/**
 * The deployment files (Dockerfile, deploy/kubernetes, deploy/compose,
 * deploy/systemd) checked against the code they deploy: there is no Docker
 * engine or Kubernetes cluster here, so every property is read from the files
 * and compared with the real defaults, settings, routes and metrics — and the
 * Kubernetes environment is run as a real `praas start` process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveStartConfig, START_FLAGS, type StartConfig } from "@praas/praas";
import { freePort } from "@praas/testing";
import { freshBucket, redisUrl, s3Server, uniqueName } from "@praas/testing/vitest";
import { afterEach, describe, expect, test } from "vitest";
import { DEFAULTS } from "../../apps/praas/src/config.js";
import { resolveClusterOptions } from "../../packages/silo/src/cluster/config.js";
import {
  asList,
  asObj,
  asString,
  at,
  composeReferences,
  containerEnv,
  dockerfileStages,
  type EnvSource,
  envInstruction,
  environmentFile,
  execForm,
  filesUnder,
  interpolateCompose,
  type KubeObject,
  kubeEnvironment,
  kubeObjects,
  kubeReferences,
  type Obj,
  only,
  ROOT,
  read,
  type Stage,
  seconds,
  selects,
  systemdUnit,
  yamlDocuments,
} from "./manifests.js";

// ---- what the code says ----

/** Every environment variable `praas start` reads: PRAAS_ + each flag, and PRAAS_CONFIG. */
const KNOWN_ENV = new Set([
  ...Object.keys(START_FLAGS)
    .filter((f) => f !== "config")
    .map((f) => `PRAAS_${f.toUpperCase().replace(/-/g, "_")}`),
  "PRAAS_CONFIG",
]);

/** The silo-to-silo drain bound (each of its two waits), from the cluster options' defaults. */
const CLUSTER_DRAIN_MS = resolveClusterOptions({
  name: "c",
  membership: {
    join() {},
    view() {},
    onChange() {},
    onEvicted() {},
    leaseValidUntil() {},
    clock: {},
    leave() {},
    close() {},
  } as never,
  secret: "a-cluster-secret-for-the-test",
}).drainTimeoutMs;

/** Names that carry secrets: never a literal value in a manifest. */
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|ACCESS_KEY/i;

/** The HTTP route table of the gateway (http-routes.ts): the single-segment GET routes. */
function gatewayRoutes(): { path: string; open: boolean }[] {
  const src = read("packages/silo/src/gateway/http-routes.ts");
  return [...src.matchAll(/s\.length === 1 && s\[0\] === "([a-z]+)"\) return only\("GET", \{([^}]*)\}/g)].map((m) => ({
    path: `/${m[1]}`,
    open: /open: true/.test(m[2] as string),
  }));
}

/** `praas start` settings for an environment, as the CLI would resolve them. */
function configFor(env: Record<string, string>): StartConfig {
  return resolveStartConfig({ flags: {}, env, cwd: "/var/lib/praas" });
}

/** The image's layout is the repository's: /app/x is x here. */
function inRepo(imagePath: string): string {
  if (!imagePath.startsWith("/app/")) throw new Error(`${imagePath} is not under /app`);
  return join(ROOT, imagePath.slice("/app/".length));
}

// ---- the files ----

const KUBE_FILES = filesUnder("deploy/kubernetes").filter((f) => f.endsWith(".yaml"));
const kube = kubeObjects(KUBE_FILES);
const configMap = only(kube, "ConfigMap", "praas-config");
const configData = asObj(configMap.body.data, "praas-config data");
const deployment = only(kube, "Deployment", "praas-silo");
const podSpec = asObj(at(deployment.body, "spec.template.spec"), "pod spec");
const podLabels = at(deployment.body, "spec.template.metadata.labels");
const container = asObj(asList(podSpec.containers, "containers")[0], "container");
const containerPorts = new Map(
  asList(container.ports, "ports").map((p) => [asString(at(p, "name"), "port name"), Number(at(p, "containerPort"))]),
);

const stages = dockerfileStages(read("Dockerfile"));
const runtime = stages[stages.length - 1] as Stage;
const instructionsOf = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const imageEnv: Record<string, string> = Object.assign(
  {},
  ...instructionsOf(runtime, "ENV").map((i) => envInstruction(i.args)),
);
const exposed = instructionsOf(runtime, "EXPOSE").flatMap((i) => i.args.split(/\s+/).map((p) => Number(p)));

/** Stand-ins for what only a cluster knows: secret values and the pod IP. */
const placeholders = (source: EnvSource, name: string): string | undefined => {
  if (source.kind === "field") return source.fieldPath === "status.podIP" ? "10.1.2.3" : undefined;
  if (source.kind === "secret") return `${name.toLowerCase()}-placeholder-0123456789`;
  return undefined;
};
const configMaps = new Map([["praas-config", configData]]);
/** The silo container's environment: the image's ENV, overridden by the manifest's. */
const podEnv = { ...imageEnv, ...kubeEnvironment(container, configMaps, placeholders) };

describe("all deployment files", () => {
  test("every YAML file parses, every document is a mapping", () => {
    const files = filesUnder("deploy").filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(8);
    for (const f of files) expect(yamlDocuments(f).length, f).toBeGreaterThan(0);
  });

  test("every PRAAS_* variable they set is a setting praas start knows", () => {
    const used = new Map<string, string>();
    const note = (names: Iterable<string>, where: string) => {
      for (const n of names) if (n.startsWith("PRAAS_")) used.set(n, where);
    };
    note(Object.keys(imageEnv), "Dockerfile");
    note(Object.keys(configData), configMap.file);
    note(
      containerEnv(container).map((e) => e.name),
      deployment.file,
    );
    for (const [name, service] of Object.entries(composeServices())) {
      note(Object.keys(asObj(service.environment ?? {}, name)), `compose ${name}`);
    }
    note(Object.keys(environmentFile(read("deploy/systemd/praas.env"))), "praas.env");
    // Commented-out settings in praas.env are instructions too.
    note(
      [...read("deploy/systemd/praas.env").matchAll(/^#(PRAAS_[A-Z0-9_]+)=/gm)].map((m) => m[1] as string),
      "praas.env",
    );
    expect(used.size).toBeGreaterThan(15);
    for (const [name, where] of used) expect(KNOWN_ENV.has(name), `${name} in ${where}`).toBe(true);
  });
});

describe("Dockerfile", () => {
  test("multi-stage: the runtime stage is a fresh base, not the build stage", () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const names = stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["build", "prod-deps", "runtime"]));
    expect(names).not.toContain(runtime.from);
    // Nothing from the build context reaches the runtime stage: it copies from other stages only.
    for (const copy of [...instructionsOf(runtime, "COPY"), ...instructionsOf(runtime, "ADD")]) {
      expect(copy.args, `runtime ${copy.keyword} ${copy.args}`).toMatch(/^--from=/);
    }
  });

  test("production dependencies only: node_modules come from npm ci --omit=dev", () => {
    const depsFrom = instructionsOf(runtime, "COPY").filter((c) => /^--from=(\S+)\s+\/app\/\s/.test(c.args));
    expect(depsFrom).toHaveLength(1);
    const depsStageName = /^--from=(\S+)/.exec((depsFrom[0] as { args: string }).args)?.[1];
    const depsStage = stages.find((s) => s.name === depsStageName) as Stage;
    const installs = instructionsOf(depsStage, "RUN").filter((r) => /npm (ci|install)/.test(r.args));
    expect(installs).toHaveLength(1);
    const install = (installs[0] as { args: string }).args;
    expect(install).toMatch(/npm ci\b/);
    expect(install).toMatch(/--omit=dev/);
    // The workspaces it installs exist, and each @praas package they need at run time has its dist copied.
    const workspaces = [...install.matchAll(/--workspace=(\S+)/g)].map((m) => m[1] as string);
    expect(workspaces).toContain("@praas/praas");
    const dirOf = workspaceDirs();
    const needed = new Set<string>();
    const visit = (pkg: string) => {
      if (needed.has(pkg)) return;
      const dir = dirOf.get(pkg);
      expect(dir, `workspace ${pkg}`).toBeDefined();
      needed.add(pkg);
      const deps = JSON.parse(read(`${dir}/package.json`)).dependencies ?? {};
      for (const d of Object.keys(deps)) if (d.startsWith("@praas/")) visit(d);
    };
    for (const w of workspaces) visit(w);
    const copied = instructionsOf(runtime, "COPY").map((c) => c.args);
    for (const pkg of needed) {
      const dir = dirOf.get(pkg) as string;
      expect(
        copied.some((c) => c.includes(`/src/${dir}/dist/ ${dir}/dist/`)),
        `${pkg}: COPY ${dir}/dist`,
      ).toBe(true);
    }
    // No dev tool would be installed: the dev dependencies live at the root only, which the filter leaves out.
    expect(install).not.toMatch(/--include-workspace-root/);
  });

  test("a non-root user runs praas start", () => {
    const users = instructionsOf(runtime, "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = (users[users.length - 1] as { args: string }).args.trim();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const entrypoint = execForm((instructionsOf(runtime, "ENTRYPOINT")[0] as { args: string }).args, "ENTRYPOINT");
    expect(entrypoint).toEqual(["praas", "start"]);
    // `praas` is the CLI's main module, linked onto the PATH; here it is a node script.
    const link = instructionsOf(runtime, "RUN").find((r) => /ln -s \S+ \/usr\/local\/bin\/praas/.test(r.args));
    const target = /ln -s (\S+) \/usr\/local\/bin\/praas/.exec(link?.args ?? "")?.[1] as string;
    expect(target).toBe("/app/apps/praas/dist/main.js");
    // The package's bin is a shim for source checkouts (it builds dist/ when missing); the image
    // has dist/ built, so it links the main module itself.
    expect(JSON.parse(read("apps/praas/package.json")).bin.praas).toBe("./bin/praas.js");
    expect(read("apps/praas/bin/praas.js")).toContain("dist/main.js");
    expect(readFileSync(inRepo(target), "utf8").startsWith("#!/usr/bin/env node")).toBe(true);
  });

  test("HEALTHCHECK asks an open route of the gateway on its port", () => {
    const [hc] = instructionsOf(runtime, "HEALTHCHECK");
    expect(hc).toBeDefined();
    const cmd = /CMD\s+(\[.*\])\s*$/s.exec(hc?.args ?? "")?.[1] as string;
    const script = execForm(cmd, "HEALTHCHECK CMD").join(" ");
    const path = /\/[a-z]+(?=`|'|")/.exec(script)?.[0];
    expect(path).toBe("/healthz");
    expect(gatewayRoutes()).toContainEqual({ path: "/healthz", open: true });
    // It follows PRAAS_PORT, whose image default is the gateway's default port.
    expect(script).toContain("process.env.PRAAS_PORT");
    expect(script).toContain(String(DEFAULTS.port));
  });

  test("ports: EXPOSE the gateway (the code's default) and the silo-to-silo port the deployments use", () => {
    expect(Number(imageEnv.PRAAS_PORT)).toBe(DEFAULTS.port);
    expect(exposed).toContain(DEFAULTS.port);
    expect(exposed).toContain(Number(configData.PRAAS_CLUSTER_PORT));
    expect(exposed).toContain(Number(composeSiloEnv("silo-1").PRAAS_CLUSTER_PORT));
  });

  test("the default actors exist at their image paths, and the image's environment is valid as it is", () => {
    for (const m of asString(imageEnv.PRAAS_ACTORS, "PRAAS_ACTORS").split(",")) {
      expect(existsSync(inRepo(m)), `${m} (run npx tsc -b)`).toBe(true);
    }
    // (Beyond loopback the gateway also wants PRAAS_TOKEN, which the deployment adds.)
    expect(configFor({ ...imageEnv, PRAAS_TOKEN: "t".repeat(24) })).toMatchObject({ host: "0.0.0.0", port: 7070 });
  });

  test(".dockerignore keeps build output, dependencies and git history out of the context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const p of [".git", "**/node_modules", "**/dist", "**/*.tsbuildinfo", "bench/results", ".env"]) {
      expect(ignored, p).toContain(p);
    }
  });
});

describe("Kubernetes manifests", () => {
  test("every manifest is in a kustomization, and every kustomization resource exists", () => {
    const listed = new Set<string>();
    for (const f of KUBE_FILES.filter((f) => f.endsWith("kustomization.yaml"))) {
      const dir = f.slice(0, f.lastIndexOf("/"));
      for (const r of asList(yamlDocuments(f)[0]?.resources, f)) {
        const path = `${dir}/${asString(r, "resource")}`;
        expect(existsSync(join(ROOT, path)), path).toBe(true);
        listed.add(path);
      }
    }
    for (const o of kube) expect(listed.has(o.file), `${o.file} is in no kustomization`).toBe(true);
  });

  test("every object is labelled, and every selector picks the silo pods", () => {
    for (const o of kube) expect(labelsOf(o)["app.kubernetes.io/name"], `${o.file} ${o.kind}`).toBe("praas");
    expect(selects(at(deployment.body, "spec.selector.matchLabels"), podLabels)).toBe(true);
    for (const svc of kube.filter((o) => o.kind === "Service")) {
      expect(selects(at(svc.body, "spec.selector"), podLabels), svc.name).toBe(true);
    }
    expect(selects(at(only(kube, "PodDisruptionBudget").body, "spec.selector.matchLabels"), podLabels)).toBe(true);
    expect(selects(at(only(kube, "NetworkPolicy").body, "spec.podSelector.matchLabels"), podLabels)).toBe(true);
    for (const spread of asList(podSpec.topologySpreadConstraints ?? [], "topologySpreadConstraints")) {
      expect(selects(at(spread, "labelSelector.matchLabels"), podLabels)).toBe(true);
    }
    const hpa = only(kube, "HorizontalPodAutoscaler");
    expect(at(hpa.body, "spec.scaleTargetRef")).toMatchObject({ kind: "Deployment", name: deployment.name });
  });

  test("the PodDisruptionBudget lets at most one silo go at a time, and keeps the Deployment drainable", () => {
    const pdb = only(kube, "PodDisruptionBudget").body;
    const maxUnavailable = at(pdb, "spec.maxUnavailable");
    const minAvailable = at(pdb, "spec.minAvailable");
    const min = Number(at(only(kube, "HorizontalPodAutoscaler").body, "spec.minReplicas"));
    if (maxUnavailable !== undefined) expect(maxUnavailable).toBe(1);
    else expect(Number(minAvailable)).toBeLessThan(min);
    expect(at(deployment.body, "spec.strategy.rollingUpdate.maxUnavailable")).toBe(0);
  });

  test("probes: readiness on /readyz, liveness and startup on /healthz, open routes on the gateway port", () => {
    expect(at(container, "readinessProbe.httpGet.path")).toBe("/readyz");
    expect(at(container, "livenessProbe.httpGet.path")).toBe("/healthz");
    expect(at(container, "startupProbe.httpGet.path")).toBe("/healthz");
    const routes = gatewayRoutes();
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const path = at(container, `${probe}.httpGet.path`);
      // The kubelet sends no token: the route must be one the gateway serves without one.
      expect(routes, `${probe} ${path}`).toContainEqual({ path, open: true });
      expect(containerPorts.get(asString(at(container, `${probe}.httpGet.port`), probe))).toBe(
        Number(podEnv.PRAAS_PORT),
      );
    }
    // A probe that is a little late must not restart a silo: its failover costs more than a slow answer.
    const live = asObj(container.livenessProbe, "livenessProbe");
    expect(Number(live.periodSeconds) * Number(live.failureThreshold)).toBeGreaterThanOrEqual(30);
  });

  test("ports agree: container, ConfigMap, Dockerfile, Services, NetworkPolicy, advertise address", () => {
    expect(containerPorts.get("gateway")).toBe(Number(configData.PRAAS_PORT));
    expect(containerPorts.get("gateway")).toBe(DEFAULTS.port);
    expect(containerPorts.get("cluster")).toBe(Number(configData.PRAAS_CLUSTER_PORT));
    for (const p of containerPorts.values()) expect(exposed).toContain(p);
    for (const svc of kube.filter((o) => o.kind === "Service")) {
      for (const p of asList(at(svc.body, "spec.ports"), svc.name)) {
        expect(containerPorts.has(asString(at(p, "targetPort"), `${svc.name} targetPort`)), svc.name).toBe(true);
      }
    }
    const policy = only(kube, "NetworkPolicy").body;
    for (const rule of asList(at(policy, "spec.ingress"), "ingress")) {
      for (const p of asList(at(rule, "ports"), "ports"))
        expect(containerPorts.has(asString(at(p, "port"), "port"))).toBe(true);
    }
    // The advertise address is the pod IP (downward API) and the listener's port.
    const env = containerEnv(container);
    expect(env.find((e) => e.name === "POD_IP")?.source).toEqual({ kind: "field", fieldPath: "status.podIP" });
    expect(podEnv.PRAAS_ADVERTISE).toBe(`10.1.2.3:${configData.PRAAS_CLUSTER_PORT}`);
    expect(podEnv.PRAAS_CLUSTER_HOST).toBe("0.0.0.0");
  });

  test("the gateway Service and the Ingress reach the gateway port", () => {
    const gateway = only(kube, "Service", "praas-gateway").body;
    const port = asObj(asList(at(gateway, "spec.ports"), "ports")[0], "port");
    expect(port.targetPort).toBe("gateway");
    const ingress = only(kube, "Ingress").body;
    const backend = at(asList(at(asList(at(ingress, "spec.rules"), "rules")[0], "http.paths"), "paths")[0], "backend");
    expect(at(backend, "service.name")).toBe("praas-gateway");
    expect(at(backend, "service.port.name")).toBe(port.name);
    // The bearer token crosses the Ingress: TLS.
    expect(asList(at(ingress, "spec.tls"), "tls").length).toBeGreaterThan(0);
  });

  test("grace period > preStop + gateway drain + the silo's two bounded drain steps", () => {
    const grace = Number(podSpec.terminationGracePeriodSeconds);
    const preStop = asList(at(container, "lifecycle.preStop.exec.command"), "preStop");
    expect(preStop[0]).toBe("sleep");
    const sleepS = Number(preStop[1]);
    const gatewayDrainMs = Number(podEnv.PRAAS_DRAIN_TIMEOUT_MS ?? DEFAULTS.drainTimeoutMs);
    const budgetS = sleepS + (gatewayDrainMs + 2 * CLUSTER_DRAIN_MS) / 1000;
    expect(grace).toBeGreaterThan(budgetS);
    // The margin left is for saving the actors that changed since their last save.
    expect(grace - budgetS).toBeGreaterThanOrEqual(15);
  });

  test("resources: requests set; Node's heap ceiling below the memory limit", () => {
    const requests = asObj(at(container, "resources.requests"), "requests");
    expect(requests.cpu).toBeDefined();
    expect(requests.memory).toBeDefined();
    const limitMiB = mebibytes(asString(at(container, "resources.limits.memory"), "memory limit"));
    expect(limitMiB).toBeGreaterThanOrEqual(mebibytes(asString(requests.memory, "memory request")));
    const heap = Number(/--max-old-space-size=(\d+)/.exec(podEnv.NODE_OPTIONS ?? "")?.[1]);
    expect(heap).toBeGreaterThan(0);
    expect(heap).toBeLessThanOrEqual(limitMiB * 0.8);
  });

  test("secrets are never inlined: every secret comes from a secretKeyRef, no Secret object is shipped", () => {
    expect(kube.filter((o) => o.kind === "Secret")).toEqual([]);
    for (const [k, v] of Object.entries(configData)) {
      expect(SECRET_NAME.test(k), `ConfigMap key ${k}`).toBe(false);
      expect(String(v), `ConfigMap ${k}`).not.toMatch(/\/\/[^/@\s]*:[^/@\s]+@/);
    }
    const env = containerEnv(container);
    for (const { name, source } of env) {
      if (SECRET_NAME.test(name)) expect(source.kind, name).toBe("secret");
      if (source.kind === "value") {
        // A composed value may only bring secrets in by reference.
        expect(source.value, name).not.toMatch(/\/\/[^/@\s$]*:[^/@\s$]+@/);
      }
    }
    for (const name of ["PRAAS_TOKEN", "PRAAS_CLUSTER_SECRET", "REDIS_PASSWORD", "AWS_SECRET_ACCESS_KEY"]) {
      expect(
        env.find((e) => e.name === name),
        name,
      ).toMatchObject({ source: { kind: "secret", secret: "praas-secrets" } });
    }
    // The Redis password reaches the URL by reference only.
    const url = env.find((e) => e.name === "PRAAS_REDIS_URL")?.source;
    expect(url?.kind).toBe("value");
    expect(kubeReferences((url as { value: string }).value)).toContain("REDIS_PASSWORD");
    // The ServiceMonitor's token is the Secret's too.
    expect(at(only(kube, "ServiceMonitor").body, "spec.endpoints")).toEqual([
      expect.objectContaining({
        authorization: { type: "Bearer", credentials: { name: "praas-secrets", key: "gateway-token" } },
      }),
    ]);
  });

  test("docs/deploy.md creates every key of the Secret the manifests read", () => {
    const keys = new Set(
      containerEnv(container)
        .map((e) => e.source)
        .filter((s) => s.kind === "secret")
        .map((s) => (s as { key: string }).key),
    );
    const docs = read("docs/deploy.md");
    const create = /kubectl -n praas create secret generic praas-secrets[^`]*/.exec(docs)?.[0] ?? "";
    expect(create).not.toBe("");
    for (const k of keys) expect(create, `docs: --from-literal=${k}`).toMatch(new RegExp(`--from-literal=${k}=`));
  });

  test("every $(VAR) reference resolves to a variable defined before it", () => {
    const defined = new Set(Object.keys(configData));
    for (const { name, source } of containerEnv(container)) {
      if (source.kind === "value") {
        for (const ref of kubeReferences(source.value)) expect(defined.has(ref), `${name} → $(${ref})`).toBe(true);
      }
      defined.add(name);
    }
    for (const [k, v] of Object.entries(podEnv)) expect(v, k).not.toMatch(/\$\(/);
  });

  test("the pod's environment is a valid praas start configuration: cluster, S3, token, advertise", () => {
    const config = configFor(podEnv);
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: DEFAULTS.port,
      cluster: configData.PRAAS_CLUSTER,
      clusterHost: "0.0.0.0",
      clusterPort: Number(configData.PRAAS_CLUSTER_PORT),
      advertise: `10.1.2.3:${configData.PRAAS_CLUSTER_PORT}`,
      storage: "s3",
      s3Bucket: configData.PRAAS_S3_BUCKET,
      reminders: "redis",
      drainTimeoutMs: Number(configData.PRAAS_DRAIN_TIMEOUT_MS),
    });
    expect(config.token).toMatch(/placeholder/);
    expect(config.clusterSecret).toMatch(/placeholder/);
    const redis = new URL(config.redisUrl as string);
    expect(redis.protocol).toBe(`${configData.REDIS_SCHEME}:`);
    expect(redis.host).toBe(configData.REDIS_ADDRESS);
    expect(redis.password).toMatch(/placeholder/);
    for (const m of config.actors) expect(existsSync(inRepo(m)), m).toBe(true);
  });

  test("the autoscaler's metric is one the adapter serves, from a series the silo exports", () => {
    const hpa = only(kube, "HorizontalPodAutoscaler").body;
    const podMetrics = asList(at(hpa, "spec.metrics"), "metrics")
      .filter((m) => at(m, "type") === "Pods")
      .map((m) => asString(at(m, "pods.metric.name"), "metric name"));
    expect(podMetrics.length).toBeGreaterThan(0);
    const rules = adapterRules();
    for (const name of podMetrics) {
      const rule = rules.find((r) => r.as === name);
      expect(rule, `adapter rule for ${name}`).toBeDefined();
      expect(EXPORTED_AT_METRICS).toContain(rule?.series);
    }
    for (const r of rules) expect(EXPORTED_AT_METRICS, r.series).toContain(r.series);
  });
});

/** Series names the silo's /metrics serves, checked against a live silo in the last test. */
const EXPORTED_AT_METRICS = ["praas_activations", "praas_calls_total"];

describe("Docker Compose", () => {
  test("each silo advertises its own service name on the cluster port, and the settings resolve", () => {
    const services = composeServices();
    const silos = Object.keys(services).filter((s) => s.startsWith("silo-"));
    expect(silos.length).toBeGreaterThanOrEqual(3);
    const hostPorts = new Set<string>();
    for (const s of silos) {
      const env = composeSiloEnv(s);
      const config = configFor({ ...imageEnv, ...env });
      expect(config.advertise).toBe(`${s}:${config.clusterPort}`);
      expect(config.clusterHost).toBe("0.0.0.0");
      expect(config.storage).toBe("s3");
      // The Redis and S3 hosts are services of this file; the bucket is the one the bucket job creates.
      expect(Object.keys(services)).toContain(new URL(config.redisUrl as string).hostname);
      expect(Object.keys(services)).toContain(new URL(config.s3Endpoint as string).hostname);
      const mb = asList(at(services.bucket, "entrypoint"), "bucket entrypoint").join(" ");
      expect(mb).toContain(`local/${config.s3Bucket}`);
      for (const p of asList(services[s]?.ports, `${s} ports`)) {
        const [host, , container] = asString(p, "port").split(":");
        expect(host).toBe("127.0.0.1");
        expect(Number(container)).toBe(config.port);
        hostPorts.add(asString(p, "port").split(":")[1] as string);
      }
      expect(Object.keys(asObj(services[s]?.depends_on, `${s} depends_on`))).toEqual(
        expect.arrayContaining(["redis", "bucket"]),
      );
      expect(seconds(asString(services[s]?.stop_grace_period, "stop_grace_period"))).toBeGreaterThan(
        (config.drainTimeoutMs + 2 * CLUSTER_DRAIN_MS) / 1000,
      );
      expect(at(services[s], "build.context")).toBe("../..");
      expect(
        existsSync(join(ROOT, "deploy/compose", "../..", asString(at(services[s], "build.dockerfile"), "df"))),
      ).toBe(true);
    }
    expect(hostPorts.size).toBe(silos.length);
  });

  test("secrets are interpolated from .env, required, never written in the file", () => {
    const services = composeServices();
    for (const [name, service] of Object.entries(services)) {
      for (const [k, v] of Object.entries(asObj(service.environment ?? {}, name))) {
        if (!SECRET_NAME.test(k) && !/MINIO_ROOT_(USER|PASSWORD)/.test(k)) continue;
        const refs = composeReferences(String(v));
        expect(refs.length, `${name}.${k}`).toBe(1);
        // `${X:?…}`: compose refuses to start without it rather than run with an empty secret.
        expect(String(v), `${name}.${k}`).toMatch(/^\$\{[A-Z_]+:\?[^}]+\}$/);
      }
    }
    expect(() => composeSiloEnv("silo-1", {})).toThrow(/PRAAS_TOKEN is required/);
    const example = environmentFile(read("deploy/compose/env.example"));
    for (const k of ["PRAAS_TOKEN", "PRAAS_CLUSTER_SECRET", "MINIO_ROOT_PASSWORD"]) expect(example[k]).toBe("");
  });
});

describe("systemd", () => {
  const unit = systemdUnit(read("deploy/systemd/praas.service"));
  const service = unit.get("Service") as Map<string, string[]>;
  const one = (key: string) => (service.get(key) ?? [])[0] as string;

  test("runs praas start from the built CLI, unprivileged, with the settings and the secrets files", () => {
    const [node, main, command] = one("ExecStart").split(/\s+/);
    expect(node).toMatch(/\/node$/);
    expect(command).toBe("start");
    expect(main).toBe("/opt/praas/apps/praas/dist/main.js");
    expect(existsSync(join(ROOT, (main as string).slice("/opt/praas/".length)))).toBe(true);
    expect(one("DynamicUser") === "yes" || (one("User") !== undefined && one("User") !== "root")).toBe(true);
    expect(one("User")).not.toBe("root");
    expect(service.get("EnvironmentFile")).toEqual(["/etc/praas/praas.env", "-/etc/praas/secrets.env"]);
    expect(one("NoNewPrivileges")).toBe("yes");
  });

  test("stop: SIGTERM, and longer than the drain before systemd kills", () => {
    expect(one("KillSignal")).toBe("SIGTERM");
    const env = environmentFile(read("deploy/systemd/praas.env"));
    const drainMs = Number(env.PRAAS_DRAIN_TIMEOUT_MS ?? DEFAULTS.drainTimeoutMs);
    expect(seconds(one("TimeoutStopSec"))).toBeGreaterThan((drainMs + 2 * CLUSTER_DRAIN_MS) / 1000);
    expect(one("Restart")).toBe("on-failure");
  });

  test("praas.env holds no secret and resolves, with the token the secrets file adds", () => {
    const env = environmentFile(read("deploy/systemd/praas.env"));
    for (const k of Object.keys(env)) expect(SECRET_NAME.test(k), k).toBe(false);
    const config = configFor({ ...env, PRAAS_TOKEN: "t".repeat(24) });
    expect(config).toMatchObject({ host: "0.0.0.0", port: DEFAULTS.port, storage: "lmdb" });
    for (const m of config.actors) {
      expect(m.startsWith("/opt/praas/")).toBe(true);
      expect(existsSync(join(ROOT, m.slice("/opt/praas/".length))), m).toBe(true);
    }
  });
});

describe("the Kubernetes pod's environment runs a real silo", () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });

  test("probes answer without a token, /metrics serves the autoscaler's series, SIGTERM drains and exits 0", async () => {
    const main = join(ROOT, "apps/praas/dist/main.js");
    if (!existsSync(main)) throw new Error(`${main} is missing: run npx tsc -b first`);
    const [port, clusterPort] = [await freePort(), await freePort()];
    const redis = new URL(redisUrl());
    const s3 = s3Server();
    // The pod's environment with this machine's addresses: loopback instead of
    // the pod IP and 0.0.0.0, free ports, the run's Redis and S3 server.
    const env: Record<string, string> = {
      ...podEnv,
      PRAAS_ACTORS: (podEnv.PRAAS_ACTORS as string)
        .split(",")
        .map((m) => inRepo(m))
        .join(","),
      PRAAS_HOST: "127.0.0.1",
      PRAAS_PORT: String(port),
      PRAAS_CLUSTER_HOST: "127.0.0.1",
      PRAAS_CLUSTER_PORT: String(clusterPort),
      PRAAS_ADVERTISE: `127.0.0.1:${clusterPort}`,
      PRAAS_REDIS_URL: kubeEnvironment(
        container,
        new Map([["praas-config", { ...configData, REDIS_ADDRESS: redis.host }]]),
        (source) => (source.kind === "secret" ? "" : placeholders(source, "")),
      ).PRAAS_REDIS_URL as string,
      // A cluster of its own on the run's shared Redis.
      PRAAS_CLUSTER: uniqueName("deploy"),
      PRAAS_S3_ENDPOINT: s3.endpoint,
      PRAAS_S3_BUCKET: await freshBucket("deploy"),
      PRAAS_S3_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    };
    delete env.NODE_OPTIONS;
    // The image's entrypoint is `praas start`: the same argv, the pod's environment and nothing else.
    const silo = spawn(process.execPath, [main, "start"], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      cwd: ROOT,
    });
    child = silo;
    let out = "";
    silo.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    silo.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => silo.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (out.includes("SIGTERM or Ctrl-C")) resolve();
      };
      silo.stdout?.on("data", onData);
      void exited.then((code) => reject(new Error(`praas start exited with ${code}: ${out}`)));
    });
    expect(out).toContain(`cluster    ${env.PRAAS_CLUSTER}: silo-to-silo 127.0.0.1:${clusterPort}`);
    const base = `http://127.0.0.1:${port}`;
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const res = await fetch(`${base}${asString(at(container, `${probe}.httpGet.path`), probe)}`);
      expect(res.status, probe).toBe(200);
    }
    // Everything else needs the token, /metrics included (hence the ServiceMonitor's credentials).
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const auth = { authorization: `Bearer ${env.PRAAS_TOKEN}` };
    const call = await fetch(`${base}/v1/actors/Counter/deploy/add`, { method: "POST", headers: auth, body: "[3]" });
    expect(await call.json()).toBe(3);
    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    for (const series of EXPORTED_AT_METRICS) expect(metrics).toMatch(new RegExp(`^${series}(\\{[^}]*\\})? \\d`, "m"));
    expect(metrics).toMatch(/^praas_activations 1$/m);
    silo.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(out).toContain("stopped, state saved");
  });
});

// ---- small readers ----

function workspaceDirs(): Map<string, string> {
  const dirs = new Map<string, string>();
  for (const pattern of JSON.parse(read("package.json")).workspaces as string[]) {
    const parent = pattern.replace(/\/\*$/, "");
    const candidates = pattern.endsWith("/*")
      ? filesUnder(parent)
          .filter((f) => /^[^/]+\/[^/]+\/package\.json$/.test(f))
          .map((f) => f.slice(0, -"/package.json".length))
      : [parent];
    for (const dir of candidates) dirs.set(JSON.parse(read(`${dir}/package.json`)).name as string, dir);
  }
  return dirs;
}

function labelsOf(o: KubeObject): Obj {
  return asObj(at(o.body, "metadata.labels"), `${o.file} ${o.kind} labels`);
}

function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (m === null) throw new Error(`memory quantity ${quantity}: use Mi or Gi`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}

function composeServices(): Record<string, Obj> {
  const [doc] = yamlDocuments("deploy/compose/compose.yaml");
  const services = asObj(doc?.services, "compose services");
  return Object.fromEntries(Object.entries(services).map(([k, v]) => [k, asObj(v, k)]));
}

const COMPOSE_DOT_ENV = {
  PRAAS_TOKEN: "token-placeholder-0123456789",
  PRAAS_CLUSTER_SECRET: "secret-placeholder-0123456789",
  MINIO_ROOT_USER: "praas",
  MINIO_ROOT_PASSWORD: "password-placeholder",
};

/** A Compose silo's environment after interpolation with `.env` values. */
function composeSiloEnv(service: string, dotEnv: Record<string, string> = COMPOSE_DOT_ENV): Record<string, string> {
  const env = asObj(composeServices()[service]?.environment, `${service} environment`);
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolateCompose(String(v), dotEnv)]));
}

interface AdapterRule {
  readonly series: string;
  readonly as: string;
}

function adapterRules(): AdapterRule[] {
  const [values] = yamlDocuments("deploy/kubernetes/monitoring/prometheus-adapter-values.yaml");
  return asList(at(values, "rules.custom"), "rules.custom").map((r) => ({
    series: /^([a-z_:][a-z0-9_:]*)\{/.exec(asString(at(r, "seriesQuery"), "seriesQuery"))?.[1] as string,
    as: asString(at(r, "name.as"), "name.as"),
  }));
}
