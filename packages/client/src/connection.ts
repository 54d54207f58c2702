/**
 * The client's link to a gateway, across sockets: dial, the hello handshake
 * (protocol version, the silo's limits and default deadline), the reconnect
 * loop with core's backoff, and dropping a connection that has gone silent.
 * It knows nothing of calls or subscriptions: it hands every other frame and
 * every change of state to its owner (the Client) through ConnectionHooks.
 */
import {
  CLIENT_PROTOCOL_VERSION,
  ConnectionLostError,
  decode,
  isRetryable,
  type PraasError,
  ProtocolError,
  type RetryPolicy,
  retryDelay,
  type ServerFrame,
} from "@praas/core/internal";
import type { CallLink } from "./calls.js";
import { ConnectionFailedError } from "./errors.js";
import { parseServerFrame } from "./protocol.js";
import type { ClientSocket, SocketFactory } from "./websocket.js";

export type ClientState = "connecting" | "open" | "reconnecting" | "idle" | "closed";

/** Every server frame but the hello: replies, events, gaps. */
export type DataFrame = Exclude<ServerFrame, { t: "hello" }>;

/** The reconnect pauses, as core's retry policy; `maxAttempts` counts reconnect attempts in a row. */
export type ReconnectPolicy = RetryPolicy & { readonly maxAttempts: number };

/** What the connection needs to know, checked and defaulted (see options.ts). */
export interface ConnectionSettings {
  readonly url: string;
  readonly token: string | undefined;
  readonly factory: SocketFactory;
  readonly connectTimeoutMs: number;
  readonly deadAfterSilenceMs: number;
  /** false: reconnect is off. */
  readonly reconnect: ReconnectPolicy | false;
}

/** How the connection tells its owner what happened. */
export interface ConnectionHooks {
  /** A frame other than the hello arrived on the current socket. */
  frame(f: DataFrame): void;
  /** The gateway greeted a new socket (`reconnect`: not the first one): send what waits. */
  ready(silo: string, reconnect: boolean): void;
  /** The current socket closed (`wasOpen`: after its hello): whatever was in flight on it is lost. */
  lost(code: number, reason: string, wasOpen: boolean): void;
  /** Does anything wait for a connection (queued calls, subscriptions)? If not, a dropped client idles. */
  wanted(): boolean;
  /** Reconnecting stopped (refused for good, reconnect off, attempts spent): fail what waits. */
  gaveUp(err: PraasError): void;
  /** Something wrong with no caller to tell (a bad frame), for the client's "error" event. */
  error(err: unknown): void;
}

const DEFAULT_MAX_IN_FLIGHT = 256;
/** Local deadline of a call with no deadline of its own before the silo has said what its default is. */
const FALLBACK_TIMEOUT_MS = 30_000;

export class Connection implements CallLink {
  readonly #settings: ConnectionSettings;
  readonly #hooks: ConnectionHooks;
  #state: ClientState = "connecting";
  #socket: ClientSocket | undefined;
  /** Bumped per socket, so events of an old socket are ignored. */
  #gen = 0;
  #ready = false;
  #everOpened = false;
  #attempt = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the current socket last delivered a frame (performance.now()). */
  #heardAt = 0;
  #silo: string | undefined;
  #maxFrameBytes = Number.POSITIVE_INFINITY;
  #maxInFlight = DEFAULT_MAX_IN_FLIGHT;
  #siloTimeoutMs = FALLBACK_TIMEOUT_MS;
  /** Request ids: one sequence across sockets, shared by calls and subscription requests, so a reply names one. */
  #nextId = 1;
  #closeWaiters: (() => void)[] = [];

  constructor(settings: ConnectionSettings, hooks: ConnectionHooks) {
    this.#settings = settings;
    this.#hooks = hooks;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** The gateway has greeted the current socket. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The silo of the last hello. */
  get silo(): string | undefined {
    return this.#silo;
  }

  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  get maxInFlight(): number {
    return this.#maxInFlight;
  }

  /** The silo's default deadline, from its hello; for calls whose caller set none. */
  get siloTimeoutMs(): number {
    return this.#siloTimeoutMs;
  }

  /** The id of the next request frame. */
  takeId(): number {
    return this.#nextId++;
  }

  send(bytes: Uint8Array): void {
    this.#socket?.send(bytes);
  }

  /** Open a socket; resolves at the gateway's hello, rejects if it closes first. */
  open(): Promise<void> {
    const gen = ++this.#gen;
    if (this.#state !== "closed") this.#state = this.#everOpened ? "reconnecting" : "connecting";
    const { url, token, factory, connectTimeoutMs } = this.#settings;
    return new Promise<void>((resolve, reject) => {
      let greeted = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        socket.close(1000, "connect timeout");
      }, connectTimeoutMs);
      const socket = factory(url, token, {
        open: () => {},
        message: (data) => {
          if (gen !== this.#gen) return;
          this.#heardAt = performance.now();
          if (this.#onMessage(data) && !greeted) {
            greeted = true;
            clearTimeout(timer);
            resolve();
          }
        },
        close: (code, reason, refused) => {
          clearTimeout(timer);
          if (gen === this.#gen) this.#onClose(code, reason, refused, greeted);
          if (!greeted) {
            reject(
              refused ??
                new ConnectionFailedError(
                  url,
                  timedOut ? `no greeting within ${connectTimeoutMs} ms` : reason || `closed with code ${code}`,
                ),
            );
          }
        },
      });
      this.#socket = socket;
    });
  }

  /** A call or subscription arrived while idle: connect again. */
  wake(): void {
    if (this.#state !== "idle") return;
    this.#attempt = 0;
    this.open().catch(() => {});
  }

  /** A call sent on the current connection timed out: a connection silent for deadAfterSilenceMs is dead. */
  callTimedOut(): void {
    const socket = this.#socket;
    if (socket !== undefined && this.#ready) {
      const silentMs = performance.now() - this.#heardAt;
      if (silentMs >= this.#settings.deadAfterSilenceMs) dropDead(socket, silentMs);
    }
  }

  /** The client is closing: no more reconnects (the owner fails its calls, then awaits {@link closeSocket}). */
  markClosed(): void {
    this.#state = "closed";
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
  }

  /** Close the current socket with a closing handshake; resolves once it has closed. */
  async closeSocket(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return;
    await new Promise<void>((resolve) => {
      this.#closeWaiters.push(resolve);
      socket.close(1000, "client closed");
    });
  }

  /** Handle one frame; true when it was the hello. */
  #onMessage(data: Uint8Array): boolean {
    let value: unknown;
    try {
      value = decode(data);
    } catch {
      this.#hooks.error(new ProtocolError("The server sent malformed CBOR"));
      return false;
    }
    const f = parseServerFrame(value);
    if (f === undefined) {
      this.#hooks.error(new ProtocolError("The server sent a frame of unknown shape"));
      return false;
    }
    if (f.t !== "hello") {
      this.#hooks.frame(f);
      return false;
    }
    if (f.v !== CLIENT_PROTOCOL_VERSION) {
      this.#hooks.error(new ProtocolError(`Gateway speaks protocol ${f.v}, this client ${CLIENT_PROTOCOL_VERSION}`));
      this.#socket?.close(1002, "protocol version");
      return false;
    }
    if (f.callTimeoutMs !== undefined) this.#siloTimeoutMs = f.callTimeoutMs;
    this.#onHello(f.silo, f.maxFrameBytes, f.maxInFlight);
    return true;
  }

  #onHello(silo: string, maxFrameBytes: number, maxInFlight: number): void {
    const reconnect = this.#everOpened;
    this.#silo = silo;
    this.#maxFrameBytes = maxFrameBytes;
    this.#maxInFlight = Math.max(1, maxInFlight);
    this.#ready = true;
    this.#everOpened = true;
    this.#attempt = 0;
    if (this.#state !== "closed") this.#state = "open";
    this.#hooks.ready(silo, reconnect);
  }

  #onClose(code: number, reason: string, refused: PraasError | undefined, wasOpen: boolean): void {
    this.#socket = undefined;
    this.#ready = false;
    this.#hooks.lost(code, reason, wasOpen);
    for (const w of this.#closeWaiters.splice(0)) w();
    if (this.#state === "closed") return;
    if (!this.#everOpened) {
      // The first connection failed: connect() rejects and the client is unusable.
      this.#state = "closed";
      return;
    }
    if (refused !== undefined && !isRetryable(refused)) {
      this.#giveUp(refused);
      return;
    }
    if (this.#hooks.wanted()) this.#scheduleReconnect();
    else this.#state = "idle";
  }

  #scheduleReconnect(): void {
    const policy = this.#settings.reconnect;
    if (policy === false) {
      this.#giveUp(new ConnectionLostError("Connection lost and reconnect is off"));
      return;
    }
    this.#attempt++;
    if (this.#attempt > policy.maxAttempts) {
      this.#giveUp(new ConnectionLostError(`Could not reconnect after ${policy.maxAttempts} attempts`));
      return;
    }
    this.#state = "reconnecting";
    // A pause before every reconnect, the first one too (unlike core's retry(), which tries at once):
    // clients cut off by the same failure must not all come back in the same instant.
    const delay = retryDelay(policy, this.#attempt);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#state === "reconnecting") this.open().catch(() => {});
    }, delay);
  }

  /** Stop trying: what waits fails; the next call starts over. */
  #giveUp(err: PraasError): void {
    this.#state = "idle";
    this.#attempt = 0;
    this.#hooks.gaveUp(err);
  }
}

/** Cut a connection that went silent (see deadAfterSilenceMs): at once, without a closing handshake nobody would answer. */
function dropDead(socket: ClientSocket, silentMs: number): void {
  const reason = `nothing from the gateway for ${Math.round(silentMs)} ms`;
  const ws = socket as ClientSocket & { terminate?: () => void };
  if (typeof ws.terminate === "function") ws.terminate();
  else socket.close(4000, reason);
}
