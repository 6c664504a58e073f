/**
 * Tor's ntor handshake (tor-spec 5.1.4, proposal 216), byte-compatible with C tor and Arti.
 *
 * Client → relay: ID(20) | B(32) | X(32). Relay → client: Y(32) | AUTH(32).
 * Both sides end with 92 bytes of key material: Df 20 | Db 20 | Kf 16 | Kb 16 | nonce 20.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  generateKeyPairSync,
  timingSafeEqual,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { OnionError } from "./errors.js";
import { hkdfSha256 } from "./kdf.js";
import { importRawPrivateKey } from "./raw-private-key.js";

export const NTOR_ONIONSKIN_LEN = 84;
export const NTOR_REPLY_LEN = 64;
export const KEY_MATERIAL_LEN = 92;
/** The last bytes of the key material: the nonce (Tor's KH) that binds ESTABLISH_INTRO to its circuit. */
export const NTOR_NONCE_LEN = 20;

/** The nonce of ntor key material (onion_service.proto EstablishIntro). */
export function ntorNonce(keyMaterial: Uint8Array): Uint8Array {
  return keyMaterial.slice(KEY_MATERIAL_LEN - NTOR_NONCE_LEN, KEY_MATERIAL_LEN);
}

const RELAY_ID_LEN = 20;
const X25519_KEY_LEN = 32;

const PROTOID = "ntor-curve25519-sha256-1";
const T_MAC = `${PROTOID}:mac`;
const T_KEY = `${PROTOID}:key_extract`;
const T_VERIFY = `${PROTOID}:verify`;
const M_EXPAND = `${PROTOID}:key_expand`;
const PROTOID_BYTES = Buffer.from(PROTOID, "latin1");
const SERVER_BYTES = Buffer.from("Server", "latin1");

export interface X25519KeyPair {
  /** 32-byte raw public key (u-coordinate). */
  publicKey: Uint8Array;
  /** 32-byte raw scalar (X25519 clamps it itself). */
  privateKey: Uint8Array;
}

/** What the client keeps between sending CREATE2 and receiving CREATED2. */
export interface NtorClientState {
  readonly relayId: Uint8Array;
  /** B: the relay's onion key the onionskin was built for. */
  readonly onionKey: Uint8Array;
  /** X: the client's ephemeral public key. */
  readonly publicKey: Uint8Array;
  /** x, already imported so the finish step does not pay for a second import. */
  readonly privateKey: KeyObject;
}

export function generateX25519KeyPair(): X25519KeyPair {
  return pairFromJwk(generateJwk());
}

export function x25519PublicFromPrivate(priv: Uint8Array): Uint8Array {
  requireLength(priv, X25519_KEY_LEN, "X25519 private key");
  return importRawPrivateKey("X25519", priv).publicKey;
}

/** ntor's 20-byte relay ID: our spec's rule is the first 20 bytes of SHA-256(Ed25519 identity). */
export function relayIdFromIdentity(identityKey: Uint8Array): Uint8Array {
  requireLength(identityKey, 32, "Ed25519 identity key");
  return createHash("sha256").update(identityKey).digest().subarray(0, RELAY_ID_LEN);
}

/**
 * `ephemeral`: the client's key pair x, X (test vectors), or the pool of keys made ahead to take
 * it from (what a client's builds use); without it, a key pair is made now.
 */
export function ntorClientStart(
  relayId: Uint8Array,
  onionKey: Uint8Array,
  ephemeral?: X25519KeyPair | EphemeralKeys,
): { state: NtorClientState; onionskin: Uint8Array } {
  requireLength(relayId, RELAY_ID_LEN, "relay ID");
  requireLength(onionKey, X25519_KEY_LEN, "onion key");
  const { publicKey, key } = ephemeralFrom(ephemeral);
  const state: NtorClientState = {
    relayId: Buffer.from(relayId),
    onionKey: Buffer.from(onionKey),
    publicKey: Buffer.from(publicKey),
    privateKey: key,
  };
  return { state, onionskin: Buffer.concat([relayId, onionKey, publicKey]) };
}

/** EXP(B, x) of a state, computed ahead by ntorClientPrecompute. */
const sharedWithOnionKey = new WeakMap<NtorClientState, Buffer>();

/**
 * Compute the half of the client's work that does not need the relay's reply, EXP(B, x), so
 * that ntorClientFinish only has EXP(Y, x) left. Call it while the onionskin is on its way.
 */
export function ntorClientPrecompute(state: NtorClientState): void {
  if (!sharedWithOnionKey.has(state)) sharedWithOnionKey.set(state, dh(state.privateKey, importOnionPublic(state.onionKey)));
}

export function ntorClientFinish(state: NtorClientState, reply: Uint8Array): Uint8Array {
  if (reply.length !== NTOR_REPLY_LEN) fail(`CREATED2 reply must be ${NTOR_REPLY_LEN} bytes`);
  const Y = reply.subarray(0, 32);
  const auth = reply.subarray(32, 64);
  const serverKey = importPublic(Y);
  const secretInput = Buffer.concat([
    dh(state.privateKey, serverKey),
    sharedWithOnionKey.get(state) ?? dh(state.privateKey, importOnionPublic(state.onionKey)),
    state.relayId,
    state.onionKey,
    state.publicKey,
    Y,
    PROTOID_BYTES,
  ]);
  const expected = authFor(secretInput, state.relayId, state.onionKey, state.publicKey, Y);
  if (!timingSafeEqual(expected, auth)) fail("AUTH mismatch");
  return hkdfSha256(secretInput, T_KEY, M_EXPAND, KEY_MATERIAL_LEN);
}

/**
 * Relay side. `onionKeys` holds the current and previous onion keys (clients may still use a
 * descriptor with the old one); the onionskin's B selects which. `keyMaterial` is derived on
 * first read, so that a relay can send `reply` (which the client waits for) before it.
 */
export function ntorServerRespond(
  onionskin: Uint8Array,
  relayId: Uint8Array,
  onionKeys: readonly X25519KeyPair[],
  ephemeral?: X25519KeyPair | EphemeralKeys,
): { reply: Uint8Array; keyMaterial: Uint8Array } {
  if (onionskin.length !== NTOR_ONIONSKIN_LEN) {
    fail(`CREATE2 onionskin must be ${NTOR_ONIONSKIN_LEN} bytes`);
  }
  const id = onionskin.subarray(0, 20);
  const B = onionskin.subarray(20, 52);
  const X = onionskin.subarray(52, 84);
  if (!Buffer.from(relayId).equals(id)) fail("onionskin is for another relay");
  const onion = onionKeys.find((k) => Buffer.from(k.publicKey).equals(B));
  if (!onion) fail("onionskin names an unknown onion key");
  const { publicKey: Y, key } = ephemeralFrom(ephemeral);
  const clientKey = importPublic(X);
  const secretInput = Buffer.concat([
    dh(key, clientKey),
    dh(cachedOnionKey(onion), clientKey),
    id,
    B,
    X,
    Y,
    PROTOID_BYTES,
  ]);
  const auth = authFor(secretInput, id, B, X, Y);
  let keyMaterial: Uint8Array | undefined;
  return {
    reply: Buffer.concat([Y, auth]),
    get keyMaterial() {
      keyMaterial ??= hkdfSha256(secretInput, T_KEY, M_EXPAND, KEY_MATERIAL_LEN);
      return keyMaterial;
    },
  };
}

function authFor(
  secretInput: Uint8Array,
  id: Uint8Array,
  B: Uint8Array,
  X: Uint8Array,
  Y: Uint8Array,
): Buffer {
  const verify = H(secretInput, T_VERIFY);
  return H(Buffer.concat([verify, id, B, Y, X, PROTOID_BYTES, SERVER_BYTES]), T_MAC);
}

function H(x: Uint8Array, t: string): Buffer {
  return createHmac("sha256", t).update(x).digest();
}

/** For hs-ntor (hs/hs-ntor.ts), which makes the same exchanges with the same refusals. */
export { dh as x25519Exchange, importPrivate as importX25519Private, importPublic as importX25519Public };

/** EXP(): X25519, refusing the all-zero output a small-order public key would force. */
function dh(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (cause) {
    // OpenSSL itself refuses an all-zero result ("failed during derivation").
    throw new OnionError("handshake-failed", "X25519 derivation failed", { cause });
  }
  let acc = 0;
  for (const b of shared) acc |= b;
  if (acc === 0) fail("all-zero X25519 output");
  return shared;
}

/** An ephemeral key pair: the raw public key for the wire, the private key as a KeyObject for DH. */
export interface Ephemeral {
  publicKey: Uint8Array;
  key: KeyObject;
}

/**
 * A fresh ephemeral. Only its public key is encoded (as JWK, see generateJwk); the private key
 * stays the KeyObject the generation made, never exported, so no import is needed.
 */
function fresh(): Ephemeral {
  const { publicKey, privateKey } = (generateKeyPairSync as unknown as EphemeralGenerator)("x25519", {
    publicKeyEncoding: { format: "jwk" },
  });
  return { publicKey: fromB64u(publicKey.x), key: privateKey };
}

type EphemeralGenerator = (
  type: "x25519",
  options: { publicKeyEncoding: { format: "jwk" } },
) => { publicKey: JsonWebKey; privateKey: KeyObject };

function ephemeralFrom(ephemeral: X25519KeyPair | EphemeralKeys | undefined): Ephemeral {
  if (ephemeral === undefined) return fresh();
  if (ephemeral instanceof EphemeralKeys) return ephemeral.take();
  return { publicKey: ephemeral.publicKey, key: importPrivate(ephemeral) };
}

/** Spares an EphemeralKeys keeps by default: a client's 3-hop build takes 3, a relay 1 per CREATE2. */
export const DEFAULT_SPARE_EPHEMERALS = 4;

/**
 * Ephemeral key pairs made ahead, for the handshakes of one owner (a client's circuit context,
 * a relay's circuit switch). Making one (a key generation) is a large share of a handshake's
 * work on either side; here it is off the path a build waits on: a handshake takes a spare,
 * and the spares are made again on libuv's thread pool (generateKeyPair), while the handshake's
 * message travels. Each spare is handed out once, then dropped; with none left (a burst of
 * handshakes), one is made on the spot. The pool fills itself when created.
 */
export class EphemeralKeys {
  readonly #spares: Ephemeral[] = [];
  #making = 0;
  #refillScheduled = false;
  #whenFull: (() => void)[] = [];

  constructor(readonly size = DEFAULT_SPARE_EPHEMERALS) {
    this.#refill();
  }

  /** Spares ready now. */
  get spares(): number {
    return this.#spares.length;
  }

  /** A key pair never handed out before (a spare, or made now), then the spares made again. */
  take(): Ephemeral {
    const ephemeral = this.#spares.pop() ?? fresh();
    if (!this.#refillScheduled) {
      // After this turn: the handshake's message goes out first, with no key generation
      // competing for the cores while it is made and sent.
      this.#refillScheduled = true;
      setImmediate(() => {
        this.#refillScheduled = false;
        this.#refill();
      }).unref();
    }
    return ephemeral;
  }

  /** Resolves once all `size` spares are ready (they are made without being asked), or making them failed. */
  whenFull(): Promise<void> {
    if (this.#spares.length >= this.size) return Promise.resolve();
    this.#refill();
    return new Promise((resolve) => this.#whenFull.push(resolve));
  }

  #refill(): void {
    while (this.#spares.length + this.#making < this.size) {
      this.#making++;
      (generateKeyPair as unknown as EphemeralGeneratorAsync)("x25519", { publicKeyEncoding: { format: "jwk" } }, (error, publicKey, privateKey) => {
        this.#making--;
        if (error === null) this.#spares.push({ publicKey: fromB64u(publicKey.x), key: privateKey });
        // (X25519 generation does not fail; if it ever did, take() would make keys on the spot.)
        if (this.#spares.length >= this.size || (error !== null && this.#making === 0)) {
          for (const resolve of this.#whenFull.splice(0)) resolve();
        }
      });
    }
  }
}

type EphemeralGeneratorAsync = (
  type: "x25519",
  options: { publicKeyEncoding: { format: "jwk" } },
  callback: (error: Error | null, publicKey: JsonWebKey, privateKey: KeyObject) => void,
) => void;

/*
 * Keys are generated straight into JWK form, never as KeyObjects. Why: on Node 20, exporting a
 * KeyObject made by generateKeyPairSync can deadlock: the export holds the key's mutex, its
 * allocations trigger a GC, and the GC finalizes the spent KeyGenJob, whose destructor takes
 * the same mutex. @types/node lacks this documented 'jwk' overload, hence the cast.
 */
const generateJwk = (): JsonWebKey =>
  (generateKeyPairSync as unknown as JwkKeyPairGenerator)("x25519", {
    publicKeyEncoding: { format: "jwk" },
    privateKeyEncoding: { format: "jwk" },
  }).privateKey;

type JwkKeyPairGenerator = (
  type: "x25519",
  options: { publicKeyEncoding: { format: "jwk" }; privateKeyEncoding: { format: "jwk" } },
) => { publicKey: JsonWebKey; privateKey: JsonWebKey };

function pairFromJwk(jwk: JsonWebKey): X25519KeyPair {
  return { publicKey: fromB64u(jwk.x), privateKey: fromB64u(jwk.d) };
}

// JWK import is ~15x faster than DER import on Node 20 / OpenSSL 3.
function importPrivate(pair: X25519KeyPair): KeyObject {
  requireLength(pair.privateKey, X25519_KEY_LEN, "X25519 private key");
  requireLength(pair.publicKey, X25519_KEY_LEN, "X25519 public key");
  return createPrivateKey({
    key: { kty: "OKP", crv: "X25519", d: b64u(pair.privateKey), x: b64u(pair.publicKey) },
    format: "jwk",
  });
}

function importPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: b64u(raw) }, format: "jwk" });
}

/** A client meets the same few relays' onion keys again and again: keep them imported (bounded). */
const onionPublicCache = new Map<string, KeyObject>();
const ONION_PUBLIC_CACHE_MAX = 1024;

function importOnionPublic(raw: Uint8Array): KeyObject {
  const x = b64u(raw);
  let key = onionPublicCache.get(x);
  if (key === undefined) {
    if (onionPublicCache.size >= ONION_PUBLIC_CACHE_MAX) onionPublicCache.clear();
    key = importPublic(raw);
    onionPublicCache.set(x, key);
  }
  return key;
}

/**
 * Onion keys are long-lived, so keep their imported KeyObject per key-pair object. The stored
 * copy of the scalar is re-checked so a caller mutating the pair can never get a stale key.
 */
const onionKeyCache = new WeakMap<X25519KeyPair, { scalar: Buffer; key: KeyObject }>();

function cachedOnionKey(pair: X25519KeyPair): KeyObject {
  const hit = onionKeyCache.get(pair);
  if (hit && hit.scalar.equals(pair.privateKey)) return hit.key;
  const key = importPrivate(pair);
  onionKeyCache.set(pair, { scalar: Buffer.from(pair.privateKey), key });
  return key;
}

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

function fromB64u(text: string | undefined): Uint8Array {
  return Buffer.from(text ?? "", "base64url");
}

function requireLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) {
    throw new OnionError("bad-key", `${what} must be ${length} bytes, got ${bytes.length}`);
  }
}

function fail(message: string): never {
  throw new OnionError("handshake-failed", message);
}
