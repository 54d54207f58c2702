/**
 * The S3 test server in a child process of the chaos runner (`node s3-server.js
 * [host port]`): prints one JSON
 * line (endpoint, region, credentials) once it serves, and stops when its
 * stdin closes (the runner ended, however it ended) or on SIGTERM.
 */
import { startS3Server } from "@praas/testing";

// Optional arguments: the address and port to listen on (default: 127.0.0.1, a free port).
const [host, port] = process.argv.slice(2);
const server = await startS3Server({
  buckets: [],
  ...(host === undefined ? {} : { host, port: Number(port ?? 0) }),
});
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
