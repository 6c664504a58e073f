/**
 * hs-ntor (rend-spec-v3 §3.3, "NTOR-WITH-EXTRA-DATA"): the handshake between a client and an
 * onion service, carried by INTRODUCE1/2 one way and RENDEZVOUS1/2 the other.
 *
 *   client → service (INTRODUCE1): INTRO_HEADER | X | ENCRYPTED_DATA | MAC, where the data is
 *     encrypted and MACed with keys from EXP(B, x), so only the service (holding b) reads it;
 *   service → client (RENDEZVOUS1/2): Y | AUTH_INPUT_MAC;
 *   both: NTOR_KEY_SEED, expanded into the keys of the circuit's end-to-end hop.
 *
 * B is the service's X25519 key for one introduction point (KP_hss_ntor), AUTH_KEY that
 * point's Ed25519 key (KP_hs_ipt_sid), and the subcredential ties both to the service's address.
 * INTRO_HEADER is whatever bytes stand before X in the message (C tor's INTRODUCE1 fields; for a
 * protobuf INTRODUCE1, the bytes the protocol defines there): the MAC covers them.
 */
import { createCipheriv, timingSafeEqual, type KeyObject } from "node:crypto";
import { OnionError } from "../errors.js";
import {
  generateX25519KeyPair,
  importX25519Private,
  importX25519Public,
  x25519Exchange,
  type X25519KeyPair,
} from "../ntor.js";
import { ED25519_KEY_LEN } from "../signing.js";
import { SUBCREDENTIAL_LEN } from "./blinding.js";
import { HS_MAC_LEN, hsMac, requireLength, shake256 } from "./hash.js";

const PROTOID = "tor-hs-ntor-curve25519-sha3-256-1";
const T_HSENC = `${PROTOID}:hs_key_extract`;
const T_HSVERIFY = `${PROTOID}:hs_verify`;
const T_HSMAC = `${PROTOID}:hs_mac`;
const M_HSEXPAND = `${PROTOID}:hs_key_expand`;

const X25519_KEY_LEN = 32;
const ENC_KEY_LEN = 32;
/** AES-256-CTR from a zero IV: each key encrypts one message only. */
const ZERO_IV = Buffer.alloc(16);

/** RENDEZVOUS1's HANDSHAKE_INFO (and RENDEZVOUS2's): Y (32) | AUTH_INPUT_MAC (32). */
export const HS_NTOR_HANDSHAKE_INFO_LEN = X25519_KEY_LEN + HS_MAC_LEN;
/** KDF(NTOR_KEY_SEED | m_hsexpand, 128) = Df (32) | Db (32) | Kf (32) | Kb (32). */
export const HS_KEY_MATERIAL_LEN = 128;

/** What a client knows of one introduction point of a service (from its descriptor). */
export interface HsNtorIntroPoint {
  /** B, KP_hss_ntor. */
  readonly ntorKey: Uint8Array;
  /** AUTH_KEY, KP_hs_ipt_sid. */
  readonly authKey: Uint8Array;
  /** N_hs_subcred of the descriptor's time period. */
  readonly subcredential: Uint8Array;
}

/** The encrypted part of INTRODUCE1: the message is INTRO_HEADER | clientPublicKey | encrypted | mac. */
export interface HsNtorIntroduction {
  /** X. */
  readonly clientPublicKey: Uint8Array;
  readonly encrypted: Uint8Array;
  readonly mac: Uint8Array;
}

/** What the client keeps between sending INTRODUCE1 and receiving RENDEZVOUS2. */
export interface HsNtorClientState {
  readonly introPoint: HsNtorIntroPoint;
  /** X. */
  readonly publicKey: Uint8Array;
  /** x. */
  readonly privateKey: KeyObject;
  /** EXP(B, x), needed again for the rendezvous. */
  readonly sharedWithService: Buffer;
}

/**
 * Client: encrypt and MAC INTRODUCE1's plaintext (padding included: the caller pads) for the
 * service behind `introPoint`. `ephemeral` (x, X) is fresh unless given (tests).
 */
export function hsNtorClientIntroduce(
  introPoint: HsNtorIntroPoint,
  introHeader: Uint8Array,
  plaintext: Uint8Array,
  ephemeral: X25519KeyPair = generateX25519KeyPair(),
): { state: HsNtorClientState; introduction: HsNtorIntroduction } {
  checkIntroPoint(introPoint);
  const privateKey = importX25519Private(ephemeral);
  const state: HsNtorClientState = {
    introPoint,
    publicKey: Uint8Array.from(ephemeral.publicKey),
    privateKey,
    sharedWithService: x25519Exchange(privateKey, importX25519Public(introPoint.ntorKey)),
  };
  const keys = introduceKeys(state.sharedWithService, introPoint.authKey, state.publicKey, introPoint.ntorKey, introPoint.subcredential);
  const encrypted = aes256Ctr(keys.encKey, plaintext);
  const mac = hsMac(keys.macKey, introHeader, state.publicKey, encrypted);
  return { state, introduction: { clientPublicKey: state.publicKey, encrypted, mac } };
}

/** Client: check RENDEZVOUS2's HANDSHAKE_INFO (Y | AUTH) and return NTOR_KEY_SEED. */
export function hsNtorClientFinish(state: HsNtorClientState, handshakeInfo: Uint8Array): Uint8Array {
  if (handshakeInfo.length !== HS_NTOR_HANDSHAKE_INFO_LEN) {
    fail(`RENDEZVOUS2 handshake info must be ${HS_NTOR_HANDSHAKE_INFO_LEN} bytes, got ${handshakeInfo.length}`);
  }
  const Y = handshakeInfo.subarray(0, X25519_KEY_LEN);
  const auth = handshakeInfo.subarray(X25519_KEY_LEN);
  const { introPoint } = state;
  const { ntorKeySeed, authInputMac } = rendezvousKeys(
    x25519Exchange(state.privateKey, importX25519Public(Y)),
    state.sharedWithService,
    introPoint.authKey,
    introPoint.ntorKey,
    state.publicKey,
    Y,
  );
  if (!timingSafeEqual(authInputMac, auth)) fail("RENDEZVOUS2 AUTH mismatch");
  return ntorKeySeed;
}

/** What a service holds for one of its introduction points. */
export interface HsNtorServiceKeys {
  /** (b, B), KS_hss_ntor and KP_hss_ntor. */
  readonly ntorKeyPair: X25519KeyPair;
  /** AUTH_KEY, KP_hs_ipt_sid. */
  readonly authKey: Uint8Array;
  /**
   * The subcredentials a client may have used: those of each time period the service still
   * has descriptors out for (a client may hold the previous period's descriptor).
   */
  readonly subcredentials: readonly Uint8Array[];
}

/** What the service keeps between opening INTRODUCE2 and answering with RENDEZVOUS1. */
export interface HsNtorServiceState {
  readonly keys: HsNtorServiceKeys;
  /** X. */
  readonly clientPublicKey: Uint8Array;
  /** EXP(X, b). */
  readonly sharedWithClient: Buffer;
}

/**
 * Service: check INTRODUCE2's MAC (under each subcredential) and decrypt its data. Refuses
 * (handshake-failed) when no subcredential's MAC matches: not for us, altered, or stale.
 */
export function hsNtorServiceOpen(
  keys: HsNtorServiceKeys,
  introHeader: Uint8Array,
  introduction: HsNtorIntroduction,
): { plaintext: Uint8Array; subcredential: Uint8Array; state: HsNtorServiceState } {
  const { clientPublicKey: X, encrypted, mac } = introduction;
  if (X.length !== X25519_KEY_LEN || mac.length !== HS_MAC_LEN) {
    fail(`INTRODUCE2 needs a ${X25519_KEY_LEN}-byte X and a ${HS_MAC_LEN}-byte MAC, got ${X.length} and ${mac.length}`);
  }
  requireLength(keys.authKey, ED25519_KEY_LEN, "AUTH_KEY");
  const B = keys.ntorKeyPair.publicKey;
  const sharedWithClient = x25519Exchange(importX25519Private(keys.ntorKeyPair), importX25519Public(X));
  let opened: { encKey: Buffer; subcredential: Uint8Array } | undefined;
  // Every subcredential is tried, so the time taken does not tell which one matched.
  for (const subcredential of keys.subcredentials) {
    requireLength(subcredential, SUBCREDENTIAL_LEN, "subcredential");
    const { encKey, macKey } = introduceKeys(sharedWithClient, keys.authKey, X, B, subcredential);
    if (timingSafeEqual(hsMac(macKey, introHeader, X, encrypted), mac)) opened = { encKey, subcredential };
  }
  if (opened === undefined) fail("INTRODUCE2 MAC mismatch");
  return {
    plaintext: aes256Ctr(opened.encKey, encrypted),
    subcredential: opened.subcredential,
    state: { keys, clientPublicKey: Uint8Array.from(X), sharedWithClient },
  };
}

/**
 * Service: RENDEZVOUS1's HANDSHAKE_INFO (Y | AUTH_INPUT_MAC) and NTOR_KEY_SEED. `ephemeral`
 * (y, Y) is fresh unless given (tests).
 */
export function hsNtorServiceRespond(
  state: HsNtorServiceState,
  ephemeral: X25519KeyPair = generateX25519KeyPair(),
): { handshakeInfo: Uint8Array; ntorKeySeed: Uint8Array } {
  const { keys, clientPublicKey: X } = state;
  const { ntorKeySeed, authInputMac } = rendezvousKeys(
    x25519Exchange(importX25519Private(ephemeral), importX25519Public(X)),
    state.sharedWithClient,
    keys.authKey,
    keys.ntorKeyPair.publicKey,
    X,
    ephemeral.publicKey,
  );
  return { handshakeInfo: Buffer.concat([ephemeral.publicKey, authInputMac]), ntorKeySeed };
}

/** The end-to-end hop's keys: KDF(NTOR_KEY_SEED | m_hsexpand, 128) = Df | Db | Kf | Kb. */
export function hsNtorKeyMaterial(ntorKeySeed: Uint8Array): Uint8Array {
  requireLength(ntorKeySeed, HS_MAC_LEN, "NTOR_KEY_SEED");
  return shake256(HS_KEY_MATERIAL_LEN, ntorKeySeed, M_HSEXPAND);
}

/**
 * ENC_KEY | MAC_KEY = KDF(intro_secret_hs_input | t_hsenc | m_hsexpand | N_hs_subcred, 64),
 * intro_secret_hs_input = EXP(B, x) | AUTH_KEY | X | B | PROTOID.
 */
function introduceKeys(
  sharedBx: Uint8Array,
  authKey: Uint8Array,
  X: Uint8Array,
  B: Uint8Array,
  subcredential: Uint8Array,
): { encKey: Buffer; macKey: Buffer } {
  const keys = shake256(ENC_KEY_LEN + HS_MAC_LEN, sharedBx, authKey, X, B, PROTOID, T_HSENC, M_HSEXPAND, subcredential);
  return { encKey: keys.subarray(0, ENC_KEY_LEN), macKey: keys.subarray(ENC_KEY_LEN) };
}

/**
 * rend_secret_hs_input = EXP(X, y) | EXP(X, b) | AUTH_KEY | B | X | Y | PROTOID;
 * NTOR_KEY_SEED = MAC(rend_secret_hs_input, t_hsenc); verify = MAC(rend_secret_hs_input, t_hsverify);
 * AUTH_INPUT_MAC = MAC(verify | AUTH_KEY | B | Y | X | PROTOID | "Server", t_hsmac).
 */
function rendezvousKeys(
  sharedXy: Uint8Array,
  sharedXb: Uint8Array,
  authKey: Uint8Array,
  B: Uint8Array,
  X: Uint8Array,
  Y: Uint8Array,
): { ntorKeySeed: Buffer; authInputMac: Buffer } {
  const secretInput = Buffer.concat([sharedXy, sharedXb, authKey, B, X, Y, Buffer.from(PROTOID)]);
  const verify = hsMac(secretInput, T_HSVERIFY);
  const authInput = Buffer.concat([verify, authKey, B, Y, X, Buffer.from(PROTOID), Buffer.from("Server")]);
  return { ntorKeySeed: hsMac(secretInput, T_HSENC), authInputMac: hsMac(authInput, T_HSMAC) };
}

function aes256Ctr(key: Uint8Array, input: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-ctr", key, ZERO_IV);
  return Buffer.concat([cipher.update(input), cipher.final()]);
}

function checkIntroPoint(introPoint: HsNtorIntroPoint): void {
  requireLength(introPoint.ntorKey, X25519_KEY_LEN, "KP_hss_ntor");
  requireLength(introPoint.authKey, ED25519_KEY_LEN, "AUTH_KEY");
  requireLength(introPoint.subcredential, SUBCREDENTIAL_LEN, "subcredential");
}

function fail(message: string): never {
  throw new OnionError("handshake-failed", message);
}
