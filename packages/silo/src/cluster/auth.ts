/**
 * Proving membership of a cluster: both ends of a silo connection know a
 * shared secret and show it without sending it. Each side picks a fresh random
 * nonce; the other answers with HMAC-SHA256(secret, role ‖ nonce ‖ prover ‖
 * verifier ‖ cluster). The role label keeps a proof made as a client from being
 * replayed as a server's (reflection), and naming both silos and the cluster
 * keeps a proof from being reused on another connection.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "@praas/core/internal";

export const NONCE_BYTES = 32;
export type Role = "client" | "server";

export function newNonce(): Uint8Array {
  return randomBytes(NONCE_BYTES);
}

export function proof(
  secret: Uint8Array,
  role: Role,
  nonce: Uint8Array,
  prover: string,
  verifier: string,
  cluster: string,
): Uint8Array {
  const h = createHmac("sha256", secret);
  // Length-prefix every variable field so no two field lists hash the same bytes.
  for (const part of [`praas-silo-${role}`, prover, verifier, cluster]) {
    const bytes = Buffer.from(part, "utf8");
    h.update(lengthPrefix(bytes.length));
    h.update(bytes);
  }
  h.update(lengthPrefix(nonce.length));
  h.update(nonce);
  return h.digest();
}

/** Constant-time check of a proof received from the network (any value). */
export function verifyProof(
  received: unknown,
  secret: Uint8Array,
  role: Role,
  nonce: Uint8Array,
  prover: string,
  verifier: string,
  cluster: string,
): boolean {
  if (!(received instanceof Uint8Array)) return false;
  const expected = proof(secret, role, nonce, prover, verifier, cluster);
  return received.length === expected.length && timingSafeEqual(received, expected);
}

function lengthPrefix(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * The cluster secret as bytes: the option, else the secret of an in-process membership (`localSecret`, which nothing outside
 * the process can know). Anything else is refused, loopback included: on one
 * machine every local process can reach the silo port, and a secret written in
 * the source would let any of them run calls past the gateway's token.
 */
export function resolveSecret(option: string | undefined, localSecret: Uint8Array | undefined): Uint8Array {
  const secret = option === "" ? undefined : option;
  if (secret === undefined) {
    if (localSecret !== undefined && localSecret.length >= 16) return localSecret;
    throw new InvalidArgumentError(
      "cluster.secret is required: every silo of the cluster proves it before any call passes, and without it any process that can reach the silo port could run calls. Give the same random string of at least 16 characters to every silo (e.g. the output of `openssl rand -hex 32`)",
    );
  }
  if (typeof secret !== "string" || secret.length < 16) {
    throw new InvalidArgumentError("cluster.secret must be a string of at least 16 characters");
  }
  return Buffer.from(secret, "utf8");
}
