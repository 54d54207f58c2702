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
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`praas: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    signalled = true;
    process.stdout.write(`praas: ${signal}: draining (${running.gateway.inFlight} calls running)…\n`);
    running.stop().then(
      () => {
        process.stdout.write("praas: stopped, state saved\n");
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`praas: stopped with errors: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Out of the cluster for too long (the silo is stopping already): exit so a supervisor restarts it.
  running.silo.once("membershipLost", (error) => {
    process.stderr.write(`praas: ${error.message}; exiting with code ${EXIT_MEMBERSHIP_LOST}\n`);
    process.exitCode = EXIT_MEMBERSHIP_LOST;
    const exit = () => process.exit(EXIT_MEMBERSHIP_LOST);
    // Saving may wait on a store that is down as well: the exit does not wait for ever.
    setTimeout(exit, 15_000);
    running.stop().then(exit, exit);
  });
}
