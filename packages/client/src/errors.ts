/** The errors only the client raises (the rest are @praas/core's, rebuilt from the gateway's frames). */
import { PraasError, registerErrorClass } from "@praas/core/internal";

/** The first connection could not be made (refused, unreachable, timed out). */
export class ConnectionFailedError extends PraasError {
  constructor(url: string, reason: string) {
    super("CONNECTION_FAILED", `Could not connect to ${url}: ${reason}`, { retryable: true });
  }
}

/** The client was closed by `client.close()`; it takes no more calls. */
export class ClientClosedError extends PraasError {
  constructor() {
    super("CLIENT_CLOSED", "The client is closed");
  }
}

registerErrorClass("CONNECTION_FAILED", ConnectionFailedError);
registerErrorClass("CLIENT_CLOSED", ClientClosedError);
