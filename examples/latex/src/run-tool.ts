import { spawn } from "node:child_process";
import { LatexNotInstalledError } from "./errors.js";

export interface ToolRun {
  /** Exit code, or null when the process was killed by a signal. */
  readonly exitCode: number | null;
  /** True when we killed it because the deadline passed. */
  readonly timedOut: boolean;
  /** The tail of what it printed on stdout and stderr. */
  readonly output: string;
}

/** Keep at most this much of a tool's terminal output: the log file is the real record. */
const MAX_OUTPUT = 64 * 1024;

/**
 * Run `binary args` in `cwd` until it exits or `deadline` (performance.now()
 * ms) passes. The child gets a process group of its own (`detached`), so on
 * timeout the whole group is killed: pdflatex may start helpers (mktexpk,
 * kpsewhich) that would otherwise outlive it and keep the build folder busy.
 */
export function runTool(
  binary: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer): void => {
      output += chunk.toString("latin1");
      if (output.length > 2 * MAX_OUTPUT) output = output.slice(-MAX_OUTPUT);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    let timedOut = false;
    const killGroup = (): void => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone: nothing to kill.
      }
    };
    const remaining = deadline - performance.now();
    const timer = remaining > 0 ? setTimeout(killGroup, remaining) : undefined;
    if (timer === undefined) killGroup();
    child.once("error", (err: NodeJS.ErrnoException) => {
      if (timer !== undefined) clearTimeout(timer);
      reject(err.code === "ENOENT" ? new LatexNotInstalledError(binary) : err);
    });
    // "close", not "exit": it comes after the pipes are drained, so `output` is complete.
    child.once("close", (code) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ exitCode: code, timedOut, output: output.slice(-MAX_OUTPUT) });
    });
  });
}
