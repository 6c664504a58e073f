import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OnionError, type OnionErrorReason } from "./errors.js";
import { KEY_MATERIAL_LEN } from "./ntor.js";
import { ClientCircuitCrypto, DirectionCrypto, KeystreamPool, RelayCircuitCrypto, digestBytes, hopCryptoFromKeyMaterial, onionServiceHopCrypto } from "./relay-crypto.js";

const pool = new KeystreamPool();
import { RELAY_BODY_LEN } from "./frame.js";
import { RELAY_DATA_MAX, RELAY_DATA_OFFSET, RELAY_DIGEST_OFFSET } from "./relay-cell.js";

const vector = JSON.parse(
  readFileSync(
    new URL("../../conformance/vectors/tor1-relay-crypto.json", import.meta.url),
    "utf8",
  ),
) as {
  hop_key_material_92: string[];
  shake256_seed_ascii: string;
  expected: { cell_index: number; ciphertext_509: string }[];
};

/** Bytes, or a RunningDigest (latin1 string), as hex. */
const hex = (b: Uint8Array | string) => (typeof b === "string" ? Buffer.from(b, "latin1") : Buffer.from(b)).toString("hex");

function expectOnionError(fn: () => unknown, reason: OnionErrorReason): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(OnionError);
  expect((thrown as OnionError).reason).toBe(reason);
}

/** A plaintext relay body: DATA on stream 1, digest field zero. */
function plaintextBody(data: Uint8Array): Buffer {
  const body = Buffer.alloc(RELAY_BODY_LEN);
  body[0] = 2;
  body.writeUInt16BE(1, 3);
  body.writeUInt16BE(data.length, 9);
  body.set(data, RELAY_DATA_OFFSET);
  return body;
}

/** Body equality ignoring the digest field the originator fills in. */
function withoutDigest(body: Uint8Array): string {
  const copy = Buffer.from(body);
  copy.fill(0, RELAY_DIGEST_OFFSET, RELAY_DIGEST_OFFSET + 4);
  return hex(copy);
}

function circuit(keyMaterials: Uint8Array[]) {
  const client = new ClientCircuitCrypto(pool);
  for (const km of keyMaterials) client.addHop(km);
  return { client, relays: keyMaterials.map((km) => new RelayCircuitCrypto(km, pool)) };
}

describe("tor1 test vector (C tor cells via Arti)", () => {
  it("reproduces all recorded cells of a 3-hop outbound stream byte for byte", () => {
    const client = new ClientCircuitCrypto(pool);
    for (const km of vector.hop_key_material_92) client.addHop(Buffer.from(km, "hex"));
    expect(client.hopCount).toBe(3);
    const cells = 51;
    const stream = createHash("shake256", { outputLength: cells * RELAY_DATA_MAX })
      .update(vector.shake256_seed_ascii)
      .digest();
    const expected = new Map(vector.expected.map((e) => [e.cell_index, e.ciphertext_509]));
    expect(expected.size).toBe(8);
    let checked = 0;
    for (let n = 0; n < cells; n++) {
      const body = plaintextBody(stream.subarray(n * RELAY_DATA_MAX, (n + 1) * RELAY_DATA_MAX));
      expect(body[9]).toBe(1);
      expect(body[10]).toBe(242);
      const out = client.encryptOutbound(body, 2);
      expect(out).toBe(body); // in place
      const want = expected.get(n);
      if (want !== undefined) {
        expect(hex(out)).toBe(want);
        checked++;
      }
    }
    expect(checked).toBe(8);
  });
});

const keyMaterial = fc.uint8Array({ minLength: KEY_MATERIAL_LEN, maxLength: KEY_MATERIAL_LEN });
const payload = fc.uint8Array({ minLength: 0, maxLength: RELAY_DATA_MAX });

describe("tor1 circuits (properties)", () => {
  it("outbound: only the addressed hop recognizes, and gets the plaintext", () => {
    fc.assert(
      fc.property(
        fc.array(keyMaterial, { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), payload), { minLength: 1, maxLength: 6 }),
        (kms, sends) => {
          const { client, relays } = circuit(kms);
          for (const [pick, data] of sends) {
            const target = pick % kms.length;
            const plain = plaintextBody(data);
            const cell = client.encryptOutbound(Buffer.from(plain), target);
            for (let i = 0; i < target; i++) {
              expect(relays[i].decryptOutbound(cell).recognized).toBe(false);
            }
            const result = relays[target].decryptOutbound(cell);
            expect(result.recognized).toBe(true);
            expect(withoutDigest(cell)).toBe(hex(plain));
            expect(hex(result.digest!)).toBe(hex(client.lastOutboundDigest(target)!));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("inbound: the client recognizes the originating hop and gets the plaintext", () => {
    fc.assert(
      fc.property(
        fc.array(keyMaterial, { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), payload), { minLength: 1, maxLength: 6 }),
        (kms, sends) => {
          const { client, relays } = circuit(kms);
          for (const [pick, data] of sends) {
            const origin = pick % kms.length;
            const plain = plaintextBody(data);
            const cell = relays[origin].encryptInbound(Buffer.from(plain), true);
            for (let i = origin - 1; i >= 0; i--) relays[i].encryptInbound(cell, false);
            const got = client.decryptInbound(cell);
            expect(got.hop).toBe(origin);
            expect(got.body).toBe(cell);
            expect(withoutDigest(got.body)).toBe(hex(plain));
            expect(hex(got.digest)).toBe(hex(relays[origin].lastInboundDigest()!));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a single flipped bit in flight makes the addressed hop reject the cell", () => {
    fc.assert(
      fc.property(
        fc.array(keyMaterial, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: RELAY_BODY_LEN * 8 - 1 }),
        payload,
        (kms, pick, bit, data) => {
          const target = pick % kms.length;
          const { client, relays } = circuit(kms);
          const cell = client.encryptOutbound(plaintextBody(data), target);
          cell[bit >> 3] ^= 1 << (bit & 7);
          for (let i = 0; i <= target; i++) {
            expect(relays[i].decryptOutbound(cell).recognized).toBe(false);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a single flipped bit inbound makes the client refuse the cell", () => {
    fc.assert(
      fc.property(
        fc.array(keyMaterial, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: RELAY_BODY_LEN * 8 - 1 }),
        payload,
        (kms, pick, bit, data) => {
          const origin = pick % kms.length;
          const { client, relays } = circuit(kms);
          const cell = relays[origin].encryptInbound(plaintextBody(data), true);
          for (let i = origin - 1; i >= 0; i--) relays[i].encryptInbound(cell, false);
          cell[bit >> 3] ^= 1 << (bit & 7);
          expectOnionError(() => client.decryptInbound(cell), "cell-unrecognized");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("the client's batched decrypt equals cell by cell, up to the first unrecognized cell", () => {
    fc.assert(
      fc.property(
        fc.array(keyMaterial, { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), payload), { minLength: 1, maxLength: 40 }),
        fc.option(fc.nat()),
        (kms, sends, corrupt) => {
          const perCell = circuit(kms);
          const batchedClient = circuit(kms).client;
          const cells = sends.map(([pick, data]) => {
            const origin = pick % kms.length;
            const cell = perCell.relays[origin].encryptInbound(plaintextBody(data), true);
            for (let i = origin - 1; i >= 0; i--) perCell.relays[i].encryptInbound(cell, false);
            return cell;
          });
          const bad = corrupt === null ? cells.length : corrupt % cells.length;
          if (bad < cells.length) cells[bad][RELAY_DATA_OFFSET + 100] ^= 1;
          const batch = Buffer.concat(cells);
          const got = batchedClient.decryptInboundMany(batch);
          expect(got.recognized).toBe(bad);
          for (let i = 0; i < bad; i++) {
            const want = perCell.client.decryptInbound(cells[i]);
            expect(got.hops[i]).toBe(want.hop);
            expect(got.digests[i]).toBe(want.digest);
            expect(hex(batch.subarray(i * RELAY_BODY_LEN, (i + 1) * RELAY_BODY_LEN))).toBe(hex(want.body));
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it("batched relay decrypt/encrypt equals per-cell processing", () => {
    fc.assert(
      fc.property(
        keyMaterial,
        keyMaterial,
        fc.array(fc.tuple(fc.boolean(), payload), { minLength: 1, maxLength: 70 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (km0, km1, sends, batchSizes, originate) => {
          // Outbound: cells for hop 0 (recognized there) mixed with cells for hop 1.
          const { client } = circuit([km0, km1]);
          const cells = sends.map(([forUs, data]) =>
            client.encryptOutbound(plaintextBody(data), forUs ? 0 : 1),
          );
          const perCell = new RelayCircuitCrypto(km0, pool);
          const batched = new RelayCircuitCrypto(km0, pool);
          const wantOut = cells.map((c) => {
            const copy = Buffer.from(c);
            return { result: perCell.decryptOutbound(copy), bytes: hex(copy) };
          });
          let next = 0;
          for (let b = 0; next < cells.length; b++) {
            const n = Math.min(batchSizes[b % batchSizes.length], cells.length - next);
            const batch = Buffer.concat(cells.slice(next, next + n));
            const recognized = batched.decryptOutboundMany(batch);
            const byIndex = new Map(recognized.map((r) => [r.index, hex(r.digest)]));
            for (let i = 0; i < n; i++) {
              const want = wantOut[next + i];
              const off = i * RELAY_BODY_LEN;
              expect(hex(batch.subarray(off, off + RELAY_BODY_LEN))).toBe(want.bytes);
              expect(byIndex.has(i)).toBe(want.result.recognized);
              expect(want.result.recognized).toBe(sends[next + i][0]);
              if (want.result.recognized) expect(byIndex.get(i)).toBe(hex(want.result.digest!));
            }
            next += n;
          }

          // Inbound, originated or forwarded.
          const inPerCell = new RelayCircuitCrypto(km1, pool);
          const inBatched = new RelayCircuitCrypto(km1, pool);
          const plains = sends.map(([, data]) => plaintextBody(data));
          const wantIn = plains.map((p) =>
            hex(inPerCell.encryptInbound(Buffer.from(p), originate)),
          );
          const all = Buffer.concat(plains);
          next = 0;
          for (let b = 0; next < plains.length; b++) {
            const n = Math.min(batchSizes[b % batchSizes.length], plains.length - next);
            const batch = all.subarray(next * RELAY_BODY_LEN, (next + n) * RELAY_BODY_LEN);
            inBatched.encryptInboundMany(batch, originate);
            next += n;
          }
          for (let i = 0; i < plains.length; i++) {
            const off = i * RELAY_BODY_LEN;
            expect(hex(all.subarray(off, off + RELAY_BODY_LEN))).toBe(wantIn[i]);
          }
          expect(inBatched.lastInboundDigest()).toEqual(inPerCell.lastInboundDigest());
        },
      ),
      { numRuns: 40 },
    );
  });

  it("keystream is one continuous AES-128-CTR stream however the data is split", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        // Up to 40,000 bytes: runs of 16 cells or more go through the cipher directly.
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 7 }),
        (key, sizes, shift) => {
          const total = sizes.reduce((a, b) => a + b, 0);
          // Shifted so that the word-wise XOR meets every alignment.
          const data = Buffer.alloc(total + shift).subarray(shift);
          data.set(randomBytes(total));
          const want = createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(data);
          const dir = new DirectionCrypto(key, Buffer.alloc(20), pool);
          let off = 0;
          for (const size of sizes) {
            dir.crypt(data.subarray(off, off + size));
            off += size;
          }
          expect(hex(data)).toBe(hex(want));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("keystream memory policy", () => {
  it("stays one continuous stream when directions are released and regenerated (budget 0)", () => {
    const noBudget = new KeystreamPool(0);
    fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 4 }),
          fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 20000 })), { minLength: 1, maxLength: 40 }),
          (keys, steps) => {
            // Several directions interleaved: with no budget, each warm refill releases the others.
            const dirs = keys.map((k) => new DirectionCrypto(k, Buffer.alloc(20), noBudget));
            const refs = keys.map((k) => createCipheriv("aes-128-ctr", k, Buffer.alloc(16)));
            for (const [which, size] of steps) {
              const i = which % keys.length;
              const data = randomBytes(size);
              const want = refs[i].update(data);
              dirs[i].crypt(data);
              expect(hex(data)).toBe(hex(want));
            }
          },
        ),
        { numRuns: 40 },
      );
  });

  it("cold directions crypt cell by cell, across the switch to a warm cipher", () => {
    const key = randomBytes(16);
    const ref = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
    const dir = new DirectionCrypto(key, Buffer.alloc(20), pool);
    for (let cell = 0; cell < 200; cell++) {
      const body = randomBytes(cell % 7 === 6 ? 3 * RELAY_BODY_LEN : RELAY_BODY_LEN);
      const want = ref.update(body);
      dir.crypt(body);
      expect(hex(body)).toBe(hex(want));
    }
  });
});

describe("tor1 recognition details", () => {
  it("a digest mismatch leaves the running digest untouched", () => {
    const seed = randomBytes(20);
    const sender = new DirectionCrypto(randomBytes(16), seed, pool);
    const receiver = new DirectionCrypto(randomBytes(16), seed, pool);
    const bogus = plaintextBody(Buffer.from("not stamped"));
    bogus[RELAY_DIGEST_OFFSET] = 0x55;
    const before = hex(bogus);
    expect(receiver.recognize(bogus)).toBeUndefined();
    expect(hex(bogus)).toBe(before); // body unchanged too
    const good = plaintextBody(Buffer.from("stamped"));
    const digest = sender.stamp(good);
    expect(hex(receiver.recognize(good)!)).toBe(hex(digest));
  });

  it("recognizes the same cells with the in-place digest of a last hop", () => {
    const seed = randomBytes(20);
    const [sender, onCopy, inPlace] = [0, 1, 2].map(() => new DirectionCrypto(randomBytes(16), seed, pool));
    for (let i = 0; i < 5; i++) {
      const body = plaintextBody(Buffer.from(`cell ${i}`));
      const digest = sender.stamp(body);
      expect(digestBytes(digest)).toHaveLength(20);
      expect(onCopy.recognize(Uint8Array.from(body))).toBe(digest);
      expect(inPlace.recognize(body, 0, true)).toBe(digest);
    }
  });

  it("the recognized field must be zero", () => {
    const seed = randomBytes(20);
    const sender = new DirectionCrypto(randomBytes(16), seed, pool);
    const receiver = new DirectionCrypto(randomBytes(16), seed, pool);
    const body = plaintextBody(Buffer.from("x"));
    body[1] = 1;
    sender.stamp(body);
    expect(receiver.recognize(body)).toBeUndefined();
  });

  it("the client refuses a cell no hop recognizes", () => {
    const { client } = circuit([randomBytes(KEY_MATERIAL_LEN), randomBytes(KEY_MATERIAL_LEN)]);
    expectOnionError(() => client.decryptInbound(randomBytes(RELAY_BODY_LEN)), "cell-unrecognized");
  });

  it("refuses bodies, batches and key material of the wrong size", () => {
    const km = randomBytes(KEY_MATERIAL_LEN);
    const { client, relays } = circuit([km]);
    expectOnionError(() => client.encryptOutbound(Buffer.alloc(508), 0), "cell-malformed");
    expectOnionError(() => client.decryptInbound(Buffer.alloc(510)), "cell-malformed");
    expectOnionError(() => relays[0].decryptOutbound(Buffer.alloc(0)), "cell-malformed");
    expectOnionError(() => relays[0].decryptOutboundMany(Buffer.alloc(1018 + 1)), "cell-malformed");
    expectOnionError(() => relays[0].encryptInboundMany(Buffer.alloc(0), false), "cell-malformed");
    expectOnionError(() => hopCryptoFromKeyMaterial(km.subarray(0, 72), pool), "bad-key");
    expect(() => client.encryptOutbound(Buffer.alloc(RELAY_BODY_LEN), 1)).toThrow(RangeError);
    expect(client.lastOutboundDigest(0)).toBeUndefined();
  });
});

describe("an onion service's end-to-end hop (SHA3-256, AES-256-CTR)", () => {
  const km = randomBytes(128);
  const [df, db, kf, kb] = [0, 32, 64, 96].map((at) => km.subarray(at, at + 32));

  function ends() {
    const client = new ClientCircuitCrypto(pool);
    client.addHopCrypto(onionServiceHopCrypto(km, pool, "client"));
    const service = new ClientCircuitCrypto(pool);
    service.addHopCrypto(onionServiceHopCrypto(km, pool, "service"));
    return { client, service };
  }

  it("seals client → service with Kf and Df as Tor's hs relay crypto does", () => {
    const { client, service } = ends();
    const plain = new Uint8Array(RELAY_BODY_LEN);
    plain.set(randomBytes(100), RELAY_DATA_OFFSET);
    const sealed = client.encryptOutbound(Uint8Array.from(plain), 0);
    const digest = createHash("sha3-256").update(df).update(plain).digest();
    const expected = Uint8Array.from(plain);
    expected.set(digest.subarray(0, 4), RELAY_DIGEST_OFFSET);
    expect(hex(sealed)).toBe(hex(createCipheriv("aes-256-ctr", kf, Buffer.alloc(16)).update(expected)));
    const opened = service.decryptInbound(sealed);
    expect(opened.hop).toBe(0);
    expect(withoutDigest(opened.body)).toBe(withoutDigest(plain));
    // A SENDME carries the first 20 bytes of the SHA3-256 running digest.
    expect(hex(digestBytes(opened.digest))).toBe(hex(digest.subarray(0, 20)));
  });

  it("seals service → client with Kb and Db, and refuses a flipped bit", () => {
    const { client, service } = ends();
    const plain = new Uint8Array(RELAY_BODY_LEN);
    plain.set(randomBytes(RELAY_DATA_MAX), RELAY_DATA_OFFSET);
    const sealed = service.encryptOutbound(Uint8Array.from(plain), 0);
    const expected = Uint8Array.from(plain);
    expected.set(createHash("sha3-256").update(db).update(plain).digest().subarray(0, 4), RELAY_DIGEST_OFFSET);
    expect(hex(sealed)).toBe(hex(createCipheriv("aes-256-ctr", kb, Buffer.alloc(16)).update(expected)));
    expect(withoutDigest(client.decryptInbound(sealed).body)).toBe(withoutDigest(plain));
    const next = service.encryptOutbound(new Uint8Array(RELAY_BODY_LEN), 0);
    next[200] ^= 1;
    expectOnionError(() => client.decryptInbound(next), "cell-unrecognized");
  });

  it("refuses key material of the wrong length", () => {
    expectOnionError(() => onionServiceHopCrypto(km.subarray(0, 92), pool, "client"), "bad-key");
  });
});
