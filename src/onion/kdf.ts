import { hkdfSync } from "node:crypto";

/**
 * HKDF-SHA256 (RFC 5869), extract then expand. ntor's "KDF-RFC5869" is exactly this with
 * salt = t_key: its KEY_SEED = H(secret_input, t_key) is the HKDF-Extract PRK.
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array | string,
  info: Uint8Array | string,
  length: number,
): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}
