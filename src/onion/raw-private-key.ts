/**
 * Importing a bare 32-byte X25519 scalar or Ed25519 seed into a KeyObject. The only documented
 * form for a private key without its public half is PKCS#8 DER, and OpenSSL 3's decoder
 * lookup makes that cost ≈ 0.8 ms; a JWK import costs ≈ 0.08 ms but wants `x` as well. Node
 * builds a JWK private key from `d` alone (EVP_PKEY_new_raw_private_key) and derives the public
 * key itself, so a placeholder `x` is enough. That is checked on every import: should a Node
 * version refuse the placeholder or keep it as the public key, the DER form is used instead.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

type RawKeyCurve = "X25519" | "Ed25519";

const RAW_PRIVATE_KEY_LEN = 32;

const PKCS8_PREFIX: Record<RawKeyCurve, Buffer> = {
  X25519: Buffer.from("302e020100300506032b656e04220420", "hex"),
  Ed25519: Buffer.from("302e020100300506032b657004220420", "hex"),
};
/** All zeros: never the public key of a real private key of either curve. */
const PLACEHOLDER_X = Buffer.alloc(RAW_PRIVATE_KEY_LEN).toString("base64url");

export interface ImportedPrivateKey {
  key: KeyObject;
  /** The raw 32-byte public key. */
  publicKey: Buffer;
}

/** `raw` (32 bytes, length checked by the caller) as a private KeyObject, with its public key. */
export function importRawPrivateKey(curve: RawKeyCurve, raw: Uint8Array): ImportedPrivateKey {
  try {
    const key = createPrivateKey({ key: { kty: "OKP", crv: curve, d: Buffer.from(raw).toString("base64url"), x: PLACEHOLDER_X }, format: "jwk" });
    const x = createPublicKey(key).export({ format: "jwk" }).x;
    if (x !== undefined && x !== PLACEHOLDER_X) return { key, publicKey: Buffer.from(x, "base64url") };
  } catch {
    // This Node checks `x` against `d`: the DER form below.
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX[curve], raw]), format: "der", type: "pkcs8" });
  return { key, publicKey: Buffer.from(createPublicKey(key).export({ format: "jwk" }).x ?? "", "base64url") };
}
