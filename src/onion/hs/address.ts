/**
 * Onion-service addresses (rend-spec-v3 §6 [ONIONADDRESS]): the service's Ed25519 identity key A
 * as base32(A | CHECKSUM | VERSION), lower case, 56 characters, with
 * CHECKSUM = H(".onion checksum" | A | VERSION)[0:2] and VERSION = 3. Tor writes `.onion` after
 * it; our network writes `.meow`, so that nothing mistakes our names for Tor's or sends them there.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { type BadAddressReason, MeowOnionError, OnionError } from "../errors.js";
import { requireLength, sha3 } from "./hash.js";

export const MEOW_SUFFIX = ".meow";
export const TOR_ONION_SUFFIX = ".onion";
/** Characters of an address without its suffix. */
export const ONION_ADDRESS_LEN = 56;

const VERSION = 3;
const KEY_LEN = 32;
const CHECKSUM_LEN = 2;
const BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** The 56 lower-case characters naming the service whose identity key is `identityKey`. */
export function encodeOnionAddress(identityKey: Uint8Array): string {
  requireLength(identityKey, KEY_LEN, "an onion-service identity key");
  return base32Encode(Buffer.concat([identityKey, checksum(identityKey), Buffer.of(VERSION)]));
}

/** `<56 characters>.meow`: the host name clients ask the proxy for. */
export function meowHostName(identityKey: Uint8Array): string {
  return encodeOnionAddress(identityKey) + MEOW_SUFFIX;
}

// Case-insensitive for ASCII only (no u flag): no other character may stand for these letters.
const MEOW_NAME = /\.meow$/i;
const TOR_ONION_NAME = /\.onion$/i;

/** Whether `host` names an onion service of our network at all (valid or not). */
export function isMeowHostName(host: string): boolean {
  return MEOW_NAME.test(host);
}

/** Whether `host` names one of Tor's onion services: those live on Tor's network, not ours. */
export function isTorOnionHostName(host: string): boolean {
  return TOR_ONION_NAME.test(host);
}

/**
 * The identity key a `.meow` host name stands for. Case does not matter; as in Tor, labels
 * before the address (`www.<56>.meow`) are allowed and ignored. Refuses, each with its own
 * reason: a wrong length, characters outside base32, a version other than 3, a wrong checksum,
 * and a key that is not a point of Ed25519's prime-order group (as C tor does, so that one
 * service cannot be written as several addresses). Ask isMeowHostName first: any other name
 * is the caller's error.
 */
export function parseMeowHostName(host: string): Uint8Array {
  if (!isMeowHostName(host)) throw new MeowOnionError("invalid-argument", `${host} is not a ${MEOW_SUFFIX} name`);
  const name = host.slice(0, -MEOW_SUFFIX.length);
  const address = name.slice(name.lastIndexOf(".") + 1);
  if (address.length !== ONION_ADDRESS_LEN) {
    refuse("bad-address-length", `an onion address has ${ONION_ADDRESS_LEN} characters, got ${address.length}`);
  }
  const decoded = base32Decode(address);
  if (decoded === undefined) refuse("bad-address-encoding", "an onion address is base32 (a-z, 2-7, either case)");
  const identityKey = decoded.subarray(0, KEY_LEN);
  // The version first: another version might compute its checksum differently.
  const version = decoded[KEY_LEN + CHECKSUM_LEN];
  if (version !== VERSION) refuse("bad-address-version", `onion address version ${version}, only ${VERSION} is known`);
  if (!checksum(identityKey).equals(decoded.subarray(KEY_LEN, KEY_LEN + CHECKSUM_LEN))) {
    refuse("bad-address-checksum", "onion address checksum mismatch (a mistyped address?)");
  }
  if (!isPrimeOrderPoint(identityKey)) refuse("bad-address-key", "onion address key is not a valid Ed25519 public key");
  return Uint8Array.from(identityKey);
}

function checksum(identityKey: Uint8Array): Buffer {
  return sha3(".onion checksum", identityKey, Buffer.of(VERSION)).subarray(0, CHECKSUM_LEN);
}

/** A canonical encoding of a point other than the identity, with no small-order component. */
function isPrimeOrderPoint(key: Uint8Array): boolean {
  try {
    const point = ed25519.Point.fromBytes(key);
    return !point.is0() && point.isTorsionFree();
  } catch {
    return false;
  }
}

/** RFC 4648 base32, lower case, no padding: 35 bytes are exactly 56 characters. */
function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

const BASE32_VALUES = new Map([...BASE32_ALPHABET].flatMap((char, value) => [[char, value], [char.toUpperCase(), value]]));

/** The bytes of base32 in either case (trailing bits short of a byte dropped), or undefined. */
function base32Decode(text: string): Buffer | undefined {
  const out = Buffer.alloc(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (const char of text) {
    const value = BASE32_VALUES.get(char);
    if (value === undefined) return undefined;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

function refuse(reason: BadAddressReason, message: string): never {
  throw new OnionError(reason, message);
}
