import os from "node:os";
import type { Profile } from "./suite.js";

/**
 * What ran the benchmark. Absolute figures only mean something next to this;
 * ratios against a baseline measured in the same run travel better.
 */
export interface MachineDescription {
  readonly cpuModel: string;
  /** Logical CPUs the process may use. */
  readonly cores: number;
  readonly nodeVersion: string;
  readonly v8Version: string;
  readonly platform: string;
  readonly arch: string;
  readonly totalMemoryBytes: number;
  /** 1-minute load average at start: a high value means a noisy run. */
  readonly loadAverage1m: number;
  /** Whether `global.gc` was exposed (heap figures need it). */
  readonly gcExposed: boolean;
  /** ISO 8601 start time of the run. */
  readonly date: string;
  readonly profile: Profile;
}

export function describeMachine(profile: Profile, date = new Date()): MachineDescription {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    platform: os.platform(),
    arch: os.arch(),
    totalMemoryBytes: os.totalmem(),
    loadAverage1m: os.loadavg()[0] ?? 0,
    gcExposed: typeof globalThis.gc === "function",
    date: date.toISOString(),
    profile,
  };
}

/** One line for the top of the console output. */
export function machineLine(m: MachineDescription): string {
  const gib = (m.totalMemoryBytes / 2 ** 30).toFixed(1);
  return `${m.cpuModel} · ${m.cores} cores · ${gib} GiB · Node ${m.nodeVersion} · load ${m.loadAverage1m.toFixed(2)} · profile ${m.profile}${m.gcExposed ? "" : " · no --expose-gc"}`;
}
