/**
 * Ed25519 identity keys and domain-separated signatures. Every signed object type has its own
 * domain string, so a signature made for one kind of object can never verify as another.
 */
import {
  createPublicKey,
  generateKeyPairSync,
  sign,
  timingSafeEqual,
  verify,
  type JsonWebKey,
} from "node:crypto";
import { OnionError } from "./errors.js";
import { importRawPrivateKey, type ImportedPrivateKey } from "./raw-private-key.js";

export const DOMAIN_DESCRIPTOR = "meowonion-descriptor-v1";
export const DOMAIN_CONSENSUS = "meowonion-consensus-v1";
export const DOMAIN_HEARTBEAT = "meowonion-heartbeat-v1";
export const DOMAIN_LINK_AUTH = "meowonion-link-auth-v1";
export const DOMAIN_VOTE = "meowonion-vote-v1";
export const DOMAIN_ONION_DESCRIPTOR = "meowonion-onion-descriptor-v1";
export const DOMAIN_ESTABLISH_INTRO = "meowonion-establish-intro-v1";

export const ED25519_KEY_LEN = 32;
export const ED25519_SIGNATURE_LEN = 64;

export interface Ed25519KeyPair {
  /** 32-byte raw public key. */
  publicKey: Uint8Array;
  /** 32-byte seed (RFC 8032 private key). */
  privateKey: Uint8Array;
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  // Generated straight into JWK form, never as a KeyObject: on Node 20, exporting a KeyObject
  // made by generateKeyPairSync can deadlock (see generateJwk in ntor.ts).
  const jwk = (generateKeyPairSync as unknown as JwkKeyPairGenerator)("ed25519", {
    publicKeyEncoding: { format: "jwk" },
    privateKeyEncoding: { format: "jwk" },
  }).privateKey;
  return {
    publicKey: Buffer.from(jwk.x ?? "", "base64url"),
    privateKey: Buffer.from(jwk.d ?? "", "base64url"),
  };
}

// @types/node lacks the documented 'jwk' encoding overload of generateKeyPairSync.
type JwkKeyPairGenerator = (
  type: "ed25519",
  options: { publicKeyEncoding: { format: "jwk" }; privateKeyEncoding: { format: "jwk" } },
) => { publicKey: JsonWebKey; privateKey: JsonWebKey };

export function ed25519PublicFromPrivate(privateKey: Uint8Array): Uint8Array {
  return importPrivate(privateKey).publicKey;
}

/** Signs utf8(domain) || 0x00 || message. */
export function signWithDomain(
  domain: string,
  message: Uint8Array,
  privateKey: Uint8Array,
): Uint8Array {
  return sign(null, domainSeparated(domain, message), importPrivate(privateKey).key);
}

/** False for any bad signature, including malformed key or signature lengths: never throws. */
export function verifyWithDomain(
  domain: string,
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
): boolean {
  if (signature.length !== ED25519_SIGNATURE_LEN || publicKey.length !== ED25519_KEY_LEN) {
    return false;
  }
  try {
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") },
      format: "jwk",
    });
    return verify(null, domainSeparated(domain, message), key, signature);
  } catch {
    return false;
  }
}

/** utf8(domain) || 0x00 || message: what every signature of ours covers. */
export function domainSeparated(domain: string, message: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(domain, "utf8"), Buffer.of(0), message]);
}

/**
 * An import costs more than signing does, and a relay signs with one long-lived identity key,
 * so keep the KeyObject per seed array. The stored copy is re-checked so a caller reusing the
 * array for another key never gets a stale KeyObject.
 */
const privateKeyCache = new WeakMap<Uint8Array, { seed: Buffer } & ImportedPrivateKey>();

function importPrivate(seed: Uint8Array): ImportedPrivateKey {
  if (seed.length !== ED25519_KEY_LEN) {
    throw new OnionError("bad-key", `Ed25519 private key must be ${ED25519_KEY_LEN} bytes`);
  }
  const hit = privateKeyCache.get(seed);
  if (hit && timingSafeEqual(hit.seed, seed)) return hit;
  const imported = importRawPrivateKey("Ed25519", seed);
  privateKeyCache.set(seed, { seed: Buffer.from(seed), ...imported });
  return imported;
}
