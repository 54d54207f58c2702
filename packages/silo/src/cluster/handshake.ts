/**
 * The three messages that open a silo connection, before any envelope may
 * pass (each a CBOR array, one per WebSocket message):
 *
 *   server → client  ["hello", version, cluster, serverId, serverNonce]
 *   client → server  ["auth", clientId, clientProof, clientNonce]
 *   server → client  ["welcome", serverProof]
 *
 * The server also checks that the client is a member of the cluster (auth.ts
 * has the proofs). Anything else before "welcome" closes the connection.
 */
import { decode, encodeTrusted, MAX_NAME_LENGTH, UNTRUSTED_DECODE_LIMITS } from "@praas/core/internal";
import { NONCE_BYTES } from "./auth.js";

/** Bumped when frames or the handshake change incompatibly. */
export const SILO_PROTOCOL_VERSION = 1;

/** A handshake message is tiny; anything bigger before authentication is an attack or a stranger. */
export const MAX_HANDSHAKE_BYTES = 4096;

/** WebSocket close codes of the silo transport. */
export const SiloCloseCode = {
  GOING_AWAY: 1001,
  /** Another connection to the same peer took over. */
  REPLACED: 4000,
  /** The peer stopped answering pings. */
  UNRESPONSIVE: 4002,
  /** The peer left the cluster (membership says so). */
  PEER_GONE: 4003,
  /** Not a silo handshake (wrong message, wrong version, too big). */
  PROTOCOL: 4400,
  /** Proof of the cluster secret missing or wrong, or another cluster. */
  AUTH_FAILED: 4401,
  /** Authenticated, but the silo id is not in the membership view. */
  UNKNOWN_PEER: 4403,
  /** The handshake did not finish in time. */
  HANDSHAKE_TIMEOUT: 4408,
  /** Both silos dialled; the other connection wins (see transport.ts). */
  DUPLICATE: 4409,
} as const;

export interface Hello {
  readonly version: number;
  readonly cluster: string;
  readonly siloId: string;
  readonly nonce: Uint8Array;
}

export interface Auth {
  readonly siloId: string;
  readonly proof: Uint8Array;
  readonly nonce: Uint8Array;
}

export function encodeHello(h: Hello): Uint8Array {
  return encodeTrusted(["hello", h.version, h.cluster, h.siloId, h.nonce]);
}

export function encodeAuth(a: Auth): Uint8Array {
  return encodeTrusted(["auth", a.siloId, a.proof, a.nonce]);
}

export function encodeWelcome(proof: Uint8Array): Uint8Array {
  return encodeTrusted(["welcome", proof]);
}

function decodeSmall(bytes: Uint8Array, tag: string, length: number): unknown[] | undefined {
  if (bytes.length > MAX_HANDSHAKE_BYTES) return undefined;
  let v: unknown;
  try {
    v = decode(bytes, UNTRUSTED_DECODE_LIMITS);
  } catch {
    return undefined;
  }
  return Array.isArray(v) && v.length === length && v[0] === tag ? v : undefined;
}

function isSiloId(v: unknown): v is string {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_NAME_LENGTH;
}

function isNonce(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length === NONCE_BYTES;
}

export function parseHello(bytes: Uint8Array): Hello | undefined {
  const m = decodeSmall(bytes, "hello", 5);
  if (m === undefined) return undefined;
  const [, version, cluster, siloId, nonce] = m;
  if (typeof version !== "number" || typeof cluster !== "string" || !isSiloId(siloId) || !isNonce(nonce)) {
    return undefined;
  }
  return { version, cluster, siloId, nonce };
}

export function parseAuth(bytes: Uint8Array): Auth | undefined {
  const m = decodeSmall(bytes, "auth", 4);
  if (m === undefined) return undefined;
  const [, siloId, proof, nonce] = m;
  if (!isSiloId(siloId) || !(proof instanceof Uint8Array) || !isNonce(nonce)) return undefined;
  return { siloId, proof, nonce };
}

/** The server's proof from a welcome message, or undefined. */
export function parseWelcome(bytes: Uint8Array): Uint8Array | undefined {
  const m = decodeSmall(bytes, "welcome", 2);
  return m !== undefined && m[1] instanceof Uint8Array ? m[1] : undefined;
}
