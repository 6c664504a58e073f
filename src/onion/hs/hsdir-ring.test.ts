import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HSDIR_N_REPLICAS, HSDIR_SPREAD_FETCH, HSDIR_SPREAD_STORE, HsDirRing, hsDirIndex, hsIndex } from "./hsdir-ring.js";

const period = { number: 42, lengthMinutes: 1440 };
const srv = Buffer.alloc(32, 0x43);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

describe("ring indexes (C tor's test_hs_indexes)", () => {
  it("hs_index of A' = 0x42…, replica 1, period 42 of 1440 minutes", () => {
    expect(hex(hsIndex(Buffer.alloc(32, 0x42), 1, period))).toBe("37e5cbbd56a22823714f18f1623ece5983a0d64c78495a8cfab854245e5f9a8a");
  });

  it("hsdir_index of relay 0x42…, shared random value 0x43…, the same period", () => {
    expect(hex(hsDirIndex(Buffer.alloc(32, 0x42), srv, period))).toBe("db475361014a09965e7e5e4d4a25b8f8d4b8f16cb1d8a7e95eed50249cc1a2d5");
  });

  it("hash the period's fields in their own orders", () => {
    const swapped = { number: 1440, lengthMinutes: 42 };
    expect(hex(hsIndex(Buffer.alloc(32, 0x42), 1, swapped))).not.toBe(hex(hsIndex(Buffer.alloc(32, 0x42), 1, period)));
    expect(hex(hsDirIndex(Buffer.alloc(32, 0x42), srv, swapped))).not.toBe(hex(hsDirIndex(Buffer.alloc(32, 0x42), srv, period)));
  });
});

describe("a small ring, by hand", () => {
  /*
   * Relays 1..7 (identity = 32 bytes of n), period 42, shared random value 0x43…. Their
   * hsdir_index begins: 5 4b5df31a, 6 86cf6919, 3 89791be9, 1 9821a14c, 2 cff09cfb,
   * 7 ee36fc50, 4 f4e6901d (the ring, in order).
   */
  const relays = [1, 2, 3, 4, 5, 6, 7];
  const ring = new HsDirRing(relays, (n) => Buffer.alloc(32, n), srv, period);
  const ringOrder = [5, 6, 3, 1, 2, 7, 4];

  it("sorts the relays by hsdir_index", () => {
    const byIndex = [...relays].sort((a, b) => Buffer.compare(hsDirIndex(Buffer.alloc(32, a), srv, period), hsDirIndex(Buffer.alloc(32, b), srv, period)));
    expect(byIndex).toEqual(ringOrder);
    expect(ring.size).toBe(7);
  });

  it("A' = 0x42…: replica 1 (37e5cbbd) starts at 5 and takes 5 6 3; replica 2 (5042a62d) starts at 6, skips 6 3, takes 1 2 7", () => {
    const blinded = Buffer.alloc(32, 0x42);
    expect(hex(hsIndex(blinded, 2, period)).slice(0, 8)).toBe("5042a62d");
    expect(ring.responsibleFor(blinded, HSDIR_SPREAD_FETCH)).toEqual([5, 6, 3, 1, 2, 7]);
  });

  it("A' = 0x07…: replica 1 (c3c923b7) takes 2 7 4; replica 2 (d65e9763) starts at 7, skips 7 4, goes round to 5 6 3", () => {
    const blinded = Buffer.alloc(32, 0x07);
    expect([1, 2].map((replica) => hex(hsIndex(blinded, replica, period)).slice(0, 8))).toEqual(["c3c923b7", "d65e9763"]);
    expect(ring.responsibleFor(blinded, HSDIR_SPREAD_FETCH)).toEqual([2, 7, 4, 5, 6, 3]);
  });

  it("storing (spread 4) on 7 relays: replica 2 gets the 3 that replica 1 left", () => {
    expect(ring.responsibleFor(Buffer.alloc(32, 0x42), HSDIR_SPREAD_STORE)).toEqual([5, 6, 3, 1, 2, 7, 4]);
  });

  it("a relay listed twice counts once", () => {
    const doubled = new HsDirRing([...relays, 5, 2], (n) => Buffer.alloc(32, n), srv, period);
    expect(doubled.size).toBe(7);
    expect(doubled.responsibleFor(Buffer.alloc(32, 0x42), HSDIR_SPREAD_FETCH)).toEqual([5, 6, 3, 1, 2, 7]);
  });
});

/** The walk as distances: relays ordered by (hsdir_index - hs_index) mod 2^256, per replica. */
function responsibleByDistance(identities: Uint8Array[], blinded: Uint8Array, spread: number, replicas: number): string[] {
  const asNumber = (bytes: Uint8Array) => BigInt(`0x${hex(bytes)}`);
  const chosen: string[] = [];
  for (let replica = 1; replica <= replicas; replica++) {
    const target = asNumber(hsIndex(blinded, replica, period));
    const distance = (identity: Uint8Array) => (asNumber(hsDirIndex(identity, srv, period)) - target + (1n << 256n)) % (1n << 256n);
    const byDistance = [...identities].sort((a, b) => (distance(a) < distance(b) ? -1 : 1));
    chosen.push(...byDistance.map(hex).filter((id) => !chosen.includes(id)).slice(0, spread));
  }
  return chosen;
}

describe("the ring, for any relays", () => {
  const identities = fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 25, selector: hex });
  const blinded = fc.uint8Array({ minLength: 32, maxLength: 32 });

  it("chooses what the distance model chooses: distinct, min(relays, replicas × spread) of them, whatever the input order", () => {
    fc.assert(
      fc.property(identities, blinded, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), (ids, key, spread, replicas) => {
        const chosen = new HsDirRing(ids, (id) => id, srv, period).responsibleFor(key, spread, replicas).map(hex);
        expect(chosen).toEqual(responsibleByDistance(ids, key, spread, replicas));
        expect(new Set(chosen).size).toBe(chosen.length);
        expect(chosen.length).toBe(Math.min(ids.length, spread * replicas));
        const reversed = new HsDirRing([...ids].reverse(), (id) => id, srv, period);
        expect(reversed.responsibleFor(key, spread, replicas).map(hex)).toEqual(chosen);
      }),
      { numRuns: 60 },
    );
  });

  it("defaults to Tor's 2 replicas", () => {
    expect(HSDIR_N_REPLICAS).toBe(2);
    const ids = Array.from({ length: 20 }, (_, n) => Buffer.alloc(32, n));
    const ring = new HsDirRing(ids, (id) => id, srv, period);
    expect(ring.responsibleFor(Buffer.alloc(32, 9), HSDIR_SPREAD_STORE)).toHaveLength(8);
    expect(ring.responsibleFor(Buffer.alloc(32, 9), HSDIR_SPREAD_FETCH)).toHaveLength(6);
  });

  it("an empty ring chooses nobody", () => {
    expect(new HsDirRing([], (id: Uint8Array) => id, srv, period).responsibleFor(Buffer.alloc(32), HSDIR_SPREAD_FETCH)).toEqual([]);
  });

  it("refuses a spread or replica count below 1, and keys of the wrong length", () => {
    const ring = new HsDirRing([Buffer.alloc(32, 1)], (id) => id, srv, period);
    for (const [spread, replicas] of [[0, 2], [3, 0], [1.5, 2], [3, Number.NaN]]) {
      expect(() => ring.responsibleFor(Buffer.alloc(32), spread, replicas)).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
    }
    const badKey = expect.objectContaining({ name: "OnionError", reason: "bad-key" });
    expect(() => ring.responsibleFor(Buffer.alloc(31), 3)).toThrow(badKey);
    expect(() => new HsDirRing([Buffer.alloc(20)], (id) => id, srv, period)).toThrow(badKey);
    expect(() => new HsDirRing([Buffer.alloc(32)], (id) => id, srv.subarray(1), period)).toThrow(badKey);
  });
});
