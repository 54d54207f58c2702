/**
 * The multi-host part of `npm run chaos` (test/multihost): hosts in network
 * namespaces, partitions, scale-out/in. It runs as a child process — it needs
 * root and `ip netns`, builds and removes its own hosts, and writes its own
 * JSON — started by the chaos runner alongside (or after) the local
 * campaigns. Its progress lines are passed through as they come, prefixed;
 * its tables are printed after the chaos suite's own.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { signal } from "./processes.js";

const MULTIHOST_RUN = fileURLToPath(new URL("../../multihost/dist/run.js", import.meta.url));

/** Exit code of the multi-host runner when the machine cannot build network namespaces (it says why). */
export const EXIT_NO_NAMESPACES = 4;

export interface MultihostOutcome {
  /** passed / failed; unavailable: no namespaces here (nothing ran); unselected: --only matched none of its scenarios. */
  readonly kind: "passed" | "failed" | "unavailable" | "unselected";
  /** What it printed after its progress lines (tables, verdict), or why it did not run. */
  readonly report: string;
}

export interface MultihostPart {
  readonly done: Promise<MultihostOutcome>;
  /** Ask it to stop (SIGTERM, by its PID): it kills its processes and removes its namespaces. */
  stop(): void;
}

/** Is this a CI run (the `CI` variable set, as CI services do)? */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";
}

/** Start the multi-host runner with `args`; `progress` gets each of its progress lines as it comes. */
export function startMultihost(args: readonly string[], progress: (line: string) => void): MultihostPart {
  const child: ChildProcess = spawn(process.execPath, [MULTIHOST_RUN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let report = "";
  let partial = "";
  const onLine = (line: string) => {
    // Progress lines start with the run's clock ("[  12.3 s] …"); the rest is the report.
    if (/^\[\s*\d+\.\d s\]/.test(line)) progress(line);
    else report += `${line}\n`;
  };
  child.stdout?.on("data", (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    report += chunk.toString();
  });
  const done = new Promise<MultihostOutcome>((resolve) => {
    child.once("error", (err) =>
      resolve({ kind: "failed", report: `${report}cannot start ${MULTIHOST_RUN}: ${err.message}\n` }),
    );
    child.once("exit", (code, sig) => {
      if (partial !== "") onLine(partial);
      const kind =
        code === 0
          ? "passed"
          : code === EXIT_NO_NAMESPACES
            ? "unavailable"
            : code === 2 && /matches no multi-host scenario/.test(report)
              ? "unselected"
              : "failed";
      resolve({ kind, report: sig === null ? report : `${report}multihost: ended by ${sig}\n` });
    });
  });
  return { done, stop: () => signal(child, "SIGTERM") };
}
