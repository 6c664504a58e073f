/**
 * The suite's own cryptography, written from the spec text with node:crypto only:
 * Ed25519 (RFC 8032) with domain-separated signatures, X25519, HMAC/HKDF-SHA256, SHA-1/SHA-256.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from "node:crypto";
import { concat, u8, utf8 } from "./bytes.js";

const ED_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const ED_SPKI = Buffer.from("302a300506032b6570032100", "hex");
const X_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
const X_SPKI = Buffer.from("302a300506032b656e032100", "hex");

export interface Ed25519Key {
  /** 32-byte seed (RFC 8032 secret key). */
  seed: Uint8Array;
  /** 32-byte public key. */
  publicKey: Uint8Array;
  privateObject: KeyObject;
}

export function ed25519FromSeed(seed: Uint8Array): Ed25519Key {
  if (seed.length !== 32) throw new Error("Ed25519 seed must be 32 bytes");
  const privateObject = createPrivateKey({ key: Buffer.concat([ED_PKCS8, seed]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateObject).export({ format: "der", type: "spki" });
  return { seed, publicKey: u8(spki.subarray(ED_SPKI.length)), privateObject };
}

export function ed25519Generate(): Ed25519Key {
  return ed25519FromSeed(u8(randomBytes(32)));
}

export function ed25519Sign(key: Ed25519Key, message: Uint8Array): Uint8Array {
  return u8(edSign(null, message, key.privateObject));
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const pub = createPublicKey({ key: Buffer.concat([ED_SPKI, publicKey]), format: "der", type: "spki" });
    return edVerify(null, message, pub, signature);
  } catch {
    return false;
  }
}

/** utf8(domain) | 0x00 | bytes — descriptor.proto SIGNATURES. */
export function domainMessage(domain: string, bytes: Uint8Array): Uint8Array {
  return concat(utf8(domain), new Uint8Array([0]), bytes);
}

export function signDomain(key: Ed25519Key, domain: string, bytes: Uint8Array): Uint8Array {
  return ed25519Sign(key, domainMessage(domain, bytes));
}

export function verifyDomain(publicKey: Uint8Array, domain: string, bytes: Uint8Array, signature: Uint8Array): boolean {
  return ed25519Verify(publicKey, domainMessage(domain, bytes), signature);
}

export const DOMAIN = {
  descriptor: "meowonion-descriptor-v1",
  heartbeat: "meowonion-heartbeat-v1",
  consensus: "meowonion-consensus-v1",
  vote: "meowonion-vote-v1",
  linkAuth: "meowonion-link-auth-v1",
  onionDescriptor: "meowonion-onion-descriptor-v1",
  establishIntro: "meowonion-establish-intro-v1",
} as const;

export interface X25519Key {
  secret: Uint8Array;
  publicKey: Uint8Array;
  privateObject: KeyObject;
}

export function x25519FromSecret(secret: Uint8Array): X25519Key {
  if (secret.length !== 32) throw new Error("X25519 secret must be 32 bytes");
  const privateObject = createPrivateKey({ key: Buffer.concat([X_PKCS8, secret]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateObject).export({ format: "der", type: "spki" });
  return { secret, publicKey: u8(spki.subarray(X_SPKI.length)), privateObject };
}

export function x25519Generate(): X25519Key {
  const { privateKey } = generateKeyPairSync("x25519");
  const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
  return x25519FromSecret(u8(pkcs8.subarray(X_PKCS8.length)));
}

/** X25519(secret, peer public). Throws on an invalid (e.g. low-order, all-zero result) point. */
export function x25519(secret: X25519Key, peerPublic: Uint8Array): Uint8Array {
  const pub = createPublicKey({ key: Buffer.concat([X_SPKI, peerPublic]), format: "der", type: "spki" });
  return u8(diffieHellman({ privateKey: secret.privateObject, publicKey: pub }));
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return u8(h.digest());
}

export function sha1(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha1");
  for (const p of parts) h.update(p);
  return u8(h.digest());
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return u8(createHmac("sha256", key).update(data).digest());
}

/** RFC 5869 HKDF written out (extract, then expand) — not node's hkdfSync, to stay independent. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = hmacSha256(salt.length ? salt : new Uint8Array(32), ikm);
  const out: Uint8Array[] = [];
  let t: Uint8Array = new Uint8Array(0);
  let total = 0;
  for (let i = 1; total < length; i++) {
    t = hmacSha256(prk, concat(t, info, new Uint8Array([i])));
    out.push(t);
    total += t.length;
  }
  return concat(...out).slice(0, length);
}

/** node's HKDF, used only to cross-check ours in the suite's self-check. */
export function hkdfSha256Node(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

/** Relay id: first 20 bytes of SHA-256(Ed25519 identity key) (descriptor.proto RelayDescriptor.identity_key). */
export function relayId(identityKey: Uint8Array): Uint8Array {
  return sha256(identityKey).slice(0, 20);
}
