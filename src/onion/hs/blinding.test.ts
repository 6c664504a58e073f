import { createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ed25519PublicFromPrivate } from "../signing.js";
import {
  blindingFactor,
  blindPublicKey,
  blindSecretKey,
  credential,
  expandEd25519Seed,
  publicKeyOfExpanded,
  signWithExpandedKey,
  subcredential,
  type ExpandedSecretKey,
} from "./blinding.js";
import { sha3 } from "./hash.js";
import type { TimePeriod } from "./time-period.js";

const vector = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3.json", import.meta.url), "utf8")).key_blinding;
const unhex = (text: string) => Buffer.from(text, "hex");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").toUpperCase();
const badKey = expect.objectContaining({ name: "OnionError", reason: "bad-key" });

const identityKey = unhex(vector.identity_public_key);
const expanded = unhex(vector.identity_expanded_secret_key);
const identitySecret: ExpandedSecretKey = { scalar: expanded.subarray(0, 32), hashPrefix: expanded.subarray(32) };
const period: TimePeriod = { number: vector.period_num, lengthMinutes: vector.period_length_minutes, rotationOffsetMinutes: vector.rotation_offset_minutes };

/** node:crypto's ordinary Ed25519 verify. */
function nodeVerifies(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") }, format: "jwk" });
  return verify(null, message, key, signature);
}

describe("key blinding (C tor's vector)", () => {
  it("the expanded identity secret is the identity key's", () => {
    expect(hex(publicKeyOfExpanded(identitySecret))).toBe(vector.identity_public_key);
  });

  it("the blinding factor is the vector's hash, clamped", () => {
    const clamped = unhex(vector.blinding_factor_unclamped);
    clamped[0] &= 248;
    clamped[31] &= 63;
    clamped[31] |= 64;
    expect(hex(blindingFactor(identityKey, period))).toBe(hex(clamped));
    expect(hex(clamped)).not.toBe(vector.blinding_factor_unclamped); // the clamp matters here
  });

  it("A', the subcredential and the blinded secret key", () => {
    const blinded = blindPublicKey(identityKey, period);
    expect(hex(blinded)).toBe(vector.blinded_public_key);
    expect(hex(subcredential(identityKey, blinded))).toBe(vector.subcredential);
    const blindedSecret = blindSecretKey(identitySecret, period);
    expect(hex(Buffer.concat([blindedSecret.scalar, blindedSecret.hashPrefix]))).toBe(vector.blinded_expanded_secret_key);
    expect(hex(publicKeyOfExpanded(blindedSecret))).toBe(vector.blinded_public_key);
  });

  it("the credential is H('credential' | A), inside the subcredential", () => {
    const blinded = blindPublicKey(identityKey, period);
    expect(credential(identityKey)).toEqual(sha3(Buffer.from("credential"), identityKey));
    expect(hex(sha3(Buffer.from("subcredential"), credential(identityKey), blinded))).toBe(vector.subcredential);
  });

  it("the blinded key signs what node:crypto verifies against A'", () => {
    const message = Buffer.from("descriptor-signing-key certificate");
    const signature = signWithExpandedKey(blindSecretKey(identitySecret, period), message);
    expect(nodeVerifies(unhex(vector.blinded_public_key), message, signature)).toBe(true);
    expect(nodeVerifies(identityKey, message, signature)).toBe(false);
    expect(nodeVerifies(unhex(vector.blinded_public_key), Buffer.from("another message"), signature)).toBe(false);
  });
});

describe("expanded secret keys", () => {
  const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const message = fc.uint8Array({ maxLength: 200 });

  it("a seed expands as Ed25519 does: same public key, byte-identical signatures", () => {
    fc.assert(
      fc.property(seed, message, (seedBytes, msg) => {
        const secret = expandEd25519Seed(seedBytes);
        expect(Buffer.from(publicKeyOfExpanded(secret))).toEqual(Buffer.from(ed25519PublicFromPrivate(seedBytes)));
        const nodeKey = { key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seedBytes]), format: "der", type: "pkcs8" } as const;
        expect(Buffer.from(signWithExpandedKey(secret, msg))).toEqual(sign(null, msg, nodeKey));
      }),
      { numRuns: 30 },
    );
  });

  it("for any identity and period, blinding the secret and the public key agree, and the signatures verify", () => {
    fc.assert(
      fc.property(seed, fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 1440 }), message, (seedBytes, number, lengthMinutes, msg) => {
        const secret = expandEd25519Seed(seedBytes);
        const p: TimePeriod = { number, lengthMinutes, rotationOffsetMinutes: 0 };
        const blindedSecret = blindSecretKey(secret, p);
        const blinded = blindPublicKey(publicKeyOfExpanded(secret), p);
        expect(Buffer.from(publicKeyOfExpanded(blindedSecret))).toEqual(Buffer.from(blinded));
        expect(nodeVerifies(blinded, msg, signWithExpandedKey(blindedSecret, msg))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it("each period has its own blinded key and subcredential", () => {
    const next = { ...period, number: period.number + 1 };
    const shorter = { ...period, lengthMinutes: 60 };
    const keys = [period, next, shorter].map((p) => hex(blindPublicKey(identityKey, p)));
    expect(new Set(keys).size).toBe(3);
    expect(hex(subcredential(identityKey, blindPublicKey(identityKey, next)))).not.toBe(vector.subcredential);
  });
});

describe("refusals", () => {
  it("keys of the wrong length", () => {
    expect(() => blindPublicKey(identityKey.subarray(1), period)).toThrow(badKey);
    expect(() => blindingFactor(Buffer.alloc(33), period)).toThrow(badKey);
    expect(() => expandEd25519Seed(Buffer.alloc(31))).toThrow(badKey);
    expect(() => blindSecretKey({ scalar: identitySecret.scalar, hashPrefix: Buffer.alloc(16) }, period)).toThrow(badKey);
    expect(() => signWithExpandedKey({ scalar: Buffer.alloc(31), hashPrefix: identitySecret.hashPrefix }, Buffer.alloc(1))).toThrow(badKey);
    expect(() => subcredential(identityKey, Buffer.alloc(31))).toThrow(badKey);
    expect(() => credential(Buffer.alloc(0))).toThrow(badKey);
    expect(() => publicKeyOfExpanded({ scalar: Buffer.alloc(32), hashPrefix: identitySecret.hashPrefix })).toThrow(badKey);
  });

  it("an identity key that is not a point", () => {
    const notAPoint = Buffer.alloc(32, 0xff);
    expect(() => ed25519.Point.fromBytes(notAPoint)).toThrow();
    expect(() => blindPublicKey(notAPoint, period)).toThrow(badKey);
  });

  it("a period that INT_8 cannot hold", () => {
    expect(() => blindPublicKey(identityKey, { ...period, number: -1 })).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
  });
});
