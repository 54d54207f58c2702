/**
 * One silo process of `praas start --silos N`: started by the parent with an
 * IPC channel, told what to run by its first message, and stopped by the
 * parent (or by SIGTERM, after which the parent starts a fresh one).
 */
import { PraasError } from "@praas/core/internal";
import { exitCodeOf } from "../errors.js";
import { createLogger, defaultLogFormat } from "../logger.js";
import { type Otel, otelWanted, startOtel } from "../otel.js";
import { type Running, startServer } from "../start.js";
import { IpcMembership, type ParentChannel } from "./ipc-membership.js";
import type { ToChild, ToParent } from "./protocol.js";

const send = (message: ToParent): void => {
  // With a callback, a send after the parent died is no 'error' event: 'disconnect' handles that case.
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
};
const channel: ParentChannel = {
  send,
  onMessage: (listener) => process.on("message", (m) => listener(m as ToChild)),
};

// Ctrl-C reaches the whole process group: the parent decides, and tells every child to stop.
process.on("SIGINT", () => {});

let running: Running | undefined;
let otel: Otel | undefined;
let stopping = false;

function stop(exitCode: number): void {
  if (stopping) return;
  stopping = true;
  // Buffered spans go out before the process does.
  const exit = () => void (otel?.shutdown() ?? Promise.resolve()).finally(() => process.exit(exitCode));
  if (running === undefined) exit();
  else
    running.stop().then(exit, (err: unknown) => {
      process.stderr.write(`praas: silo stopped with errors: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}

process.on("SIGTERM", () => stop(0));
// The parent is gone: nobody coordinates membership or restarts us any more.
process.on("disconnect", () => stop(1));

process.on("message", (m: ToChild) => {
  if (m.t === "stop") stop(0);
  else if (m.t === "init") void init(m);
});

async function init(m: Extract<ToChild, { t: "init" }>): Promise<void> {
  const membership = m.membership === undefined ? undefined : new IpcMembership(channel, m.membership.timings);
  try {
    const logger = createLogger({
      level: m.config.logLevel,
      format: m.config.logFormat ?? defaultLogFormat(process.stderr.isTTY === true, process.env),
    });
    // As `praas start` does: before the silo starts, so its first spans are exported too.
    if (otelWanted(m.config.otel, process.env)) otel = await startOtel(process.env, logger.log);
    running = await startServer(m.config, logger, {
      membership,
      secret: m.membership?.secret,
    });
  } catch (err) {
    // Settings to fix (a taken port included), not a crash: the parent stops instead of restarting.
    const setting = exitCodeOf(err) === 2 || (err as { syscall?: unknown }).syscall === "listen";
    const code = setting ? 2 : 1;
    const message =
      err instanceof Error ? `${err.message}${err instanceof PraasError ? ` [${err.code}]` : ""}` : String(err);
    send({ t: "fatal", message, exitCode: code });
    process.exit(code);
  }
  const { silo, gateway } = running;
  send({ t: "ready", siloId: silo.siloId, wsUrl: gateway.wsUrl, url: gateway.url });
  // Evicted (it stalled) and back under a new id: the parent's banner lines name the new one.
  silo.on("rejoined", (siloId) => send({ t: "ready", siloId, wsUrl: gateway.wsUrl, url: gateway.url }));
  // Out of the cluster for too long: exit, and the parent starts a fresh process.
  silo.once("membershipLost", () => stop(3));
}
