/**
 * "tor1" relay cryptography (relay.proto CRYPTOGRAPHY and RECOGNITION), the suite's own reading.
 * Key material per hop: Df(20) | Db(20) | Kf(16) | Kb(16) | nonce(20). An onion service's
 * end-to-end hop (onion_service.proto HS-NTOR) is the same with SHA3-256 and AES-256-CTR:
 * Df(32) | Db(32) | Kf(32) | Kb(32).
 */
import { type Cipher, type Hash, createCipheriv, createHash } from "node:crypto";
import { equal, u8 } from "./bytes.js";
import { RELAY_BODY_LEN } from "./relay-cell.js";

const ZERO_IV = Buffer.alloc(16);

/** Running digest (SHA-1; SHA3-256 for an onion service hop) of one hop and direction. */
export class RunningDigest {
  private h: Hash;
  constructor(seed: Uint8Array, algorithm: "sha1" | "sha3-256" = "sha1") {
    this.h = createHash(algorithm).update(seed);
  }
  /**
   * The digest the state would have after `body` (digest field zeroed), without committing.
   * `zero = false` hashes the body as it is (only for the self-test's faulty relays).
   */
  peek(body: Uint8Array, zero = true): { next: Hash; value: Uint8Array } {
    const next = this.h.copy().update(zero ? zeroDigestField(body) : body);
    return { next, value: u8(next.copy().digest()) };
  }
  commit(next: Hash): void {
    this.h = next;
  }
  /** Update with `body` (digest field zeroed) and return the full 20-byte value. */
  update(body: Uint8Array): Uint8Array {
    const { next, value } = this.peek(body);
    this.h = next;
    return value;
  }
}

export function zeroDigestField(body: Uint8Array): Uint8Array {
  const b = Uint8Array.from(body);
  b.fill(0, 5, 9);
  return b;
}

/** AES-128-CTR or, with a 32-byte key, AES-256-CTR; one key stream from a zero IV. */
export class AesCtr {
  private c: Cipher;
  constructor(key: Uint8Array) {
    this.c = createCipheriv(key.length === 32 ? "aes-256-ctr" : "aes-128-ctr", key, ZERO_IV);
  }
  update(data: Uint8Array): Uint8Array {
    return u8(this.c.update(data));
  }
}

export interface HopKeys {
  Df: Uint8Array;
  Db: Uint8Array;
  Kf: Uint8Array;
  Kb: Uint8Array;
}

export function splitKeyMaterial(km: Uint8Array): HopKeys {
  if (km.length < 72) throw new Error("key material must be at least 72 bytes");
  return { Df: km.slice(0, 20), Db: km.slice(20, 40), Kf: km.slice(40, 56), Kb: km.slice(56, 72) };
}

/**
 * The state one side keeps for one hop: both ciphers and both running digests. `onionService`
 * makes an end-to-end hop from 128 bytes of hs-ntor keys; "fwd" is always the direction this
 * side sends in, so the service (which sends backward) swaps them.
 */
export class HopCrypto {
  readonly fwd: AesCtr;
  readonly bwd: AesCtr;
  readonly fwdDigest: RunningDigest;
  readonly bwdDigest: RunningDigest;
  constructor(keyMaterial: Uint8Array, onionService?: "client" | "service") {
    if (onionService === undefined) {
      const k = splitKeyMaterial(keyMaterial);
      this.fwd = new AesCtr(k.Kf);
      this.bwd = new AesCtr(k.Kb);
      this.fwdDigest = new RunningDigest(k.Df);
      this.bwdDigest = new RunningDigest(k.Db);
      return;
    }
    if (keyMaterial.length !== 128) throw new Error("an onion service hop needs 128 bytes of keys");
    const [Df, Db, Kf, Kb] = [0, 1, 2, 3].map((i) => keyMaterial.subarray(i * 32, (i + 1) * 32));
    const client = onionService === "client";
    this.fwd = new AesCtr(client ? Kf : Kb);
    this.bwd = new AesCtr(client ? Kb : Kf);
    this.fwdDigest = new RunningDigest(client ? Df : Db, "sha3-256");
    this.bwdDigest = new RunningDigest(client ? Db : Df, "sha3-256");
  }
}

/** Sets the digest field from `digest` (after updating it) and returns the full 20-byte digest value. */
export function stampDigest(body: Uint8Array, digest: RunningDigest): Uint8Array {
  if (body.length !== RELAY_BODY_LEN) throw new Error("relay body must be 509 bytes");
  const value = digest.update(body);
  body.set(value.subarray(0, 4), 5);
  return value;
}

/** RECOGNITION: recognized == 0 and digest matches; commits the digest only on a match. */
export function recognize(body: Uint8Array, digest: RunningDigest, zero = true): Uint8Array | undefined {
  if (body[1] !== 0 || body[2] !== 0) return undefined;
  const { next, value } = digest.peek(body, zero);
  if (!equal(value.subarray(0, 4), body.subarray(5, 9))) return undefined;
  digest.commit(next);
  return value;
}

/** Client side of a circuit's crypto: hops[0] is the first relay. */
export class ClientCircuitCrypto {
  readonly hops: HopCrypto[] = [];

  addHop(keyMaterial: Uint8Array, onionService?: "client" | "service"): void {
    this.hops.push(new HopCrypto(keyMaterial, onionService));
  }

  /**
   * Encrypt a plaintext body (recognized already 0) addressed to hop `target` (0-based).
   * Returns the onion-encrypted body and the full running digest value after this cell.
   */
  encryptOutbound(plain: Uint8Array, target: number): { cell: Uint8Array; digest: Uint8Array } {
    let body: Uint8Array = Uint8Array.from(plain);
    const digest = stampDigest(body, this.hops[target].fwdDigest);
    for (let i = target; i >= 0; i--) body = this.hops[i].fwd.update(body);
    return { cell: body, digest };
  }

  /** Remove layers from hop 0 outwards; returns which hop recognized it, or undefined. */
  decryptInbound(cell: Uint8Array): { hop: number; body: Uint8Array; digest: Uint8Array } | undefined {
    let body = cell;
    for (let i = 0; i < this.hops.length; i++) {
      body = this.hops[i].bwd.update(body);
      const digest = recognize(body, this.hops[i].bwdDigest);
      if (digest) return { hop: i, body, digest };
    }
    return undefined;
  }
}
