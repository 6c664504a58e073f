/**
 * The HSDir hash ring (rend-spec-v3 §2.2.3): which relays store a service's descriptor for one
 * time period. Each relay with the HSDir flag sits on the ring at its hsdir_index, which changes
 * with the shared random value and the period; each replica of a descriptor is stored at the
 * `spread` relays that follow its hs_index on the ring, skipping relays already chosen.
 */
import { MeowOnionError } from "../errors.js";
import { ED25519_KEY_LEN } from "../signing.js";
import { int8, requireLength, sha3 } from "./hash.js";
import type { TimePeriodId } from "./time-period.js";

export const HSDIR_N_REPLICAS = 2;
/** Relays a service uploads each replica to. */
export const HSDIR_SPREAD_STORE = 4;
/** Relays a client tries for each replica. */
export const HSDIR_SPREAD_FETCH = 3;

const SHARED_RANDOM_LEN = 32;

/**
 * hsdir_index = H("node-idx" | relay identity | shared_random_value | INT_8(period_num) |
 * INT_8(period_length)). The relay identity is its 32-byte Ed25519 identity key.
 */
export function hsDirIndex(relayIdentity: Uint8Array, sharedRandomValue: Uint8Array, period: TimePeriodId): Buffer {
  requireLength(relayIdentity, ED25519_KEY_LEN, "relay identity key");
  requireLength(sharedRandomValue, SHARED_RANDOM_LEN, "shared random value");
  return sha3("node-idx", relayIdentity, sharedRandomValue, int8(period.number), int8(period.lengthMinutes));
}

/**
 * hs_index = H("store-at-idx" | A' | INT_8(replica) | INT_8(period_length) | INT_8(period_num)):
 * note the period's two fields in the other order than in hsdir_index.
 */
export function hsIndex(blindedKey: Uint8Array, replica: number, period: TimePeriodId): Buffer {
  requireLength(blindedKey, ED25519_KEY_LEN, "blinded key");
  return sha3("store-at-idx", blindedKey, int8(replica), int8(period.lengthMinutes), int8(period.number));
}

/**
 * The ring of one consensus and one time period, for relays of any type `T`: built once, asked
 * for any number of services. Relays listed twice (same identity) count once.
 */
export class HsDirRing<T> {
  /** Sorted by index. */
  readonly #ring: { index: Buffer; relay: T }[] = [];

  constructor(
    relays: Iterable<T>,
    identityOf: (relay: T) => Uint8Array,
    sharedRandomValue: Uint8Array,
    readonly period: TimePeriodId,
  ) {
    const seen = new Set<string>();
    for (const relay of relays) {
      const identity = identityOf(relay);
      const key = Buffer.from(identity).toString("hex");
      if (seen.has(key)) continue;
      seen.add(key);
      this.#ring.push({ index: hsDirIndex(identity, sharedRandomValue, period), relay });
    }
    this.#ring.sort((a, b) => Buffer.compare(a.index, b.index));
  }

  get size(): number {
    return this.#ring.length;
  }

  /**
   * The relays responsible for the descriptor of `blindedKey` (blinded for this ring's period):
   * for replica 1..replicas in turn, the first `spread` relays at or after its hs_index, going
   * round, that no earlier replica took. Fewer than replicas × spread when the ring is small.
   */
  responsibleFor(blindedKey: Uint8Array, spread: number, replicas: number = HSDIR_N_REPLICAS): T[] {
    if (!Number.isSafeInteger(spread) || spread < 1 || !Number.isSafeInteger(replicas) || replicas < 1) {
      throw new MeowOnionError("invalid-argument", `spread and replicas are whole numbers, at least 1: got ${spread}, ${replicas}`);
    }
    const chosen = new Set<number>();
    for (let replica = 1; replica <= replicas; replica++) {
      const start = this.#firstAtOrAfter(hsIndex(blindedKey, replica, this.period));
      let taken = 0;
      for (let step = 0; step < this.#ring.length && taken < spread; step++) {
        const position = (start + step) % this.#ring.length;
        if (chosen.has(position)) continue;
        chosen.add(position);
        taken++;
      }
    }
    return [...chosen].map((position) => this.#ring[position].relay);
  }

  /** The position of the first relay whose index is at least `index` (the ring's length if none). */
  #firstAtOrAfter(index: Buffer): number {
    let low = 0;
    let high = this.#ring.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (Buffer.compare(this.#ring[middle].index, index) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
