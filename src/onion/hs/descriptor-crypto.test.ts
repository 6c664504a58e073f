import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DESCRIPTOR_LAYER_OVERHEAD,
  DESCRIPTOR_SALT_LEN,
  decryptDescriptorLayer,
  encryptDescriptorLayer,
  type DescriptorLayer,
  type DescriptorSecrets,
} from "./descriptor-crypto.js";

const vector = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3-descriptor.json", import.meta.url), "utf8"));
const unhex = (text: string) => Buffer.from(text, "hex");
const refused = expect.objectContaining({ name: "OnionError", reason: "bad-descriptor" });

const torSecrets: DescriptorSecrets = {
  blindedKey: unhex(vector.blinded_public_key),
  subcredential: unhex(vector.subcredential),
  revisionCounter: vector.revision_counter,
};
const superencrypted = Buffer.from(vector.superencrypted_base64, "base64");

/** The base64 body of the first `-----BEGIN MESSAGE-----` block after `keyword`. */
function messageBlock(document: string, keyword: string): Buffer {
  const match = new RegExp(`^${keyword}\\n-----BEGIN MESSAGE-----\\n([A-Za-z0-9+/=\\n]+)-----END MESSAGE-----`, "m").exec(document);
  expect(match).not.toBeNull();
  return Buffer.from(match![1].replace(/\n/g, ""), "base64");
}

describe("a descriptor C tor made (via Arti)", () => {
  const middle = decryptDescriptorLayer("superencrypted", torSecrets, superencrypted);
  const middleText = Buffer.from(middle).toString("latin1");
  const encrypted = messageBlock(middleText, "encrypted");
  const inner = decryptDescriptorLayer("encrypted", torSecrets, encrypted);
  const innerText = Buffer.from(inner).toString("latin1");

  it("opens both layers", () => {
    expect(middleText.startsWith(vector.middle_plaintext_starts_with)).toBe(true);
    expect(innerText.startsWith(vector.inner_plaintext_starts_with)).toBe(true);
    const ntorKey = Buffer.from(unhex(vector.first_intro_point_ntor_key)).toString("base64");
    expect(innerText).toMatch(new RegExp(`^introduction-point [^\\n]+\\nonion-key ntor ${ntorKey.replace(/[+/]/g, "\\$&")}\\n`, "m"));
  });

  it("encrypting its plaintexts with its salts gives its bytes back exactly", () => {
    const saltOf = (blob: Buffer) => blob.subarray(0, DESCRIPTOR_SALT_LEN);
    expect(Buffer.from(encryptDescriptorLayer("superencrypted", torSecrets, middle, saltOf(superencrypted)))).toEqual(superencrypted);
    expect(Buffer.from(encryptDescriptorLayer("encrypted", torSecrets, inner, saltOf(encrypted)))).toEqual(encrypted);
  });

  it("does not open as the other layer, another revision, or with a bigint revision of the wrong value", () => {
    expect(() => decryptDescriptorLayer("encrypted", torSecrets, superencrypted)).toThrow(refused);
    expect(() => decryptDescriptorLayer("superencrypted", { ...torSecrets, revisionCounter: vector.revision_counter + 1 }, superencrypted)).toThrow(refused);
    expect(() => decryptDescriptorLayer("superencrypted", { ...torSecrets, revisionCounter: BigInt(vector.revision_counter) + (1n << 32n) }, superencrypted)).toThrow(refused);
    expect(Buffer.from(decryptDescriptorLayer("superencrypted", { ...torSecrets, revisionCounter: BigInt(vector.revision_counter) }, superencrypted))).toEqual(Buffer.from(middle));
  });
});

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const secretsArb = fc.record({ blindedKey: bytes32, subcredential: bytes32, revisionCounter: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) });
const layerArb = fc.constantFrom<DescriptorLayer>("superencrypted", "encrypted");

describe("descriptor layers", () => {
  it("round trip: salt | ciphertext | MAC, the plaintext's length plus 48", () => {
    fc.assert(
      fc.property(layerArb, secretsArb, fc.uint8Array({ maxLength: 2000 }), (layer, secrets, plaintext) => {
        const encrypted = encryptDescriptorLayer(layer, secrets, plaintext);
        expect(encrypted.length).toBe(plaintext.length + DESCRIPTOR_LAYER_OVERHEAD);
        expect(Buffer.from(decryptDescriptorLayer(layer, secrets, encrypted))).toEqual(Buffer.from(plaintext));
      }),
    );
  });

  it("a fresh random salt each time unless given", () => {
    const secrets = { blindedKey: Buffer.alloc(32, 1), subcredential: Buffer.alloc(32, 2), revisionCounter: 3 };
    const plaintext = Buffer.from("introduction-point ...");
    const a = encryptDescriptorLayer("encrypted", secrets, plaintext);
    const b = encryptDescriptorLayer("encrypted", secrets, plaintext);
    expect(Buffer.from(a)).not.toEqual(Buffer.from(b));
    const salt = Buffer.alloc(DESCRIPTOR_SALT_LEN, 9);
    expect(Buffer.from(encryptDescriptorLayer("encrypted", secrets, plaintext, salt))).toEqual(Buffer.from(encryptDescriptorLayer("encrypted", secrets, plaintext, salt)));
  });

  it("a flipped bit anywhere (salt, ciphertext, MAC) is refused", () => {
    fc.assert(
      fc.property(layerArb, secretsArb, fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (layer, secrets, plaintext, at, bit) => {
        const encrypted = Buffer.from(encryptDescriptorLayer(layer, secrets, plaintext));
        encrypted[at % encrypted.length] ^= 1 << bit;
        expect(() => decryptDescriptorLayer(layer, secrets, encrypted)).toThrow(refused);
      }),
    );
  });

  it("the wrong blinded key, subcredential, revision or layer is refused", () => {
    fc.assert(
      fc.property(layerArb, secretsArb, bytes32, (layer, secrets, other) => {
        fc.pre(!Buffer.from(other).equals(secrets.blindedKey) && !Buffer.from(other).equals(secrets.subcredential));
        const encrypted = encryptDescriptorLayer(layer, secrets, Buffer.from("create2-formats 2\n"));
        for (const wrong of [
          { ...secrets, blindedKey: other },
          { ...secrets, subcredential: other },
          { ...secrets, revisionCounter: secrets.revisionCounter ^ 1n },
        ]) {
          expect(() => decryptDescriptorLayer(layer, wrong, encrypted)).toThrow(refused);
        }
        expect(() => decryptDescriptorLayer(layer === "encrypted" ? "superencrypted" : "encrypted", secrets, encrypted)).toThrow(refused);
      }),
    );
  });

  it("too short to hold a salt and a MAC is refused; the empty plaintext is not", () => {
    const secrets = { blindedKey: Buffer.alloc(32), subcredential: Buffer.alloc(32), revisionCounter: 0 };
    const empty = encryptDescriptorLayer("superencrypted", secrets, new Uint8Array(0));
    expect(decryptDescriptorLayer("superencrypted", secrets, empty).length).toBe(0);
    expect(() => decryptDescriptorLayer("superencrypted", secrets, empty.subarray(1))).toThrow(refused);
    expect(() => decryptDescriptorLayer("superencrypted", secrets, new Uint8Array(0))).toThrow(refused);
  });

  it("secrets and salts of the wrong size, and revisions INT_8 cannot hold, are the caller's error", () => {
    const secrets = { blindedKey: Buffer.alloc(32), subcredential: Buffer.alloc(32), revisionCounter: 0 };
    const badKey = expect.objectContaining({ reason: "bad-key" });
    expect(() => encryptDescriptorLayer("encrypted", { ...secrets, blindedKey: Buffer.alloc(31) }, Buffer.alloc(1))).toThrow(badKey);
    expect(() => encryptDescriptorLayer("encrypted", { ...secrets, subcredential: Buffer.alloc(33) }, Buffer.alloc(1))).toThrow(badKey);
    expect(() => encryptDescriptorLayer("encrypted", secrets, Buffer.alloc(1), Buffer.alloc(15))).toThrow(badKey);
    expect(() => encryptDescriptorLayer("encrypted", { ...secrets, revisionCounter: -1 }, Buffer.alloc(1))).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
  });
});
