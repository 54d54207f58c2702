// Minimal typing of the parts of s3rver 3.7.1 that @praas/testing uses (it ships none).
declare module "s3rver" {
  import type { Server } from "node:http";

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string }[];
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Koa middleware stack; composed when the server starts listening. */
    middleware: ((ctx: never, next: () => Promise<void>) => unknown)[];
    /** The filesystem store (see lib/stores/filesystem.js). */
    store: unknown;
    httpServer?: Server;
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }

  export default S3rver;
}
