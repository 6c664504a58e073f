/**
 * ntor (link.proto HandshakeType.HANDSHAKE_TYPE_NTOR; tor-spec 5.1.4), the suite's own reading.
 *   client -> ID(20) | B(32) | X(32);  server -> Y(32) | AUTH(32)
 *   secret_input = EXP(X,y) | EXP(X,b) | ID | B | X | Y | PROTOID
 *   KEY_SEED = H(secret_input, t_key); verify = H(secret_input, t_verify)
 *   AUTH = H(verify | ID | B | Y | X | PROTOID | "Server", t_mac)
 *   keys = HKDF-SHA256(salt=t_key, ikm=secret_input, info=m_expand), 92 bytes.
 */
import { concat, equal, utf8 } from "./bytes.js";
import { type X25519Key, hkdfSha256, hmacSha256, x25519, x25519Generate } from "./crypto.js";

const PROTOID = "ntor-curve25519-sha256-1";
const T_MAC = utf8(`${PROTOID}:mac`);
const T_KEY = utf8(`${PROTOID}:key_extract`);
const T_VERIFY = utf8(`${PROTOID}:verify`);
const M_EXPAND = utf8(`${PROTOID}:key_expand`);
const PROTOID_BYTES = utf8(PROTOID);
const SERVER = utf8("Server");
export const NTOR_KEY_LEN = 92;

const H = (x: Uint8Array, t: Uint8Array) => hmacSha256(t, x);

function isZero(b: Uint8Array): boolean {
  return b.every((v) => v === 0);
}

function derive(
  xy: Uint8Array,
  xb: Uint8Array,
  id: Uint8Array,
  B: Uint8Array,
  X: Uint8Array,
  Y: Uint8Array,
): { auth: Uint8Array; keys: Uint8Array } {
  if (isZero(xy) || isZero(xb)) throw new Error("ntor: all-zero Diffie-Hellman result");
  const secretInput = concat(xy, xb, id, B, X, Y, PROTOID_BYTES);
  const verify = H(secretInput, T_VERIFY);
  const auth = H(concat(verify, id, B, Y, X, PROTOID_BYTES, SERVER), T_MAC);
  const keys = hkdfSha256(secretInput, T_KEY, M_EXPAND, NTOR_KEY_LEN);
  return { auth, keys };
}

export interface NtorClientState {
  id: Uint8Array;
  B: Uint8Array;
  x: X25519Key;
  /** The 84-byte CREATE2 handshake_data. */
  onionskin: Uint8Array;
}

export function ntorClientStart(id: Uint8Array, B: Uint8Array, x: X25519Key = x25519Generate()): NtorClientState {
  if (id.length !== 20 || B.length !== 32) throw new Error("ntor: ID must be 20 bytes and B 32 bytes");
  return { id, B, x, onionskin: concat(id, B, x.publicKey) };
}

export class NtorAuthError extends Error {}

/** Check the server's Y | AUTH; returns the 92 bytes of key material or throws NtorAuthError. */
export function ntorClientFinish(state: NtorClientState, reply: Uint8Array): Uint8Array {
  if (reply.length !== 64) throw new NtorAuthError(`ntor: reply is ${reply.length} bytes, not 64`);
  const Y = reply.subarray(0, 32);
  const auth = reply.subarray(32, 64);
  let derived;
  try {
    derived = derive(x25519(state.x, Y), x25519(state.x, state.B), state.id, state.B, state.x.publicKey, Y);
  } catch (e) {
    throw new NtorAuthError(`ntor: ${(e as Error).message}`);
  }
  if (!equal(derived.auth, auth)) throw new NtorAuthError("ntor: AUTH does not verify");
  return derived.keys;
}

/** Server side: given the relay's ID and onion key pair b/B, answer an onionskin. */
export function ntorServer(
  onionskin: Uint8Array,
  expectId: Uint8Array,
  onionKeys: X25519Key[],
  y: X25519Key = x25519Generate(),
): { reply: Uint8Array; keys: Uint8Array } {
  if (onionskin.length !== 84) throw new Error("ntor: onionskin must be 84 bytes");
  const id = onionskin.subarray(0, 20);
  const B = onionskin.subarray(20, 52);
  const X = onionskin.subarray(52, 84);
  if (!equal(id, expectId)) throw new Error("ntor: unknown relay ID");
  const b = onionKeys.find((k) => equal(k.publicKey, B));
  if (!b) throw new Error("ntor: unknown onion key");
  const { auth, keys } = derive(x25519(y, X), x25519(b, X), id, B, X, y.publicKey);
  return { reply: concat(y.publicKey, auth), keys };
}
