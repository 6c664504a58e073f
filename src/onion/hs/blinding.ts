/**
 * Key blinding (rend-spec-v3 appendix A.2) and the subcredential (§2.1). Each time period the
 * service's identity key A becomes a blinded key A' = h·A: A' names the descriptor on the HSDir
 * ring and certifies its signing key, yet cannot be linked to A by anyone who does not know A.
 *
 * node:crypto has no Ed25519 point or scalar arithmetic and cannot sign with an expanded secret
 * key (a, RH), which is all a blinded secret key is (a' = h·a has no seed), so those come from
 * @noble/curves. Hashes are node:crypto's; a blinded key's signatures verify with node:crypto's
 * ordinary Ed25519 verify.
 */
import { createHash } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, numberToBytesLE } from "@noble/curves/utils.js";
import { OnionError } from "../errors.js";
import { int8, requireLength, sha3 } from "./hash.js";
import type { TimePeriodId } from "./time-period.js";

const Point = ed25519.Point;
/** l, the order of Ed25519's prime-order group. */
const GROUP_ORDER = Point.Fn.ORDER;
const KEY_LEN = 32;
export const SUBCREDENTIAL_LEN = 32;

const BLIND_STRING = "Derive temporary signing key\0";
const BLIND_HASH_PREFIX_STRING = "Derive temporary signing key hash input";
/** The base point B as the spec writes it into the blinding hash: its decimal (x, y). */
const BASEPOINT_STRING =
  "(15112221349535400772501151409588531511454012693041857206046113283949847762202, " +
  "46316835694926478169428394003475163141307993866256225615783033603165251855960)";

/**
 * An Ed25519 secret key in the form signing uses: the scalar a (32 bytes, little-endian) and the
 * hash prefix RH that derives each signature's nonce (RFC 8032 §5.1.5's s and prefix).
 */
export interface ExpandedSecretKey {
  readonly scalar: Uint8Array;
  readonly hashPrefix: Uint8Array;
}

/** (a, RH) of an ordinary 32-byte Ed25519 seed: SHA-512(seed), its lower half clamped. */
export function expandEd25519Seed(seed: Uint8Array): ExpandedSecretKey {
  requireLength(seed, KEY_LEN, "Ed25519 seed");
  const digest = createHash("sha512").update(seed).digest();
  const scalar = Uint8Array.from(digest.subarray(0, KEY_LEN));
  scalar[0] &= 248;
  scalar[31] &= 127;
  scalar[31] |= 64;
  return { scalar, hashPrefix: Uint8Array.from(digest.subarray(KEY_LEN)) };
}

/** The public key a·B of an expanded secret key. */
export function publicKeyOfExpanded(secret: ExpandedSecretKey): Uint8Array {
  return Point.BASE.multiply(scalarOf(secret)).toBytes();
}

/**
 * The blinding factor h = H("Derive temporary signing key" | INT_1(0) | A | s | B | N) with
 * s empty and N = "key-blind" | INT_8(period_num) | INT_8(period_length), clamped.
 */
export function blindingFactor(identityKey: Uint8Array, period: TimePeriodId): Uint8Array {
  requireLength(identityKey, KEY_LEN, "identity key");
  const h = sha3(BLIND_STRING, identityKey, BASEPOINT_STRING, "key-blind", int8(period.number), int8(period.lengthMinutes));
  h[0] &= 248;
  h[31] &= 63;
  h[31] |= 64;
  return h;
}

/** A' = h·A: what clients compute from the address to find and open the descriptor. */
export function blindPublicKey(identityKey: Uint8Array, period: TimePeriodId): Uint8Array {
  requireLength(identityKey, KEY_LEN, "identity key");
  let point;
  try {
    point = Point.fromBytes(identityKey);
  } catch (cause) {
    throw new OnionError("bad-key", "identity key is not an Ed25519 point", { cause });
  }
  return point.multiply(blindingScalar(identityKey, period)).toBytes();
}

/**
 * The service's blinded secret key: a' = h·a mod l, RH' = SHA-512("Derive temporary signing
 * key hash input" | RH)[0:32]. Its public key is blindPublicKey(A) for A = a·B.
 */
export function blindSecretKey(secret: ExpandedSecretKey, period: TimePeriodId): ExpandedSecretKey {
  const identityKey = publicKeyOfExpanded(secret);
  const blindedScalar = (scalarOf(secret) * blindingScalar(identityKey, period)) % GROUP_ORDER;
  const hashPrefix = createHash("sha512").update(BLIND_HASH_PREFIX_STRING).update(secret.hashPrefix).digest();
  return { scalar: numberToBytesLE(blindedScalar, KEY_LEN), hashPrefix: Uint8Array.from(hashPrefix.subarray(0, KEY_LEN)) };
}

/**
 * An Ed25519 signature (RFC 8032 §5.1.6) with an expanded secret key: r = SHA-512(RH | M) mod l,
 * R = r·B, S = r + SHA-512(R | A | M)·a mod l. Any Ed25519 verify accepts it against A = a·B.
 */
export function signWithExpandedKey(secret: ExpandedSecretKey, message: Uint8Array): Uint8Array {
  const a = scalarOf(secret);
  const publicKey = Point.BASE.multiply(a).toBytes();
  const r = sha512Scalar(secret.hashPrefix, message);
  const R = Point.BASE.multiply(r).toBytes();
  const k = sha512Scalar(R, publicKey, message);
  const S = (r + k * a) % GROUP_ORDER;
  return Buffer.concat([R, numberToBytesLE(S, KEY_LEN)]);
}

/** N_hs_cred = H("credential" | A). */
export function credential(identityKey: Uint8Array): Uint8Array {
  requireLength(identityKey, KEY_LEN, "identity key");
  return sha3("credential", identityKey);
}

/** N_hs_subcred = H("subcredential" | N_hs_cred | A'): the secret both ends of a period share. */
export function subcredential(identityKey: Uint8Array, blindedKey: Uint8Array): Uint8Array {
  requireLength(blindedKey, KEY_LEN, "blinded key");
  return sha3("subcredential", credential(identityKey), blindedKey);
}

/** h mod l, as Tor and Arti multiply by it (the same as h on the prime-order group). */
function blindingScalar(identityKey: Uint8Array, period: TimePeriodId): bigint {
  return bytesToNumberLE(blindingFactor(identityKey, period)) % GROUP_ORDER;
}

function scalarOf(secret: ExpandedSecretKey): bigint {
  requireLength(secret.scalar, KEY_LEN, "secret scalar");
  requireLength(secret.hashPrefix, KEY_LEN, "secret hash prefix");
  const scalar = bytesToNumberLE(secret.scalar) % GROUP_ORDER;
  if (scalar === 0n) throw new OnionError("bad-key", "secret scalar is 0 mod l");
  return scalar;
}

function sha512Scalar(...parts: Uint8Array[]): bigint {
  const hash = createHash("sha512");
  for (const part of parts) hash.update(part);
  return bytesToNumberLE(hash.digest()) % GROUP_ORDER;
}
