/**
 * Onion-service keys, the suite's own reading of onion_service.proto NOTATION, KEYS AND
 * ADDRESS, TIME PERIODS, BLINDED KEY AND SUBCREDENTIAL and HSDIRS AND THE RING.
 */
import { createHash } from "node:crypto";
import { compare, concat, equal, u8, utf8 } from "./bytes.js";
import { type ExpandedKey, GROUP_ORDER, bytesToNumberLE, numberToBytesLE, scalarMultBase, scalarMultPoint, sha512 } from "./ed25519-group.js";

type Part = Uint8Array | string;
const bytesOf = (p: Part) => (typeof p === "string" ? utf8(p) : p);

/** H = SHA3-256 of the concatenation. */
export function sha3(...parts: Part[]): Uint8Array {
  const h = createHash("sha3-256");
  for (const p of parts) h.update(bytesOf(p));
  return u8(h.digest());
}

/** MAC(k, m) = H(INT_8(len k) | k | m). */
export function hsMac(key: Uint8Array, ...message: Part[]): Uint8Array {
  return sha3(int8(key.length), key, ...message);
}

/** KDF(x, n): the first n bytes of SHAKE-256(x). */
export function kdf(n: number, ...parts: Part[]): Uint8Array {
  const h = createHash("shake256", { outputLength: n });
  for (const p of parts) h.update(bytesOf(p));
  return u8(h.digest());
}

/** INT_8(n): 8 bytes big-endian. */
export function int8(n: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

// ---------------------------------------------------------------- address

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
export const ADDRESS_SUFFIX = ".meow";
const VERSION = 3;

function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${JSON.stringify(ch)}`);
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

const checksum = (A: Uint8Array) => sha3(".onion checksum", A, new Uint8Array([VERSION])).subarray(0, 2);

/** `<base32(A | CHECKSUM | VERSION)>.meow`. */
export function onionAddress(A: Uint8Array): string {
  return base32(concat(A, checksum(A), new Uint8Array([VERSION]))) + ADDRESS_SUFFIX;
}

/** The identity key A of a `<56>.meow` name; throws on a bad length, base32, checksum or version. */
export function parseOnionAddress(name: string): Uint8Array {
  const label = name.toLowerCase().endsWith(ADDRESS_SUFFIX) ? name.toLowerCase().slice(0, -ADDRESS_SUFFIX.length) : name.toLowerCase();
  if (label.length !== 56) throw new Error(`an onion address is 56 characters, not ${label.length}`);
  const raw = unbase32(label);
  const A = raw.subarray(0, 32);
  if (raw[34] !== VERSION) throw new Error(`onion address version ${raw[34]}, not ${VERSION}`);
  if (!equal(raw.subarray(32, 34), checksum(A))) throw new Error("onion address checksum does not match");
  return A.slice();
}

// ---------------------------------------------------------------- time periods

export interface Period {
  num: bigint;
  lengthMinutes: number;
}

export function periodAt(ms: number, lengthMinutes: number, rotationOffsetMinutes: number): Period {
  const minutes = Math.floor(ms / 60_000);
  return { num: BigInt(Math.floor((minutes - rotationOffsetMinutes) / lengthMinutes)), lengthMinutes };
}

// ---------------------------------------------------------------- blinding

const BASEPOINT_TEXT =
  "(15112221349535400772501151409588531511454012693041857206046113283949847762202, 46316835694926478169428394003475163141307993866256225615783033603165251855960)";

/** h = H("Derive temporary signing key" | INT_1(0) | A | s | B | N), s empty, clamped. */
export function blindingFactor(A: Uint8Array, p: Period): Uint8Array {
  const h = sha3("Derive temporary signing key", new Uint8Array([0]), A, BASEPOINT_TEXT, "key-blind", int8(p.num), int8(p.lengthMinutes));
  h[0] &= 248;
  h[31] &= 63;
  h[31] |= 64;
  return h;
}

const blindingScalar = (A: Uint8Array, p: Period) => bytesToNumberLE(blindingFactor(A, p)) % GROUP_ORDER;

/** A' = h·A. */
export function blindPublicKey(A: Uint8Array, p: Period): Uint8Array {
  return scalarMultPoint(A, blindingScalar(A, p));
}

/** (a', RH'): a' = h·a mod l, RH' = SHA-512("Derive temporary signing key hash input" | RH)[0:32]. */
export function blindSecretKey(key: ExpandedKey, p: Period): ExpandedKey {
  const A = scalarMultBase(key.scalar);
  return { scalar: (key.scalar * blindingScalar(A, p)) % GROUP_ORDER, prefix: sha512(utf8("Derive temporary signing key hash input"), key.prefix).slice(0, 32) };
}

/** The 64 bytes a | RH of an expanded key (as the vectors write it). */
export function expandedKeyBytes(key: ExpandedKey): Uint8Array {
  return concat(numberToBytesLE(key.scalar), key.prefix);
}

/** N_hs_subcred = H("subcredential" | H("credential" | A) | A'). */
export function subcredential(A: Uint8Array, blinded: Uint8Array): Uint8Array {
  return sha3("subcredential", sha3("credential", A), blinded);
}

// ---------------------------------------------------------------- the HSDir ring

export const STORE_SPREAD = 4;
export const FETCH_SPREAD = 3;
export const REPLICAS = 2;

/** hsdir_index = H("node-idx" | identity_key | SRV | INT_8(period_num) | INT_8(period_length)). */
export function hsdirIndex(identity: Uint8Array, srv: Uint8Array, p: Period): Uint8Array {
  return sha3("node-idx", identity, srv, int8(p.num), int8(p.lengthMinutes));
}

/** hs_index = H("store-at-idx" | A' | INT_8(replica) | INT_8(period_length) | INT_8(period_num)). */
export function hsIndex(blinded: Uint8Array, replica: number, p: Period): Uint8Array {
  return sha3("store-at-idx", blinded, int8(replica), int8(p.lengthMinutes), int8(p.num));
}

/**
 * The HSDirs responsible for a blinded key: for each replica, the next `spread` relays (sorted
 * by hsdir_index) after hs_index, wrapping, skipping those already taken.
 */
export function responsibleHsDirs<R extends { identityKey: Uint8Array }>(hsdirs: R[], blinded: Uint8Array, srv: Uint8Array, p: Period, spread: number): R[] {
  const ring = hsdirs.map((r) => ({ r, idx: hsdirIndex(r.identityKey, srv, p) })).sort((a, b) => compare(a.idx, b.idx));
  const taken: R[] = [];
  for (let replica = 1; replica <= REPLICAS; replica++) {
    const at = hsIndex(blinded, replica, p);
    let start = ring.findIndex((e) => compare(e.idx, at) > 0);
    if (start < 0) start = 0;
    let got = 0;
    for (let i = 0; i < ring.length && got < spread; i++) {
      const { r } = ring[(start + i) % ring.length];
      if (taken.includes(r)) continue;
      taken.push(r);
      got++;
    }
  }
  return taken;
}
