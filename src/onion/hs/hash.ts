/**
 * The hash, KDF and MAC of onion services (rend-spec-v3 "Notation"): H = SHA3-256,
 * KDF = SHAKE-256, MAC(k, m) = H(INT_8(len k) | k | m), INT_8 = 8-byte big-endian; and the
 * length check every key and value of fixed size gets here.
 */
import { createHash } from "node:crypto";
import { MeowOnionError, OnionError } from "../errors.js";

export const HS_MAC_LEN = 32;

const UINT64_MAX = (1n << 64n) - 1n;

/** A hash input: bytes as they are, strings as their ASCII bytes (the spec's constants). */
export type HashPart = Uint8Array | string;

/** H(parts joined). */
export function sha3(...parts: HashPart[]): Buffer {
  const hash = createHash("sha3-256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** KDF(parts joined, length): the first `length` bytes of SHAKE-256. */
export function shake256(length: number, ...parts: HashPart[]): Buffer {
  const hash = createHash("shake256", { outputLength: length });
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** MAC(key, message) = H(INT_8(len key) | key | message). Not HMAC: Tor's own construction. */
export function hsMac(key: Uint8Array, ...message: HashPart[]): Buffer {
  return sha3(int8(key.length), key, ...message);
}

/** INT_8: an unsigned 64-bit integer, big-endian. Refuses what does not fit (or is not whole). */
export function int8(value: number | bigint): Buffer {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new MeowOnionError("invalid-argument", `INT_8 takes a whole number, got ${value}`);
  }
  const big = BigInt(value);
  if (big < 0n || big > UINT64_MAX) {
    throw new MeowOnionError("invalid-argument", `INT_8 takes 0..2^64-1, got ${value}`);
  }
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(big);
  return out;
}

/** Refuses (as a bad key) bytes of the wrong length: `what` names them in the message. */
export function requireLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new OnionError("bad-key", `${what} must be ${length} bytes, got ${bytes.length}`);
}
