import { createPublicKey, randomBytes, verify } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OnionError } from "./errors.js";
import {
  DOMAIN_CONSENSUS,
  DOMAIN_DESCRIPTOR,
  DOMAIN_HEARTBEAT,
  DOMAIN_LINK_AUTH,
  DOMAIN_VOTE,
  ED25519_SIGNATURE_LEN,
  ed25519PublicFromPrivate,
  generateEd25519KeyPair,
  signWithDomain,
  verifyWithDomain,
} from "./signing.js";

const DOMAINS = [
  DOMAIN_DESCRIPTOR,
  DOMAIN_CONSENSUS,
  DOMAIN_HEARTBEAT,
  DOMAIN_LINK_AUTH,
  DOMAIN_VOTE,
];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("Ed25519 keys", () => {
  it("derives the RFC 8032 test 1 public key from its seed", () => {
    const seed = Buffer.from(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "hex",
    );
    expect(hex(ed25519PublicFromPrivate(seed))).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
  });

  it("generates consistent 32-byte pairs", () => {
    const pair = generateEd25519KeyPair();
    expect(pair.publicKey.length).toBe(32);
    expect(pair.privateKey.length).toBe(32);
    expect(hex(ed25519PublicFromPrivate(pair.privateKey))).toBe(hex(pair.publicKey));
  });

  it("refuses a private key that is not 32 bytes", () => {
    expect(() => signWithDomain(DOMAIN_VOTE, Buffer.alloc(1), randomBytes(31))).toThrow(OnionError);
  });
});

describe("domain-separated signatures", () => {
  const pair = generateEd25519KeyPair();

  it("signs utf8(domain) || 0x00 || message", () => {
    const message = Buffer.from("hello");
    const sig = signWithDomain(DOMAIN_DESCRIPTOR, message, pair.privateKey);
    expect(sig.length).toBe(ED25519_SIGNATURE_LEN);
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(pair.publicKey).toString("base64url") },
      format: "jwk",
    });
    const signed = Buffer.concat([Buffer.from(DOMAIN_DESCRIPTOR), Buffer.of(0), message]);
    expect(verify(null, signed, key, sig)).toBe(true);
  });

  it("round-trips and refuses tampering (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DOMAINS),
        fc.uint8Array({ maxLength: 300 }),
        fc.nat(),
        (domain, message, flip) => {
          const sig = signWithDomain(domain, message, pair.privateKey);
          expect(verifyWithDomain(domain, message, sig, pair.publicKey)).toBe(true);

          const badSig = Buffer.from(sig);
          badSig[flip % 64] ^= 1 << (flip % 8);
          expect(verifyWithDomain(domain, message, badSig, pair.publicKey)).toBe(false);

          if (message.length > 0) {
            const badMessage = Buffer.from(message);
            badMessage[flip % message.length] ^= 1 << (flip % 8);
            expect(verifyWithDomain(domain, badMessage, sig, pair.publicKey)).toBe(false);
          }
          for (const other of DOMAINS.filter((d) => d !== domain)) {
            expect(verifyWithDomain(other, message, sig, pair.publicKey)).toBe(false);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("refuses another key's signature", () => {
    const other = generateEd25519KeyPair();
    const sig = signWithDomain(DOMAIN_VOTE, Buffer.from("m"), other.privateKey);
    expect(verifyWithDomain(DOMAIN_VOTE, Buffer.from("m"), sig, pair.publicKey)).toBe(false);
  });

  it("returns false, never throws, on malformed keys and signatures", () => {
    const message = Buffer.from("m");
    const sig = signWithDomain(DOMAIN_HEARTBEAT, message, pair.privateKey);
    for (const key of [Buffer.alloc(0), randomBytes(31), randomBytes(33), Buffer.alloc(32, 0xff)]) {
      expect(verifyWithDomain(DOMAIN_HEARTBEAT, message, sig, key)).toBe(false);
    }
    const badSigs = [Buffer.alloc(0), sig.subarray(0, 63), Buffer.concat([sig, Buffer.of(0)])];
    for (const badSig of badSigs) {
      expect(verifyWithDomain(DOMAIN_HEARTBEAT, message, badSig, pair.publicKey)).toBe(false);
    }
    const zeroSig = Buffer.alloc(64);
    expect(verifyWithDomain(DOMAIN_HEARTBEAT, message, zeroSig, pair.publicKey)).toBe(false);
  });

  it("signs with the array's current key even if the caller rewrote it", () => {
    const a = generateEd25519KeyPair();
    const b = generateEd25519KeyPair();
    const seed = Buffer.from(a.privateKey);
    signWithDomain(DOMAIN_VOTE, Buffer.from("m"), seed);
    seed.set(b.privateKey);
    const sig = signWithDomain(DOMAIN_VOTE, Buffer.from("m"), seed);
    expect(verifyWithDomain(DOMAIN_VOTE, Buffer.from("m"), sig, b.publicKey)).toBe(true);
  });
});
