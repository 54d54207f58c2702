/**
 * Running the commands a new user types (npm ci, npx praas, npm pack…) as real
 * processes, outside this test run's own npm and vitest environment.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Ran {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/**
 * The environment of a shell a user opens: without what `npm test` and vitest
 * add (npm_* settings that would point an inner npm at this repository, this
 * repository's node_modules/.bin on the PATH, which would let `npx praas`
 * find our own binary instead of the checkout's).
 */
export function userEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^npm_/i.test(k) || k === "INIT_CWD" || k === "NODE_OPTIONS" || k.startsWith("VITEST")) {
      continue;
    }
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((p) => p !== "" && !p.includes("node_modules/.bin"))
    .join(delimiter);
  // Never ask the registry for a package that is not installed: `npx praas` must find the local one.
  env.npm_config_yes = "false";
  env.npm_config_audit = "false";
  env.npm_config_fund = "false";
  env.npm_config_update_notifier = "false";
  return { ...env, ...extra };
}

/** Run a command to completion; a command still running after `timeoutMs` is killed and reported. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs: number },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? userEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} took over ${options.timeoutMs} ms:\n${out}\n${err}`));
    }, options.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Like `run`, but the command must exit 0; its output is returned, its failure thrown with the output. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs: number },
): Promise<Ran> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.code}:\n${r.out}\n${r.err}`);
  return r;
}

/**
 * What `git clone` of this working tree would hold: the files git tracks or
 * would track (untracked but not ignored), copied from the working tree, so a
 * change is tested before it is committed. No node_modules, no dist.
 */
export function copyCheckout(dest: string): void {
  const listed = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  })
    .toString()
    .split("\0")
    .filter((f) => f !== "");
  for (const file of listed) {
    const from = join(REPO_ROOT, file);
    if (!existsSync(from)) continue; // deleted in the working tree, not yet in the index
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(from, join(dest, file), { preserveTimestamps: true });
  }
}

/** Wait until `child` prints text matching `pattern` (stdout or stderr); reject if it exits first. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        cleanup();
        resolve(text);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`exited with ${code} before printing ${pattern}:\n${text}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`did not print ${pattern} within ${timeoutMs} ms:\n${text}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.on("exit", onExit);
  });
}
