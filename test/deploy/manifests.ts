/**
 * Readers for the deployment files (Dockerfile, Kubernetes and Compose YAML,
 * systemd units and environment files) and the few rules of the tools that
 * consume them that the tests need to apply: Kubernetes' `$(VAR)` expansion,
 * Compose's `${VAR:?…}` interpolation, systemd's KEY=value files.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function read(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

/** Every file under `dir` (repository-relative paths), depth first, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out;
}

// ---- YAML ----

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { [key: string]: Json };

/** Every document of a YAML file; a syntax error (or a warning) throws, naming the file. */
export function yamlDocuments(path: string): Obj[] {
  const docs = parseAllDocuments(read(path), { merge: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${path}: not a YAML stream`);
  const out: Obj[] = [];
  for (const doc of docs) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path}: ${problems.map((p) => p.message).join("; ")}`);
    const value = doc.toJS() as Json;
    if (value === null) continue;
    out.push(asObj(value, path));
  }
  return out;
}

export function asObj(value: Json | undefined, what: string): Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what}: expected a mapping, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function asList(value: Json | undefined, what: string): Json[] {
  if (!Array.isArray(value)) throw new Error(`${what}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

export function asString(value: Json | undefined, what: string): string {
  if (typeof value !== "string") throw new Error(`${what}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/** `obj.a.b.c` for a dotted path, or undefined when a step is missing. */
export function at(obj: Json | undefined, path: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const step of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return undefined;
    cur = cur[step];
  }
  return cur;
}

/** Are all of `selector`'s labels on `labels`? */
export function selects(selector: Json | undefined, labels: Json | undefined): boolean {
  const s = asObj(selector, "selector");
  if (Object.keys(s).length === 0) return false;
  const l = asObj(labels, "labels");
  return Object.entries(s).every(([k, v]) => l[k] === v);
}

// ---- Kubernetes ----

export interface KubeObject {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Obj;
}

/** The Kubernetes objects of these files (Kustomizations and Helm values files are not objects). */
export function kubeObjects(files: readonly string[]): KubeObject[] {
  const out: KubeObject[] = [];
  for (const file of files) {
    for (const body of yamlDocuments(file)) {
      if (body.kind === undefined || body.kind === "Kustomization") continue;
      out.push({
        file,
        kind: asString(body.kind, `${file}: kind`),
        name: asString(at(body, "metadata.name"), `${file}: metadata.name`),
        body,
      });
    }
  }
  return out;
}

export function only(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as KubeObject;
}

/** How one container environment variable is set. */
export type EnvSource =
  | { readonly kind: "value"; readonly value: string }
  | { readonly kind: "secret"; readonly secret: string; readonly key: string; readonly optional: boolean }
  | { readonly kind: "configMap"; readonly configMap: string; readonly key: string }
  | { readonly kind: "field"; readonly fieldPath: string };

export interface EnvEntry {
  readonly name: string;
  readonly source: EnvSource;
}

export function containerEnv(container: Obj): EnvEntry[] {
  return asList(container.env ?? [], "env").map((raw) => {
    const e = asObj(raw, "env entry");
    const name = asString(e.name, "env name");
    if (e.value !== undefined) return { name, source: { kind: "value", value: asString(e.value, name) } };
    const from = asObj(e.valueFrom, `${name}.valueFrom`);
    if (from.secretKeyRef !== undefined) {
      const r = asObj(from.secretKeyRef, name);
      return {
        name,
        source: {
          kind: "secret",
          secret: asString(r.name, name),
          key: asString(r.key, name),
          optional: r.optional === true,
        },
      };
    }
    if (from.configMapKeyRef !== undefined) {
      const r = asObj(from.configMapKeyRef, name);
      return { name, source: { kind: "configMap", configMap: asString(r.name, name), key: asString(r.key, name) } };
    }
    if (from.fieldRef !== undefined) {
      return { name, source: { kind: "field", fieldPath: asString(at(from.fieldRef, "fieldPath"), name) } };
    }
    throw new Error(`${name}: unsupported valueFrom ${JSON.stringify(from)}`);
  });
}

/**
 * The environment the kubelet gives a container: `envFrom` ConfigMaps first,
 * then `env` in order, each `value` expanded with `$(NAME)` of the variables
 * defined before it (`$$` escapes; an unknown reference stays as written).
 * Secrets and fields come from `resolve`, or are absent when it returns undefined.
 */
export function kubeEnvironment(
  container: Obj,
  configMaps: ReadonlyMap<string, Obj>,
  resolve: (source: EnvSource, name: string) => string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of asList(container.envFrom ?? [], "envFrom")) {
    const name = asString(at(raw, "configMapRef.name"), "envFrom.configMapRef.name");
    const data = configMaps.get(name);
    if (data === undefined) throw new Error(`envFrom: no ConfigMap ${name}`);
    for (const [k, v] of Object.entries(data)) env[k] = asString(v, `ConfigMap ${name}.${k}`);
  }
  for (const { name, source } of containerEnv(container)) {
    let value: string | undefined;
    if (source.kind === "value") value = expandKube(source.value, env);
    else if (source.kind === "configMap") {
      const v = configMaps.get(source.configMap)?.[source.key];
      if (v === undefined) throw new Error(`${name}: no key ${source.key} in ConfigMap ${source.configMap}`);
      value = asString(v, name);
    } else value = resolve(source, name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

export function expandKube(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return "$";
    return env[name] ?? whole;
  });
}

/** The `$(NAME)` references a value makes. */
export function kubeReferences(text: string): string[] {
  return [...text.replace(/\$\$/g, "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)].map((m) => m[1] as string);
}

// ---- Compose ----

/** Compose interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`; `$$` is a literal `$`. */
export function interpolateCompose(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (whole, name: string | undefined, op: string | undefined, arg: string | undefined) => {
      if (name === undefined) return "$";
      const v = vars[name];
      const missing = v === undefined || (op?.startsWith(":") === true && v === "");
      if (!missing) return v as string;
      if (op?.endsWith("-")) return arg ?? "";
      if (op?.endsWith("?")) throw new Error(`compose: ${name} is required: ${arg}`);
      return whole;
    },
  );
}

/** The `${VAR…}` names a Compose value interpolates. */
export function composeReferences(text: string): string[] {
  return [...text.replace(/\$\$/g, "").matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1] as string);
}

// ---- Dockerfile ----

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** The stage it belongs to (its FROM's index). */
  readonly stage: number;
}

export interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/**
 * Dockerfile instructions, as BuildKit reads them: comment lines dropped (also
 * inside a continued instruction), backslash-newline continuations joined.
 */
export function dockerfileStages(text: string): Stage[] {
  const logical: string[] = [];
  let pending = "";
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    if (pending === "" && line.trim() === "") continue;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((pending + line).trim());
    pending = "";
  }
  if (pending.trim() !== "") logical.push(pending.trim());
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/s.exec(l);
    if (m === null) continue;
    const keyword = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (keyword === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args.trim());
      if (f === null) throw new Error(`FROM ${args}: not understood`);
      stages.push({ from: f[1] as string, name: f[2], instructions: [] });
      continue;
    }
    if (keyword === "ARG" && stages.length === 0) continue;
    const stage = stages[stages.length - 1];
    if (stage === undefined) throw new Error(`${keyword} before the first FROM`);
    stage.instructions.push({ keyword, args, stage: stages.length - 1 });
  }
  return stages;
}

/** `["a", "b"]` (exec form) as a list; anything else is an error. */
export function execForm(args: string, what: string): string[] {
  const v: unknown = JSON.parse(args);
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new Error(`${what}: not the exec form`);
  return v as string[];
}

/** `ENV A=1 B=2` (the key=value form, without quotes or spaces in values). */
export function envInstruction(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of args.trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`ENV ${args}: use the KEY=value form`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

// ---- systemd ----

/** A unit file: section → key → values (a key may repeat). */
export function systemdUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq <= 0) throw new Error(`unit file: cannot read "${line}"`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** An EnvironmentFile: KEY=value lines; comments and blank lines skipped. */
export function environmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) throw new Error(`environment file: cannot read "${line}"`);
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** "60s", "1min", "90" (seconds) → seconds, as systemd and Compose write durations. */
export function seconds(text: string): number {
  const m = /^(\d+)\s*(ms|s|sec|m|min)?$/.exec(text.trim());
  if (m === null) throw new Error(`duration ${JSON.stringify(text)} not understood`);
  const n = Number(m[1]);
  switch (m[2]) {
    case "ms":
      return n / 1000;
    case "m":
    case "min":
      return n * 60;
    default:
      return n;
  }
}
