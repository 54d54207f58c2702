/**
 * The handshake of one silo connection, run before any envelope may pass:
 * each side proves the cluster secret against the other's fresh nonce
 * (auth.ts), the server asks its transport whether the client may connect
 * (membership, the one-connection-per-pair rule), and only then is the frame
 * limit raised from handshake size to the transport's. A connection that does
 * not finish within `handshakeTimeoutMs`, or says anything out of turn, is
 * closed. The messages themselves are in handshake.ts.
 */
import type { WebSocket } from "ws";
import { newNonce, proof, verifyProof } from "./auth.js";
import {
  encodeAuth,
  encodeHello,
  encodeWelcome,
  parseAuth,
  parseHello,
  parseWelcome,
  SILO_PROTOCOL_VERSION,
  SiloCloseCode,
} from "./handshake.js";
import type { PeerConnection, PeerConnectionHost } from "./peer-connection.js";

/** The server's answer to an authenticated client: take the connection, or close it with `code`. */
export type Admission = "accept" | { readonly code: number; readonly reason: string };

/** What the handshake needs from the transport. */
export type HandshakeHost = Pick<PeerConnectionHost, "selfId" | "cluster" | "secret" | "limits" | "admit">;

/**
 * Where the handshake stands: the client waits for "hello", then "welcome";
 * the server waits for "auth", then for its transport's admission.
 */
type Phase = "hello" | "welcome" | "auth" | "admitting" | "done";

const ADMISSION_FAILED: Admission = { code: SiloCloseCode.UNKNOWN_PEER, reason: "admission failed" };

export class PeerHandshake {
  readonly #conn: PeerConnection;
  readonly #ws: WebSocket;
  readonly #host: HandshakeHost;
  readonly #authenticated: () => void;
  readonly #nonce = newNonce();
  #peerNonce: Uint8Array | undefined;
  #phase: Phase;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Starts the deadline; `authenticated` runs once both sides proved the secret and the peer was admitted. */
  constructor(conn: PeerConnection, ws: WebSocket, host: HandshakeHost, authenticated: () => void) {
    this.#conn = conn;
    this.#ws = ws;
    this.#host = host;
    this.#authenticated = authenticated;
    this.#phase = conn.dialedBySelf ? "hello" : "auth";
    this.#timer = setTimeout(
      () => conn.close(SiloCloseCode.HANDSHAKE_TIMEOUT, "handshake timeout"),
      host.limits.handshakeTimeoutMs,
    );
    this.#timer.unref();
  }

  /** Server side: we speak first. */
  sendHello(): void {
    const { cluster, selfId } = this.#host;
    this.#send(encodeHello({ version: SILO_PROTOCOL_VERSION, cluster, siloId: selfId, nonce: this.#nonce }));
  }

  /** A message from the peer before the connection opened. */
  receive(bytes: Uint8Array, isBinary: boolean): void {
    const conn = this.#conn;
    if (this.#phase === "admitting") {
      // The client must wait for "welcome"; talking now breaks the protocol.
      conn.close(SiloCloseCode.PROTOCOL, "message before welcome");
    } else if (!isBinary) conn.close(SiloCloseCode.PROTOCOL, "expected a binary handshake message");
    else if (conn.dialedBySelf) this.#clientStep(bytes);
    else this.#serverStep(bytes);
  }

  /** The connection closed (or opened): no deadline, and an admission still under way is ignored. */
  stop(): void {
    this.#phase = "done";
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #serverStep(bytes: Uint8Array): void {
    const conn = this.#conn;
    const auth = parseAuth(bytes);
    if (auth === undefined) {
      conn.close(SiloCloseCode.PROTOCOL, "expected auth");
      return;
    }
    const { secret, cluster, selfId } = this.#host;
    if (
      auth.siloId === selfId ||
      !verifyProof(auth.proof, secret, "client", this.#nonce, auth.siloId, selfId, cluster)
    ) {
      conn.close(SiloCloseCode.AUTH_FAILED, "authentication failed");
      return;
    }
    conn.peerId = auth.siloId;
    this.#peerNonce = auth.nonce;
    this.#phase = "admitting";
    let decision: Admission | Promise<Admission>;
    try {
      decision = this.#host.admit(conn, auth.siloId);
    } catch {
      decision = ADMISSION_FAILED;
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => this.#admitted(d),
        () => this.#admitted(ADMISSION_FAILED),
      );
    } else this.#admitted(decision);
  }

  #admitted(decision: Admission): void {
    if (this.#phase !== "admitting") return; // closed meanwhile
    if (decision !== "accept") {
      this.#conn.close(decision.code, decision.reason);
      return;
    }
    const { secret, cluster, selfId } = this.#host;
    const peerId = this.#conn.peerId as string;
    this.#send(encodeWelcome(proof(secret, "server", this.#peerNonce as Uint8Array, selfId, peerId, cluster)));
    this.#finish();
  }

  #clientStep(bytes: Uint8Array): void {
    const conn = this.#conn;
    const { secret, cluster, selfId } = this.#host;
    const peerId = conn.peerId as string;
    if (this.#phase === "hello") {
      const hello = parseHello(bytes);
      if (hello === undefined || hello.version !== SILO_PROTOCOL_VERSION) {
        conn.close(SiloCloseCode.PROTOCOL, "expected hello of a compatible silo");
        return;
      }
      if (hello.cluster !== cluster) {
        conn.close(SiloCloseCode.AUTH_FAILED, "another cluster");
        return;
      }
      if (hello.siloId !== peerId) {
        // The address now belongs to another silo (a restart): the one we wanted is gone.
        conn.close(SiloCloseCode.UNKNOWN_PEER, "not the silo dialled");
        return;
      }
      this.#phase = "welcome";
      this.#send(
        encodeAuth({
          siloId: selfId,
          proof: proof(secret, "client", hello.nonce, selfId, peerId, cluster),
          nonce: this.#nonce,
        }),
      );
      return;
    }
    const serverProof = parseWelcome(bytes);
    if (
      serverProof === undefined ||
      !verifyProof(serverProof, secret, "server", this.#nonce, peerId, selfId, cluster)
    ) {
      conn.close(SiloCloseCode.AUTH_FAILED, "server failed authentication");
      return;
    }
    this.#finish();
  }

  #finish(): void {
    // A failed send of "welcome" closed the connection already: it must not open.
    if (this.#phase === "done") return;
    // Both sides proved the secret: frames up to the transport's limit from now on.
    if (!setMaxPayload(this.#ws, this.#host.limits.maxFrameBytes)) {
      this.#conn.close(SiloCloseCode.PROTOCOL, "cannot raise the frame limit (unsupported ws version)");
      return;
    }
    this.stop();
    this.#authenticated();
  }

  #send(bytes: Uint8Array): void {
    try {
      this.#ws.send(bytes);
    } catch {
      this.#conn.close(SiloCloseCode.GOING_AWAY, "send failed");
    }
  }
}

/**
 * Raise the largest message `ws` accepts. Connections start at the handshake
 * size so a stranger cannot make us buffer a big frame; ws has no public way to
 * change the limit of an open socket, but its receiver reads `_maxPayload`
 * for every frame header (ws 1.x to 8.x).
 */
function setMaxPayload(ws: WebSocket, bytes: number): boolean {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  if (receiver === undefined || typeof receiver._maxPayload !== "number") return false;
  receiver._maxPayload = bytes;
  return true;
}
