import { PraasError, registerErrorClass } from "@praas/core/internal";

/**
 * The worker thread running a call died (an uncaught exception outside the
 * call, `process.exit`, out of memory). The thread is replaced; the call may
 * have done part of its work. Not retryable by default: the same input often
 * crashes the same way.
 */
export class WorkerCrashedError extends PraasError {
  constructor(type: string, method: string, cause: string) {
    super("WORKER_CRASHED", `${type}.${method}: its worker thread crashed (${cause}); the thread was replaced`, {
      data: { type, method, cause },
    });
  }
}

// Callers on this process rebuild it as itself (errors are serialized even for local calls).
registerErrorClass("WORKER_CRASHED", WorkerCrashedError);
