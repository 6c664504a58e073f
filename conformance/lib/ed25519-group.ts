/**
 * Ed25519 group arithmetic (RFC 8032 5.1), the suite's own, in BigInt. Key blinding
 * (onion_service.proto BLINDED KEY AND SUBCREDENTIAL) needs what node:crypto lacks: a point
 * times a scalar, and a signature made from an expanded secret key (a, RH) that has no seed.
 * Slow (milliseconds per multiplication) and not constant-time: test code only.
 */
import { createHash } from "node:crypto";
import { concat, u8 } from "./bytes.js";

const P = 2n ** 255n - 19n;
/** l, the order of the prime-order subgroup. */
export const GROUP_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function pow(base: bigint, exp: bigint, m = P): bigint {
  let r = 1n;
  let b = mod(base, m);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}

const inv = (a: bigint) => pow(a, P - 2n);
const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** A point in extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z. */
interface Point {
  X: bigint;
  Y: bigint;
  Z: bigint;
  T: bigint;
}

const IDENTITY: Point = { X: 0n, Y: 1n, Z: 1n, T: 0n };

export function bytesToNumberLE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

export function numberToBytesLE(n: bigint, len = 32): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0, v = n; i < len; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

function add(p: Point, q: Point): Point {
  const a = mod((p.Y - p.X) * (q.Y - q.X));
  const b = mod((p.Y + p.X) * (q.Y + q.X));
  const c = mod(p.T * 2n * D * q.T);
  const d = mod(p.Z * 2n * q.Z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { X: mod(e * f), Y: mod(g * h), Z: mod(f * g), T: mod(e * h) };
}

function multiply(p: Point, scalar: bigint): Point {
  let r = IDENTITY;
  let q = p;
  for (let s = scalar; s > 0n; s >>= 1n) {
    if (s & 1n) r = add(r, q);
    q = add(q, q);
  }
  return r;
}

/** RFC 8032 5.1.3; throws if the bytes are not a point. */
function decode(bytes: Uint8Array): Point {
  if (bytes.length !== 32) throw new Error("an Ed25519 point is 32 bytes");
  const sign = bytes[31] >> 7;
  const y = bytesToNumberLE(bytes) & ((1n << 255n) - 1n);
  if (y >= P) throw new Error("point y out of range");
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const x2 = mod(u * inv(v));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1);
  if (mod(x * x - x2) !== 0n) throw new Error("not an Ed25519 point");
  if (x === 0n && sign === 1) throw new Error("not an Ed25519 point (negative zero)");
  if (Number(x & 1n) !== sign) x = P - x;
  return { X: x, Y: y, Z: 1n, T: mod(x * y) };
}

function encode(p: Point): Uint8Array {
  const zi = inv(p.Z);
  const x = mod(p.X * zi);
  const out = numberToBytesLE(mod(p.Y * zi));
  out[31] |= Number(x & 1n) << 7;
  return out;
}

const BASE = decode(new Uint8Array(Buffer.from("5866666666666666666666666666666666666666666666666666666666666666", "hex")));

/** scalar · point, the point given and returned encoded. */
export function scalarMultPoint(point: Uint8Array, scalar: bigint): Uint8Array {
  return encode(multiply(decode(point), scalar));
}

/** scalar · B. */
export function scalarMultBase(scalar: bigint): Uint8Array {
  return encode(multiply(BASE, scalar));
}

/** An Ed25519 secret key as signing uses it: the scalar a and the nonce prefix RH (RFC 8032 5.1.5). */
export interface ExpandedKey {
  scalar: bigint;
  prefix: Uint8Array;
}

export function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return u8(h.digest());
}

/** (a, RH) of a 32-byte seed: SHA-512(seed), its lower half clamped. */
export function expandSeed(seed: Uint8Array): ExpandedKey {
  const h = sha512(seed);
  const a = Uint8Array.from(h.subarray(0, 32));
  a[0] &= 248;
  a[31] &= 127;
  a[31] |= 64;
  return { scalar: bytesToNumberLE(a), prefix: h.slice(32) };
}

/** RFC 8032 5.1.6 with an expanded key: r = SHA-512(RH | M), R = rB, S = r + SHA-512(R | A | M)·a mod l. */
export function signExpanded(key: ExpandedKey, message: Uint8Array): Uint8Array {
  const publicKey = scalarMultBase(key.scalar);
  const r = bytesToNumberLE(sha512(key.prefix, message)) % GROUP_ORDER;
  const R = scalarMultBase(r);
  const k = bytesToNumberLE(sha512(R, publicKey, message)) % GROUP_ORDER;
  return concat(R, numberToBytesLE((r + k * key.scalar) % GROUP_ORDER));
}
