/**
 * "tor1" relay crypto (tor-spec 0.3/5.5): per hop and direction, AES-128-CTR with a zero IV and
 * one keystream for the circuit's whole life, plus a running SHA-1 over every relay body that
 * hop originated or recognized (seeded with Df forward, Db backward). An onion service's
 * end-to-end hop (onion_service.proto) is the same with AES-256-CTR and SHA3-256.
 *
 * All body operations work IN PLACE on the caller's 509-byte body (or N*509-byte batch).
 */
import { createCipheriv, createHash, type Cipher, type Hash } from "node:crypto";
import { OnionError } from "./errors.js";
import { RELAY_BODY_LEN } from "./frame.js";
import { KEY_MATERIAL_LEN } from "./ntor.js";
import { RELAY_DIGEST_LEN, RELAY_DIGEST_OFFSET, RELAY_RECOGNIZED_OFFSET } from "./relay-cell.js";

const D = RELAY_DIGEST_OFFSET;
const R = RELAY_RECOGNIZED_OFFSET;

/*
 * Keystream is produced ahead in chunks and XORed in JS. Why: every cipher.update() allocates a
 * fresh ArrayBuffer for its output, which costs more than the AES work for 509 bytes, so one
 * update per cell would cap a relay's cell rate (see docs/bench-compare.md). The bytes are
 * exactly those of the one continuous AES-128-CTR cipher (the counter is the block number,
 * from a zero IV).
 *
 * Memory: a relay keeps both directions of every circuit for its whole life, and most circuits
 * are idle most of the time. A node Cipher holds about a kilobyte of native memory, so a
 * direction keeps none while cold: CTR can start at any block (IV = its number), so the first
 * KEYSTREAM_COLD_BYTES of a direction (a circuit's build and first cells) are crypted with a
 * throwaway cipher that generates just the bytes needed, and nothing stays behind. After that
 * the direction keeps a cipher and a keystream chunk that grows to KEYSTREAM_MAX_CHUNK. These
 * warm directions share the budget of their KeystreamPool (one per relay or client); past it,
 * the least recently refilled give their chunk and cipher back (circuits gone idle after a
 * burst, or closed) and regenerate from their position at their next cell.
 */
/** Two cells: what a 3-hop circuit's build crypts at its first hop (EXTEND2, EXTENDED2 twice each way). */
const KEYSTREAM_COLD_BYTES = 2 * RELAY_BODY_LEN;
const KEYSTREAM_FIRST_CHUNK = 2048;
const KEYSTREAM_MAX_CHUNK = 16384;
const ZEROS = Buffer.alloc(KEYSTREAM_MAX_CHUNK);
const EMPTY_KEYSTREAM = Buffer.alloc(0);
/**
 * From this many bytes on (a batch of 16 cells), a run with no keystream left is crypted by the
 * cipher itself: one native update then beats making keystream and XORing it in JS.
 */
const DIRECT_CRYPT_BYTES = 16 * RELAY_BODY_LEN;
/** The IV of a cipher starting at some block (copied by createCipheriv). */
const blockIv = Buffer.alloc(16);
/** Keystream bytes the warm directions of one relay or client may hold together, by default. */
export const DEFAULT_KEYSTREAM_BUDGET = 8 * 1024 * 1024;

/**
 * The keystream made ahead by the warm directions of one relay or client, within a byte
 * budget (0 makes every direction give its keystream back at once), and the scratch their
 * XOR uses. Shared by every circuit of its owner, which runs on one thread.
 */
export class KeystreamPool {
  /** Warm directions, least recently refilled first, with the keystream bytes each holds. */
  readonly warm = new Map<WeakRef<DirectionCrypto>, number>();
  warmBytes = 0;
  /** Scratch for xorInto; a refill never yields more than KEYSTREAM_MAX_CHUNK bytes at once. */
  readonly scratchBytes = new Uint8Array(KEYSTREAM_MAX_CHUNK);
  readonly scratchWords = new Int32Array(this.scratchBytes.buffer);

  constructor(readonly budget = DEFAULT_KEYSTREAM_BUDGET) {}
}

/** What a warm direction keeps: its cipher and the keystream made ahead. */
interface WarmKeystream {
  /** Positioned at the end of `keystream`. */
  cipher: Cipher;
  keystream: Buffer;
  /** Next unused byte of `keystream`. */
  pos: number;
  /** Bytes of the next refill. */
  chunk: number;
  /** The direction's key in `warm`. */
  ref: WeakRef<DirectionCrypto>;
}

/**
 * A 20-byte running digest as the latin1 string of node's `digest("binary")`. Why not bytes:
 * every cell needs one, and a digest() Buffer (a fresh ArrayBuffer) costs more than the whole
 * string; only the few that go into SENDMEs are turned into bytes (digestBytes).
 */
export type RunningDigest = string;

/** Bytes of a running digest an authenticated SENDME carries (relay.proto: 20). */
export const SENDME_DIGEST_LEN = 20;

/** The SENDME bytes of a running digest: all 20 of SHA-1's, the first 20 of SHA3-256's (as Tor). */
export function digestBytes(digest: RunningDigest): Uint8Array {
  return Buffer.from(digest.length === SENDME_DIGEST_LEN ? digest : digest.slice(0, SENDME_DIGEST_LEN), "latin1");
}

/** The running digest of one direction: tor1's SHA-1, or SHA3-256 for an onion service's hop. */
export type RunningDigestAlgorithm = "sha1" | "sha3-256";

/** One hop, one direction: the continuous CTR keystream and the running digest. */
export class DirectionCrypto {
  /**
   * The AES key as a latin1 string (a Buffer costs several times its bytes of heap); its
   * length says the cipher: 16 bytes AES-128-CTR (tor1), 32 AES-256-CTR (onion services).
   */
  readonly #key: string;
  #digest: Hash;
  /** Keystream bytes used so far; while warm, the position of #warm.keystream[0] instead. */
  #base = 0;
  /** Only while warm (see above): an idle direction is just its key, digest and position. */
  #warm: WarmKeystream | undefined;
  readonly #pool: KeystreamPool;

  constructor(aesKey: Uint8Array, digestSeed: Uint8Array, pool: KeystreamPool, digest: RunningDigestAlgorithm = "sha1") {
    this.#pool = pool;
    if (aesKey.length !== 16 && aesKey.length !== 32) throw new OnionError("bad-key", "an AES key is 16 or 32 bytes");
    this.#key = Buffer.from(aesKey).toString("latin1");
    this.#digest = createHash(digest).update(digestSeed);
  }

  /** Adds or strips this layer (CTR is its own inverse) over the next data.length bytes. */
  crypt(data: Uint8Array): void {
    const n = data.length;
    let w = this.#warm;
    if (w === undefined) {
      const at = this.#base;
      if (at + n <= KEYSTREAM_COLD_BYTES) {
        // Cold: a throwaway cipher makes just these bytes (n <= KEYSTREAM_COLD_BYTES, so one update).
        const skip = at % 16;
        xorInto(data, 0, this.#cipherAt(at - skip).update(ZEROS.subarray(0, skip + n)), skip, n, this.#pool);
        this.#base = at + n;
        return;
      }
      w = this.#warmUpAt(at, n);
    }
    let i = 0;
    while (i < n) {
      if (w.pos === w.keystream.length) {
        if (n - i >= DIRECT_CRYPT_BYTES) {
          this.#cryptDirect(w, data.subarray(i));
          return;
        }
        this.#refill(w);
      }
      const len = Math.min(n - i, w.keystream.length - w.pos);
      xorInto(data, i, w.keystream, w.pos, len, this.#pool);
      w.pos += len;
      i += len;
    }
  }

  /**
   * Originator: zero the digest field, absorb the body into the running digest, write the first
   * 4 bytes of it into the field. Returns the running digest (for authenticated SENDME).
   */
  stamp(body: Uint8Array, offset = 0): RunningDigest {
    requireBodyAt(body, offset);
    body.fill(0, offset + D, offset + D + RELAY_DIGEST_LEN);
    this.#digest.update(body.subarray(offset, offset + RELAY_BODY_LEN));
    const digest = this.#digest.copy().digest("binary");
    for (let i = 0; i < RELAY_DIGEST_LEN; i++) body[offset + D + i] = digest.charCodeAt(i);
    return digest;
  }

  /**
   * Recipient: the body is ours when recognized == 0 and its digest field matches our running
   * digest over the body with that field zeroed. Only then does the running digest advance;
   * returns its new value, or undefined (body unchanged).
   *
   * `last`: no later hop can claim the cell, so a mismatch destroys the circuit. The running
   * digest is then advanced in place instead of on a trial copy (one Hash object per cell
   * instead of two: the endpoints' hot path), and is left unusable after a mismatch.
   */
  recognize(body: Uint8Array, offset = 0, last = false): RunningDigest | undefined {
    requireBodyAt(body, offset);
    if (body[offset + R] !== 0 || body[offset + R + 1] !== 0) return undefined;
    const d = offset + D;
    const b0 = body[d], b1 = body[d + 1], b2 = body[d + 2], b3 = body[d + 3];
    body.fill(0, d, d + RELAY_DIGEST_LEN);
    const candidate = (last ? this.#digest : this.#digest.copy()).update(body.subarray(offset, offset + RELAY_BODY_LEN));
    body[d] = b0;
    body[d + 1] = b1;
    body[d + 2] = b2;
    body[d + 3] = b3;
    const digest = candidate.copy().digest("binary");
    // Branch-free compare, like C tor's tor_memneq.
    const diff = (digest.charCodeAt(0) ^ b0) | (digest.charCodeAt(1) ^ b1) | (digest.charCodeAt(2) ^ b2) | (digest.charCodeAt(3) ^ b3);
    if (diff !== 0) {
      return undefined;
    }
    this.#digest = candidate;
    return digest;
  }

  /** A cipher whose keystream starts at byte `start` (a multiple of 16) of the direction's. */
  #cipherAt(start: number): Cipher {
    blockIv.writeUInt32BE(Math.floor(start / 0x1000000000), 8); // block number = start / 16
    blockIv.writeUInt32BE((start / 16) >>> 0, 12);
    return createCipheriv(this.#key.length === 16 ? "aes-128-ctr" : "aes-256-ctr", Buffer.from(this.#key, "latin1"), blockIv);
  }

  /** Become warm at keystream position `at`, with at least `need` bytes ready. */
  #warmUpAt(at: number, need: number): WarmKeystream {
    // Integer arithmetic only: positions stay small integers (a double in #base would give
    // every DirectionCrypto a heap box for it).
    const skip = at % 16;
    const start = at - skip;
    const cipher = this.#cipherAt(start);
    // The first chunk starts at the block: the bytes before `at` are skipped.
    const keystream = cipher.update(ZEROS.subarray(0, Math.min(ZEROS.length, skip + Math.max(need, KEYSTREAM_FIRST_CHUNK))));
    const w: WarmKeystream = { cipher, keystream, pos: skip, chunk: 2 * KEYSTREAM_FIRST_CHUNK, ref: new WeakRef(this) };
    this.#base = start;
    this.#warm = w;
    this.#touch(w);
    return w;
  }

  /**
   * The keystream made ahead is used up and `data` is large: the cipher (positioned right after
   * that keystream) crypts it natively, which XORs as it goes, and the result is copied back.
   */
  #cryptDirect(w: WarmKeystream, data: Uint8Array): void {
    data.set(w.cipher.update(data));
    this.#base += w.keystream.length + data.length;
    w.keystream = EMPTY_KEYSTREAM;
    w.pos = 0;
    this.#touch(w);
  }

  /** The keystream made ahead is used up: make the next chunk. */
  #refill(w: WarmKeystream): void {
    this.#base += w.keystream.length;
    w.keystream = w.cipher.update(ZEROS.subarray(0, w.chunk));
    w.pos = 0;
    if (w.chunk < KEYSTREAM_MAX_CHUNK) w.chunk *= 2;
    this.#touch(w);
  }

  /** Record `w` as the most recently refilled; release others beyond the budget. */
  #touch(w: WarmKeystream): void {
    const ref = w.ref;
    const bytes = w.keystream.length;
    const pool = this.#pool;
    const warm = pool.warm;
    pool.warmBytes += bytes - (warm.get(ref) ?? 0);
    warm.delete(ref);
    warm.set(ref, bytes);
    for (const [other, held] of warm) {
      if (pool.warmBytes <= pool.budget || other === ref) break;
      warm.delete(other);
      pool.warmBytes -= held;
      const direction = other.deref();
      if (direction !== undefined) direction.#release();
    }
  }

  /** Drop the cipher and the unused keystream (the budget is spent elsewhere); the position is kept. */
  #release(): void {
    const w = this.#warm;
    if (w === undefined) return;
    this.#base += w.pos;
    this.#warm = undefined;
  }
}

/**
 * data[at..at+len) ^= ks[from..from+len). Why not a plain byte loop: XORing 32-bit words is
 * ~3x faster, and copying the keystream into an aligned scratch (a memcpy) makes it line up
 * with whatever word alignment the caller's body has.
 */
function xorInto(data: Uint8Array, at: number, ks: Uint8Array, from: number, len: number, pool: KeystreamPool): void {
  const head = Math.min(len, (4 - ((data.byteOffset + at) & 3)) & 3);
  for (let i = 0; i < head; i++) data[at + i] ^= ks[from + i];
  const words = (len - head) >> 2;
  if (words > 0) {
    const { scratchBytes, scratchWords } = pool;
    scratchBytes.set(ks.subarray(from + head, from + head + words * 4));
    const view = new Int32Array(data.buffer, data.byteOffset + at + head, words);
    for (let w = 0; w < words; w++) view[w] ^= scratchWords[w];
  }
  for (let i = head + words * 4; i < len; i++) data[at + i] ^= ks[from + i];
}

/** One hop's two directions: forward is away from the circuit's originator, backward towards it. */
export interface HopCrypto {
  forward: DirectionCrypto;
  backward: DirectionCrypto;
}

/** Splits ntor key material (Df 20 | Db 20 | Kf 16 | Kb 16 | nonce 20) into both directions. */
export function hopCryptoFromKeyMaterial(km: Uint8Array, pool: KeystreamPool): HopCrypto {
  if (km.length !== KEY_MATERIAL_LEN) {
    throw new OnionError("bad-key", `key material must be ${KEY_MATERIAL_LEN} bytes`);
  }
  return {
    forward: new DirectionCrypto(km.subarray(40, 56), km.subarray(0, 20), pool),
    backward: new DirectionCrypto(km.subarray(56, 72), km.subarray(20, 40), pool),
  };
}

/** Bytes of an onion service's end-to-end key material: Df 32 | Db 32 | Kf 32 | Kb 32. */
export const ONION_SERVICE_KEY_MATERIAL_LEN = 128;

/**
 * The end-to-end hop of a rendezvous circuit (onion_service.proto HS-NTOR): SHA3-256 digests
 * and AES-256-CTR. Forward is client → service; the service, which originates the other way,
 * sends with Kb/Db and receives with Kf/Df.
 */
export function onionServiceHopCrypto(km: Uint8Array, pool: KeystreamPool, side: "client" | "service"): HopCrypto {
  if (km.length !== ONION_SERVICE_KEY_MATERIAL_LEN) {
    throw new OnionError("bad-key", `onion-service key material must be ${ONION_SERVICE_KEY_MATERIAL_LEN} bytes`);
  }
  const toService = new DirectionCrypto(km.subarray(64, 96), km.subarray(0, 32), pool, "sha3-256");
  const toClient = new DirectionCrypto(km.subarray(96, 128), km.subarray(32, 64), pool, "sha3-256");
  return side === "client" ? { forward: toService, backward: toClient } : { forward: toClient, backward: toService };
}

export interface InboundCell {
  /** 0-based index of the hop that originated the cell. */
  hop: number;
  /** The caller's body, now plaintext. */
  body: Uint8Array;
  /** That hop's backward running digest after this cell (authenticated SENDME). */
  digest: RunningDigest;
}

/** What decryptInboundMany found, per cell of the batch. */
export interface InboundBatch {
  /** The hop that originated each cell. */
  hops: number[];
  /** That hop's backward running digest after each cell. */
  digests: RunningDigest[];
  /** Index of the first cell no hop recognized, or the number of cells. */
  recognized: number;
}

/** The circuit originator's (client's) view: one forward and one backward layer per hop. */
export class ClientCircuitCrypto {
  readonly #hops: HopCrypto[] = [];
  readonly #lastOutbound: (RunningDigest | undefined)[] = [];

  constructor(private readonly pool: KeystreamPool) {}

  /** A hop reached with ntor: tor1 keys from its key material. */
  addHop(km: Uint8Array): void {
    this.addHopCrypto(hopCryptoFromKeyMaterial(km, this.pool));
  }

  /** A hop with keys made otherwise (an onion service's end-to-end hop). */
  addHopCrypto(hop: HopCrypto): void {
    this.#hops.push(hop);
    this.#lastOutbound.push(undefined);
  }

  get hopCount(): number {
    return this.#hops.length;
  }

  /** Forget every hop after the first `count` (the circuit was truncated there). */
  dropHopsAfter(count: number): void {
    this.#hops.length = Math.min(this.#hops.length, count);
    this.#lastOutbound.length = this.#hops.length;
  }

  /**
   * Addresses a plaintext body to `hop` (0-based): stamps that hop's forward digest, then adds
   * layers from that hop down to hop 0. Encrypts in place and returns the same body.
   */
  encryptOutbound(body: Uint8Array, hop: number): Uint8Array {
    requireBody(body);
    this.#requireHop(hop);
    this.#lastOutbound[hop] = this.#hops[hop].forward.stamp(body);
    for (let i = hop; i >= 0; i--) this.#hops[i].forward.crypt(body);
    return body;
  }

  /**
   * Strips layers from hop 0 outward until a hop recognizes the body (decrypts in place).
   * Throws "cell-unrecognized" if none does: the circuit must then be destroyed.
   */
  decryptInbound(body: Uint8Array): InboundCell {
    requireBody(body);
    const { hops, digests, recognized } = this.decryptInboundMany(body);
    if (recognized === 0) throw new OnionError("cell-unrecognized", "inbound relay cell recognized by no hop");
    return { hop: hops[0], body, digest: digests[0] };
  }

  /**
   * decryptInbound over N concatenated bodies, in order and in place: each hop strips its layer
   * from all cells no earlier hop claimed in one keystream pass (usually the whole batch), which
   * is cheaper per cell than cell by cell. Cells from index `recognized` on are left undefined
   * when a cell is recognized by no hop: `recognized` is its index (the circuit must then be
   * destroyed, after handling the cells before it); otherwise it is N.
   */
  decryptInboundMany(cells: Uint8Array): InboundBatch {
    requireBatch(cells);
    const n = cells.length / RELAY_BODY_LEN;
    const result: InboundBatch = { hops: new Array<number>(n), digests: new Array<RunningDigest>(n), recognized: n };
    const last = this.#hops.length - 1;
    let remaining = n;
    for (let hop = 0; hop <= last && remaining > 0; hop++) {
      const backward = this.#hops[hop].backward;
      // While no hop claimed a cell, the rest is one contiguous run: one crypt call.
      const whole = remaining === n;
      if (whole) backward.crypt(cells);
      for (let i = 0; i < n; i++) {
        if (result.hops[i] !== undefined) continue;
        const offset = i * RELAY_BODY_LEN;
        if (!whole) backward.crypt(cells.subarray(offset, offset + RELAY_BODY_LEN));
        const digest = backward.recognize(cells, offset, hop === last);
        if (digest !== undefined) {
          result.hops[i] = hop;
          result.digests[i] = digest;
          remaining--;
        } else if (hop === last) {
          result.recognized = i;
          return result;
        }
      }
    }
    return result;
  }

  /**
   * The 20-byte forward digest after the last cell sent to `hop`, to check the authenticated
   * SENDME that hop sends back.
   */
  lastOutboundDigest(hop: number): Uint8Array | undefined {
    this.#requireHop(hop);
    const digest = this.#lastOutbound[hop];
    return digest === undefined ? undefined : digestBytes(digest);
  }

  #requireHop(hop: number): void {
    if (!Number.isInteger(hop) || hop < 0 || hop >= this.#hops.length) {
      throw new RangeError(`no hop ${hop} on a circuit of ${this.#hops.length}`);
    }
  }
}

/** A recognized cell in a batch: its index and the new running digest. */
export interface RecognizedCell {
  index: number;
  digest: RunningDigest;
}

const NOT_RECOGNIZED: { recognized: boolean; digest?: RunningDigest } = Object.freeze({
  recognized: false,
});

/** A relay's single layer of one circuit. */
export class RelayCircuitCrypto {
  readonly #forward: DirectionCrypto;
  readonly #backward: DirectionCrypto;
  #lastInbound: RunningDigest | undefined;

  constructor(km: Uint8Array, pool: KeystreamPool) {
    const { forward, backward } = hopCryptoFromKeyMaterial(km, pool);
    this.#forward = forward;
    this.#backward = backward;
  }

  /**
   * Strips our Kf layer in place; `recognized` means the cell is for this hop. `last`: this
   * relay has no next hop (an unrecognized cell destroys the circuit; see recognize()).
   */
  decryptOutbound(body: Uint8Array, last = false): { recognized: boolean; digest?: RunningDigest } {
    requireBody(body);
    this.#forward.crypt(body);
    const digest = this.#forward.recognize(body, 0, last);
    return digest ? { recognized: true, digest } : NOT_RECOGNIZED;
  }

  /**
   * Batched decryptOutbound over N concatenated bodies of this circuit, in order: one keystream
   * pass, then a per-cell recognition check (digest work only where recognized == 0).
   * Returns the recognized cells; all others are to be forwarded.
   */
  decryptOutboundMany(cells: Uint8Array, last = false): RecognizedCell[] {
    requireBatch(cells);
    this.#forward.crypt(cells);
    const recognized: RecognizedCell[] = [];
    for (let off = 0, index = 0; off < cells.length; off += RELAY_BODY_LEN, index++) {
      const digest = this.#forward.recognize(cells, off, last);
      if (digest) recognized.push({ index, digest });
    }
    return recognized;
  }

  /**
   * Adds our Kb layer in place. With `originate`, the body is a plaintext from this hop: stamp
   * our backward digest first. Returns the same body.
   */
  encryptInbound(body: Uint8Array, originate: boolean): Uint8Array {
    requireBody(body);
    if (originate) this.#lastInbound = this.#backward.stamp(body);
    this.#backward.crypt(body);
    return body;
  }

  /** Batched encryptInbound over N concatenated bodies of this circuit, in order. */
  encryptInboundMany(cells: Uint8Array, originate: boolean): Uint8Array {
    requireBatch(cells);
    if (originate) {
      for (let off = 0; off < cells.length; off += RELAY_BODY_LEN) {
        this.#lastInbound = this.#backward.stamp(cells, off);
      }
    }
    this.#backward.crypt(cells);
    return cells;
  }

  /** 20-byte backward digest after the last cell we originated, to check the client's SENDME. */
  lastInboundDigest(): Uint8Array | undefined {
    return this.#lastInbound === undefined ? undefined : digestBytes(this.#lastInbound);
  }
}

function requireBody(body: Uint8Array): void {
  if (body.length !== RELAY_BODY_LEN) {
    throw new OnionError("cell-malformed", `relay body must be ${RELAY_BODY_LEN} bytes`);
  }
}

function requireBodyAt(buf: Uint8Array, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + RELAY_BODY_LEN > buf.length) {
    throw new OnionError("cell-malformed", `no ${RELAY_BODY_LEN}-byte relay body at ${offset}`);
  }
}

function requireBatch(cells: Uint8Array): void {
  if (cells.length === 0 || cells.length % RELAY_BODY_LEN !== 0) {
    throw new OnionError("cell-malformed", `relay batch must be N*${RELAY_BODY_LEN} bytes`);
  }
}
