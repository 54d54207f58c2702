#!/usr/bin/env node
/**
 * The praas command. `praas start` keeps running until SIGTERM or SIGINT, then
 * drains: the gateway stops accepting, running calls finish, every actor's
 * state is saved, and the process exits. A second signal exits at once.
 */
import { EXIT_MEMBERSHIP_LOST, runCommand } from "./cli.js";

const outcome = await runCommand(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
  cwd: process.cwd(),
});

if ("exitCode" in outcome) {
  process.exitCode = outcome.exitCode;
} else {
  const { running } = outcome;
  // Lifecycle lines go through the runtime's logger, so JSON logs hold them too (with the silo id).
  const log = (level: "info" | "warn" | "error", message: string) => running.logger.log(level, message);
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log("warn", `${signal} again, exiting without waiting`);
      process.exit(1);
    }
    signalled = true;
    log("info", `${signal}: draining (${running.gateway.inFlight} calls running)…`);
    running.stop().then(
      (report) => {
        for (const a of report.abandoned) {
          log(
            "warn",
            `abandoned ${a.actor} (${a.method} still running at the drain deadline; ${a.saved ? "state saved as it was" : "state not saved"})`,
          );
        }
        log("info", `stopped, state saved (${report.saved} activations)`);
        process.exit(0);
      },
      (err: unknown) => {
        log("error", `stopped with errors: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Out of the cluster for too long (the silo is stopping already): exit so a supervisor restarts it.
  running.silo.once("membershipLost", (error) => {
    log("error", `${error.message}; exiting with code ${EXIT_MEMBERSHIP_LOST}`);
    process.exitCode = EXIT_MEMBERSHIP_LOST;
    const exit = () => process.exit(EXIT_MEMBERSHIP_LOST);
    // Saving may wait on a store that is down as well: the exit does not wait for ever.
    setTimeout(exit, 15_000);
    running.stop().then(exit, exit);
  });
}
