/**
 * The S3 test server in a child process of the chaos runner: prints one JSON
 * line (endpoint, region, credentials) once it serves, and stops when its
 * stdin closes (the runner ended, however it ended) or on SIGTERM.
 */
import { startS3Server } from "@praas/testing";

const server = await startS3Server({ buckets: [] });
process.stdout.write(
  `${JSON.stringify({ endpoint: server.endpoint, region: server.region, credentials: server.credentials })}\n`,
);
let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
