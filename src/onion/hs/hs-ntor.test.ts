import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateX25519KeyPair, x25519PublicFromPrivate, type X25519KeyPair } from "../ntor.js";
import { generateEd25519KeyPair } from "../signing.js";
import {
  HS_KEY_MATERIAL_LEN,
  HS_NTOR_HANDSHAKE_INFO_LEN,
  hsNtorClientFinish,
  hsNtorClientIntroduce,
  hsNtorKeyMaterial,
  hsNtorServiceOpen,
  hsNtorServiceRespond,
  type HsNtorIntroduction,
  type HsNtorServiceKeys,
} from "./hs-ntor.js";

const vector = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3.json", import.meta.url), "utf8")).hs_ntor;
const unhex = (text: string) => Buffer.from(text, "hex");
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").toUpperCase();
const handshakeFailed = expect.objectContaining({ name: "OnionError", reason: "handshake-failed" });

const pairOf = (secret: string): X25519KeyPair => ({ privateKey: unhex(secret), publicKey: x25519PublicFromPrivate(unhex(secret)) });
const introHeader = unhex(vector.intro_header);
const introBody = unhex(vector.intro_body);
const introPoint = { ntorKey: unhex(vector.kp_hss_ntor), authKey: unhex(vector.kp_hs_ipt_sid), subcredential: unhex(vector.subcredential) };
const serviceKeys: HsNtorServiceKeys = {
  ntorKeyPair: { privateKey: unhex(vector.ks_hss_ntor), publicKey: unhex(vector.kp_hss_ntor) },
  authKey: unhex(vector.kp_hs_ipt_sid),
  subcredentials: [unhex(vector.subcredential)],
};

const wire = (header: Uint8Array, i: HsNtorIntroduction) => Buffer.concat([header, i.clientPublicKey, i.encrypted, i.mac]);

/** The circuit keys as the vector's "about" defines them, from node:crypto directly. */
const expectedKeyMaterial = (seed: Uint8Array) =>
  createHash("shake256", { outputLength: 128 }).update(seed).update("tor-hs-ntor-curve25519-sha3-256-1:hs_key_expand").digest();

describe("hs-ntor (C tor's vector)", () => {
  const client = hsNtorClientIntroduce(introPoint, introHeader, introBody, pairOf(vector.x));
  const service = hsNtorServiceOpen(serviceKeys, introHeader, client.introduction);
  const response = hsNtorServiceRespond(service.state, pairOf(vector.y));

  it("the client's INTRODUCE1 is C tor's, byte for byte", () => {
    expect(hex(wire(introHeader, client.introduction))).toBe(vector.introduce1_expected);
  });

  it("the service opens it to the plaintext", () => {
    expect(hex(service.plaintext)).toBe(vector.intro_body);
    expect(hex(service.subcredential)).toBe(vector.subcredential);
  });

  it("the service's RENDEZVOUS1 handshake info and NTOR_KEY_SEED are C tor's", () => {
    expect(hex(response.handshakeInfo)).toBe(vector.rendezvous1_handshake_info.toUpperCase());
    expect(hex(response.ntorKeySeed)).toBe(vector.ntor_key_seed);
  });

  it("the client checks RENDEZVOUS2 and gets the same seed; both expand it to the same 128 bytes", () => {
    const seed = hsNtorClientFinish(client.state, response.handshakeInfo);
    expect(hex(seed)).toBe(vector.ntor_key_seed);
    const keys = hsNtorKeyMaterial(seed);
    expect(keys.length).toBe(HS_KEY_MATERIAL_LEN);
    expect(Buffer.from(keys)).toEqual(expectedKeyMaterial(unhex(vector.ntor_key_seed)));
    expect(Buffer.from(hsNtorKeyMaterial(response.ntorKeySeed))).toEqual(Buffer.from(keys));
  });
});

/** A service with one introduction point, fresh keys. */
function freshService(subcredential: Uint8Array) {
  const ntorKeyPair = generateX25519KeyPair();
  const authKey = generateEd25519KeyPair().publicKey;
  return {
    introPoint: { ntorKey: ntorKeyPair.publicKey, authKey, subcredential },
    keys: { ntorKeyPair, authKey, subcredentials: [subcredential] } satisfies HsNtorServiceKeys,
  };
}

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("hs-ntor round trip", () => {
  it("any header and plaintext: the service reads the plaintext, both ends share seed and keys", () => {
    fc.assert(
      fc.property(bytes32, fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 500 }), (subcredential, header, plaintext) => {
        const { introPoint: point, keys } = freshService(subcredential);
        const client = hsNtorClientIntroduce(point, header, plaintext);
        expect(client.introduction.encrypted.length).toBe(plaintext.length);
        const service = hsNtorServiceOpen(keys, header, client.introduction);
        expect(Buffer.from(service.plaintext)).toEqual(Buffer.from(plaintext));
        const response = hsNtorServiceRespond(service.state);
        expect(response.handshakeInfo.length).toBe(HS_NTOR_HANDSHAKE_INFO_LEN);
        const seed = hsNtorClientFinish(client.state, response.handshakeInfo);
        expect(Buffer.from(seed)).toEqual(Buffer.from(response.ntorKeySeed));
        expect(Buffer.from(hsNtorKeyMaterial(seed))).toEqual(expectedKeyMaterial(response.ntorKeySeed));
      }),
      { numRuns: 30 },
    );
  });

  it("the service tries each subcredential it holds and says which one opened it", () => {
    const { introPoint: point, keys } = freshService(Buffer.alloc(32, 1));
    const previous = Buffer.alloc(32, 2);
    const client = hsNtorClientIntroduce({ ...point, subcredential: previous }, introHeader, introBody);
    expect(() => hsNtorServiceOpen(keys, introHeader, client.introduction)).toThrow(handshakeFailed);
    const opened = hsNtorServiceOpen({ ...keys, subcredentials: [Buffer.alloc(32, 1), previous] }, introHeader, client.introduction);
    expect(Buffer.from(opened.subcredential)).toEqual(previous);
    expect(Buffer.from(opened.plaintext)).toEqual(introBody);
  });
});

describe("hs-ntor refusals", () => {
  const client = hsNtorClientIntroduce(introPoint, introHeader, introBody, pairOf(vector.x));
  const message = wire(introHeader, client.introduction);
  const headerLen = introHeader.length;

  it("INTRODUCE2 with any bit flipped (header, X, ciphertext, MAC)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: message.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const altered = Buffer.from(message);
        altered[at] ^= 1 << bit;
        const introduction = {
          clientPublicKey: altered.subarray(headerLen, headerLen + 32),
          encrypted: altered.subarray(headerLen + 32, altered.length - 32),
          mac: altered.subarray(altered.length - 32),
        };
        expect(() => hsNtorServiceOpen(serviceKeys, altered.subarray(0, headerLen), introduction)).toThrow(handshakeFailed);
      }),
    );
  });

  it("INTRODUCE2 for another AUTH_KEY, B or subcredential", () => {
    const other = freshService(Buffer.alloc(32, 7));
    expect(() => hsNtorServiceOpen({ ...serviceKeys, authKey: other.keys.authKey }, introHeader, client.introduction)).toThrow(handshakeFailed);
    expect(() => hsNtorServiceOpen({ ...serviceKeys, ntorKeyPair: other.keys.ntorKeyPair }, introHeader, client.introduction)).toThrow(handshakeFailed);
    expect(() => hsNtorServiceOpen({ ...serviceKeys, subcredentials: [Buffer.alloc(32, 7)] }, introHeader, client.introduction)).toThrow(handshakeFailed);
    expect(() => hsNtorServiceOpen({ ...serviceKeys, subcredentials: [] }, introHeader, client.introduction)).toThrow(handshakeFailed);
  });

  it("INTRODUCE2 whose X or MAC has the wrong length", () => {
    const { introduction } = client;
    expect(() => hsNtorServiceOpen(serviceKeys, introHeader, { ...introduction, clientPublicKey: introduction.clientPublicKey.subarray(1) })).toThrow(handshakeFailed);
    expect(() => hsNtorServiceOpen(serviceKeys, introHeader, { ...introduction, mac: introduction.mac.subarray(1) })).toThrow(handshakeFailed);
  });

  it("a small-order X or Y (all-zero shared secret)", () => {
    const zero = new Uint8Array(32);
    expect(() => hsNtorServiceOpen(serviceKeys, introHeader, { ...client.introduction, clientPublicKey: zero })).toThrow(handshakeFailed);
    const fresh = hsNtorClientIntroduce(introPoint, introHeader, introBody);
    expect(() => hsNtorClientFinish(fresh.state, Buffer.concat([zero, Buffer.alloc(32)]))).toThrow(handshakeFailed);
  });

  it("RENDEZVOUS2 with any bit flipped, or of the wrong length", () => {
    const service = hsNtorServiceOpen(serviceKeys, introHeader, client.introduction);
    const { handshakeInfo } = hsNtorServiceRespond(service.state, pairOf(vector.y));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: HS_NTOR_HANDSHAKE_INFO_LEN - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const altered = Buffer.from(handshakeInfo);
        altered[at] ^= 1 << bit;
        expect(() => hsNtorClientFinish(client.state, altered)).toThrow(handshakeFailed);
      }),
    );
    expect(() => hsNtorClientFinish(client.state, handshakeInfo.subarray(1))).toThrow(handshakeFailed);
    expect(() => hsNtorClientFinish(client.state, Buffer.concat([handshakeInfo, Buffer.alloc(1)]))).toThrow(handshakeFailed);
  });

  it("keys of the wrong length are the caller's error", () => {
    const badKey = expect.objectContaining({ reason: "bad-key" });
    expect(() => hsNtorClientIntroduce({ ...introPoint, ntorKey: Buffer.alloc(31) }, introHeader, introBody)).toThrow(badKey);
    expect(() => hsNtorClientIntroduce({ ...introPoint, authKey: Buffer.alloc(33) }, introHeader, introBody)).toThrow(badKey);
    expect(() => hsNtorClientIntroduce({ ...introPoint, subcredential: Buffer.alloc(0) }, introHeader, introBody)).toThrow(badKey);
    expect(() => hsNtorServiceOpen({ ...serviceKeys, subcredentials: [Buffer.alloc(31)] }, introHeader, client.introduction)).toThrow(badKey);
    expect(() => hsNtorKeyMaterial(Buffer.alloc(31))).toThrow(badKey);
  });
});
