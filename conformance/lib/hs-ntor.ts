/**
 * hs-ntor (onion_service.proto HS-NTOR; rend-spec-v3 3.3), the suite's own reading: the
 * client's INTRODUCE1 encryption and MAC, the service's check and RENDEZVOUS1 answer, the
 * client's check of AUTH_INPUT_MAC, and the end-to-end keys.
 */
import { createCipheriv } from "node:crypto";
import { concat, equal, u8, utf8 } from "./bytes.js";
import { type X25519Key, x25519, x25519Generate } from "./crypto.js";
import { hsMac, kdf } from "./onion-keys.js";

const PROTOID = "tor-hs-ntor-curve25519-sha3-256-1";
const T_HSENC = `${PROTOID}:hs_key_extract`;
const T_HSVERIFY = `${PROTOID}:hs_verify`;
const T_HSMAC = `${PROTOID}:hs_mac`;
const M_HSEXPAND = `${PROTOID}:hs_key_expand`;
export const HANDSHAKE_INFO_LEN = 64;

export function aes256Ctr(key: Uint8Array, data: Uint8Array, iv: Uint8Array = new Uint8Array(16)): Uint8Array {
  return u8(createCipheriv("aes-256-ctr", key, iv).update(data));
}

/** An all-zero X25519 output is refused on either side. */
function dh(secret: X25519Key, peer: Uint8Array): Uint8Array {
  const out = x25519(secret, peer);
  if (out.every((b) => b === 0)) throw new Error("hs-ntor: all-zero X25519 output");
  return out;
}

/** ENC_KEY | MAC_KEY = KDF(EXP(B,x) | AUTH_KEY | X | B | PROTOID | t_hsenc | m_hsexpand | N_hs_subcred, 64). */
function introKeys(shared: Uint8Array, authKey: Uint8Array, X: Uint8Array, B: Uint8Array, subcred: Uint8Array) {
  const k = kdf(64, shared, authKey, X, B, PROTOID, T_HSENC, M_HSEXPAND, subcred);
  return { enc: k.subarray(0, 32), mac: k.subarray(32) };
}

/** NTOR_KEY_SEED and AUTH_INPUT_MAC from EXP(X,y)/EXP(Y,x) and EXP(X,b)/EXP(B,x). */
function rendKeys(xy: Uint8Array, xb: Uint8Array, authKey: Uint8Array, B: Uint8Array, X: Uint8Array, Y: Uint8Array) {
  const input = concat(xy, xb, authKey, B, X, Y, utf8(PROTOID));
  const seed = hsMac(input, T_HSENC);
  const verify = hsMac(input, T_HSVERIFY);
  const authMac = hsMac(concat(verify, authKey, B, Y, X, utf8(PROTOID), utf8("Server")), T_HSMAC);
  return { seed, authMac };
}

export interface IntroTarget {
  /** B, the service's X25519 key for this intro point. */
  encKey: Uint8Array;
  /** AUTH_KEY of the intro point. */
  authKey: Uint8Array;
  subcredential: Uint8Array;
}

export interface ClientIntroState {
  target: IntroTarget;
  x: X25519Key;
  xb: Uint8Array;
}

/** Client: encrypt `plaintext` and MAC header | X | encrypted. */
export function clientIntroduce(target: IntroTarget, header: Uint8Array, plaintext: Uint8Array, x: X25519Key = x25519Generate()) {
  const xb = dh(x, target.encKey);
  const keys = introKeys(xb, target.authKey, x.publicKey, target.encKey, target.subcredential);
  const encrypted = aes256Ctr(keys.enc, plaintext);
  const mac = hsMac(keys.mac, header, x.publicKey, encrypted);
  return { state: { target, x, xb } as ClientIntroState, X: x.publicKey, encrypted, mac };
}

/** Client: check RENDEZVOUS2's Y | AUTH_INPUT_MAC; returns NTOR_KEY_SEED or throws. */
export function clientFinish(state: ClientIntroState, handshakeInfo: Uint8Array): Uint8Array {
  if (handshakeInfo.length !== HANDSHAKE_INFO_LEN) throw new Error(`handshake_info is ${handshakeInfo.length} bytes, not 64`);
  const Y = handshakeInfo.subarray(0, 32);
  const { seed, authMac } = rendKeys(dh(state.x, Y), state.xb, state.target.authKey, state.target.encKey, state.x.publicKey, Y);
  if (!equal(authMac, handshakeInfo.subarray(32))) throw new Error("AUTH_INPUT_MAC does not verify");
  return seed;
}

export interface ServiceIntroKeys {
  /** (b, B). */
  encKey: X25519Key;
  authKey: Uint8Array;
  subcredential: Uint8Array;
}

/** Service: check the MAC and decrypt; undefined if the MAC does not check. */
export function serviceOpen(keys: ServiceIntroKeys, header: Uint8Array, X: Uint8Array, encrypted: Uint8Array, mac: Uint8Array): { plaintext: Uint8Array; xb: Uint8Array } | undefined {
  if (X.length !== 32 || mac.length !== 32) return undefined;
  let xb: Uint8Array;
  try {
    xb = dh(keys.encKey, X);
  } catch {
    return undefined;
  }
  const k = introKeys(xb, keys.authKey, X, keys.encKey.publicKey, keys.subcredential);
  if (!equal(hsMac(k.mac, header, X, encrypted), mac)) return undefined;
  return { plaintext: aes256Ctr(k.enc, encrypted), xb };
}

/** Service: Y | AUTH_INPUT_MAC and NTOR_KEY_SEED. */
export function serviceRespond(keys: ServiceIntroKeys, X: Uint8Array, xb: Uint8Array, y: X25519Key = x25519Generate()) {
  const { seed, authMac } = rendKeys(dh(y, X), xb, keys.authKey, keys.encKey.publicKey, X, y.publicKey);
  return { handshakeInfo: concat(y.publicKey, authMac), seed };
}

/** KDF(NTOR_KEY_SEED | m_hsexpand, 128) = Df | Db | Kf | Kb. */
export function endToEndKeys(seed: Uint8Array): Uint8Array {
  return kdf(128, seed, M_HSEXPAND);
}
