/**
 * `praas start --silos N`: N silo processes on this host forming one cluster.
 *
 * This process serves no actors. It starts the silos (one port each: --port,
 * --port+1, …), keeps their membership table when no Redis cluster is
 * configured (see coordinator.ts), and starts a fresh process in place of
 * one that dies — its actors come back on whichever silo owns them next, as
 * after any crash. SIGTERM or Ctrl-C stops every silo (each drains and saves)
 * and then this process.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { DEFAULT_STATE_DIR, type RetryPolicy, retryDelay } from "@praas/core/internal";
import type { Io } from "../cli.js";
import type { StartConfig } from "../config.js";
import { LocalCoordinator, type Member } from "./coordinator.js";
import type { LocalTimings, ToChild, ToParent } from "./protocol.js";

/** The membership timings of the other providers' defaults: a hung silo is declared dead within 2.5 s. */
const TIMINGS: LocalTimings = { heartbeatMs: 500, deadAfterMs: 2_000 };
/**
 * A silo that keeps dying is restarted after 250 ms, doubling up to 30 s (no jitter: one supervisor,
 * nobody to collide with); the delay resets after a minute up.
 */
const RESTART: RetryPolicy = { initialDelayMs: 250, maxDelayMs: 30_000, jitter: "none" };
const STABLE_AFTER_MS = 60_000;
/**
 * A silo process silent this long is hung, not merely slow: killed, then
 * restarted. Far above the dead-after time, so that a process starved of CPU
 * for a few seconds is only evicted (it rejoins under a new id) and keeps its process.
 */
const HUNG_AFTER_MS = 10_000;

/** What `--silos auto` means: one silo per core. */
export function autoSiloCount(): number {
  return availableParallelism();
}

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  member: Member | undefined;
  startedAt: number;
  failures: number;
  ready: { siloId: string; wsUrl: string; url: string } | undefined;
  restartTimer: NodeJS.Timeout | undefined;
  /** When the process last sent anything (heartbeats come every heartbeatMs). */
  lastHeard: number;
}

/** Shift the port of "host:port" by `by`. */
function shiftAdvertise(advertise: string, by: number): string {
  const at = advertise.lastIndexOf(":");
  return `${advertise.slice(0, at)}:${Number(advertise.slice(at + 1)) + by}`;
}

/** The settings of silo `index`: its own gateway port (and silo-to-silo port when one is fixed). */
export function childConfig(config: StartConfig, index: number): StartConfig {
  return {
    ...config,
    silos: undefined,
    port: config.port === 0 ? 0 : config.port + index,
    clusterPort:
      config.clusterPort === undefined || config.clusterPort === 0 ? config.clusterPort : config.clusterPort + index,
    advertise: config.advertise === undefined ? undefined : shiftAdvertise(config.advertise, index),
  };
}

/** Run the local cluster until a signal (or a silo that cannot start); resolves with the exit code. */
export function runLocalCluster(config: StartConfig, io: Io, count: number): Promise<number> {
  const local = config.cluster === undefined;
  const coordinator = local ? new LocalCoordinator(TIMINGS, (line) => io.err(`praas: ${line}`)) : undefined;
  const secret = config.clusterSecret ?? randomBytes(32).toString("hex");
  const entry = new URL("./child.js", import.meta.url);
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    child: undefined,
    member: undefined,
    startedAt: 0,
    failures: 0,
    ready: undefined,
    restartTimer: undefined,
    lastHeard: 0,
  }));
  let shuttingDown: Promise<number> | undefined;
  let announced = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });

  const spawnSilo = (slot: Slot): void => {
    slot.restartTimer = undefined;
    slot.ready = undefined;
    slot.startedAt = Date.now();
    slot.lastHeard = performance.now();
    // Its own stdout/stderr are ours (log lines), plus the IPC channel.
    const child = fork(entry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const member: Member = {
      send: (m: ToChild) => {
        // With a callback a send to a child that just died is not an 'error' event; its exit is handled below.
        if (child.connected) child.send(m, ignoreSendError);
      },
    };
    child.on("error", (err) => io.err(`praas: silo ${slot.index}: ${err.message}`));
    slot.child = child;
    slot.member = member;
    child.on("message", (m: ToParent) => {
      slot.lastHeard = performance.now();
      if (m.t === "ready") {
        slot.ready = { siloId: m.siloId, wsUrl: m.wsUrl, url: m.url };
        if (announced) io.out(`praas: silo ${slot.index} is back as ${m.siloId} (HTTP ${m.url})`);
        else if (slots.every((s) => s.ready !== undefined)) {
          announced = true;
          io.out(banner(config, slots, local));
        }
      } else if (m.t === "fatal") {
        io.err(`praas: silo ${slot.index} cannot start: ${m.message}`);
        // At start the settings are wrong: stop. Later (a restart finding its port taken) keep trying, with the backoff.
        if (!announced) void shutdown(m.exitCode);
      } else coordinator?.receive(member, m);
    });
    child.on("exit", (code, signal) => {
      coordinator?.exited(member);
      slot.child = undefined;
      if (shuttingDown !== undefined) return;
      const upMs = Date.now() - slot.startedAt;
      slot.failures = upMs > STABLE_AFTER_MS ? 1 : slot.failures + 1;
      const delay = retryDelay(RESTART, slot.failures);
      io.err(
        `praas: silo ${slot.index}${slot.ready ? ` (${slot.ready.siloId})` : ""} exited (${signal ?? `code ${code}`}); starting a new one in ${delay} ms`,
      );
      slot.restartTimer = setTimeout(() => spawnSilo(slot), delay);
    });
    member.send({
      t: "init",
      index: slot.index,
      config: childConfig(config, slot.index),
      ...(local ? { membership: { secret, timings: TIMINGS } } : {}),
    });
  };

  // A silo that stops beating is declared dead (its actors move); one silent for much longer is hung: killed and restarted.
  const sweeper =
    coordinator === undefined
      ? undefined
      : setInterval(() => {
          coordinator.sweep();
          const now = performance.now();
          for (const slot of slots) {
            if (slot.ready === undefined || slot.child === undefined || now - slot.lastHeard <= HUNG_AFTER_MS) continue;
            io.err(
              `praas: silo ${slot.index} (pid ${slot.child.pid}) is hung (silent for ${Math.round(now - slot.lastHeard)} ms): killing it`,
            );
            slot.child.kill("SIGKILL");
          }
        }, TIMINGS.heartbeatMs);

  const shutdown = (code: number): Promise<number> => {
    shuttingDown ??= (async () => {
      if (sweeper !== undefined) clearInterval(sweeper);
      const exits = slots.map((slot) => {
        if (slot.restartTimer !== undefined) clearTimeout(slot.restartTimer);
        const child = slot.child;
        if (child === undefined || child.exitCode !== null) return Promise.resolve();
        return new Promise<void>((resolve) => {
          child.once("exit", () => resolve());
          slot.member?.send({ t: "stop" });
        });
      });
      // Each silo drains within --drain-timeout-ms; past that (and a margin) it is killed.
      const killer = setTimeout(() => {
        for (const s of slots) s.child?.kill("SIGKILL");
      }, config.drainTimeoutMs + 5_000);
      await Promise.all(exits);
      clearTimeout(killer);
      await coordinator?.close();
      return code;
    })();
    void shuttingDown.then(finish);
    return shuttingDown;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown !== undefined) {
      io.err(`praas: ${signal} again, killing the silos without waiting`);
      for (const s of slots) s.child?.kill("SIGKILL");
      finish(1);
      return;
    }
    io.out(`praas: ${signal}: stopping ${count} silos (each drains and saves its actors)…`);
    void shutdown(0).then(() => io.out("praas: stopped"));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  for (const slot of slots) spawnSilo(slot);
  return finished.finally(() => {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  });
}

function ignoreSendError(): void {}

function banner(config: StartConfig, slots: readonly Slot[], local: boolean): string {
  const lines = [
    `PraaS local cluster of ${slots.length} silos is up (${local ? `membership kept by this process, pid ${process.pid}` : `cluster ${config.cluster} in Redis`})`,
  ];
  for (const s of slots) {
    const r = s.ready as { siloId: string; wsUrl: string; url: string };
    lines.push(
      `  silo ${s.index}  ${r.siloId}  pid ${s.child?.pid}`,
      `    WebSocket  ${r.wsUrl}`,
      `    HTTP       ${r.url}`,
    );
  }
  const state =
    config.storage === "lmdb"
      ? `${config.stateDir ?? `./${DEFAULT_STATE_DIR}`} (embedded store, shared by the silos)`
      : `--storage ${config.storage}`;
  lines.push(
    `  state      ${state}`,
    "Every silo answers for every actor (calls go on to the silo that owns it); a silo that dies is restarted.",
    "SIGTERM or Ctrl-C drains every silo, saves state and stops.",
  );
  return lines.join("\n");
}
