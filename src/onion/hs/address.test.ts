import { readFileSync } from "node:fs";
import { ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MeowOnionError, OnionError, type OnionErrorReason } from "../errors.js";
import { ed25519PublicFromPrivate } from "../signing.js";
import { encodeOnionAddress, isMeowHostName, isTorOnionHostName, meowHostName, ONION_ADDRESS_LEN, parseMeowHostName } from "./address.js";

const vector = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3.json", import.meta.url), "utf8")).onion_address;
const vectorKey = Buffer.from(vector.public_key, "hex");
const vectorAddress = (vector.address as string).replace(/\.onion$/, "");

const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const refusal = (reason: OnionErrorReason) => expect.objectContaining({ name: "OnionError", reason, kind: "onion-service-bad-address" });

describe("onion address (C tor's vector)", () => {
  it("encodes the key as C tor does", () => {
    expect(encodeOnionAddress(vectorKey)).toBe(vectorAddress);
    expect(meowHostName(vectorKey)).toBe(`${vectorAddress}.meow`);
  });

  it("parses it back, whatever the case, ignoring labels before it", () => {
    for (const host of [`${vectorAddress}.meow`, `${vectorAddress.toUpperCase()}.MEOW`, `www.${vectorAddress}.meow`, `a.b.${vectorAddress}.Meow`]) {
      expect(Buffer.from(parseMeowHostName(host))).toEqual(vectorKey);
    }
  });
});

describe("onion address round trip", () => {
  it("any Ed25519 public key gives 56 lower-case base32 characters that parse back to it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const publicKey = ed25519PublicFromPrivate(seed);
        const host = meowHostName(publicKey);
        expect(host).toMatch(/^[a-z2-7]{56}\.meow$/);
        expect(host.slice(0, ONION_ADDRESS_LEN)).toMatch(/d$/); // version 3 in the last 5 bits
        expect(Buffer.from(parseMeowHostName(host))).toEqual(Buffer.from(publicKey));
      }),
      { numRuns: 50 },
    );
  });
});

describe("onion address refusals", () => {
  const host = `${vectorAddress}.meow`;

  it("a wrong length", () => {
    expect(() => parseMeowHostName(`${vectorAddress.slice(1)}.meow`)).toThrow(refusal("bad-address-length"));
    expect(() => parseMeowHostName(`${vectorAddress}a.meow`)).toThrow(refusal("bad-address-length"));
    expect(() => parseMeowHostName("example.meow")).toThrow(refusal("bad-address-length"));
    expect(() => parseMeowHostName(".meow")).toThrow(refusal("bad-address-length"));
  });

  it("a name that is not .meow at all is the caller's error", () => {
    expect(() => parseMeowHostName(`${vectorAddress}.onion`)).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
    expect(() => parseMeowHostName(`${vectorAddress}.meow.`)).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
  });

  it("characters outside base32", () => {
    // U+212A KELVIN SIGN lower-cases to "k": it must not stand for one.
    for (const bad of ["0", "1", "8", "9", "=", "-", "\u212a", "\u00e9"]) {
      expect(() => parseMeowHostName(bad + host.slice(1))).toThrow(refusal("bad-address-encoding"));
    }
  });

  it("a version other than 3 (the last character holds the version's low bits)", () => {
    expect(host[ONION_ADDRESS_LEN - 1]).toBe("d");
    expect(() => parseMeowHostName(`${vectorAddress.slice(0, -1)}e.meow`)).toThrow(refusal("bad-address-version"));
  });

  it("a wrong checksum: any mistyped character of the key or checksum", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: ONION_ADDRESS_LEN - 2 }), fc.integer({ min: 0, max: 31 }), (at, value) => {
        const char = BASE32[value];
        fc.pre(vectorAddress[at] !== char);
        const typo = vectorAddress.slice(0, at) + char + vectorAddress.slice(at + 1);
        // The second-to-last character's low 3 bits are the version's top 3 (zero for version 3).
        const versionChanged = at === ONION_ADDRESS_LEN - 2 && value % 8 !== 0;
        expect(() => parseMeowHostName(`${typo}.meow`)).toThrow(refusal(versionChanged ? "bad-address-version" : "bad-address-checksum"));
      }),
    );
  });

  it("a key that is no point, the identity, or a point with a small-order component (as C tor)", () => {
    const identity = Buffer.alloc(32);
    identity[0] = 1;
    const smallOrder = ed25519.Point.fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    expect(smallOrder.isSmallOrder() && !smallOrder.is0()).toBe(true);
    const withTorsion = ed25519.Point.fromBytes(vectorKey).add(smallOrder).toBytes();
    const notAPoint = Buffer.alloc(32, 0xff);
    for (const key of [identity, smallOrder.toBytes(), withTorsion, notAPoint]) {
      expect(() => parseMeowHostName(meowHostName(key))).toThrow(refusal("bad-address-key"));
    }
  });

  it("each refusal is an invalid target, as no other onion error is", () => {
    expect(new OnionError("bad-address-checksum", "x").kind).toBe("onion-service-bad-address");
    expect(new OnionError("bad-descriptor", "x").kind).toBe("protocol-violation");
    expect(new OnionError("key-file", "x").kind).toBe("local-state");
    expect(new OnionError("bad-address-length", "x")).toBeInstanceOf(MeowOnionError);
  });

  it("a key of the wrong length cannot be encoded", () => {
    expect(() => encodeOnionAddress(Buffer.alloc(31))).toThrow(expect.objectContaining({ reason: "bad-key" }));
  });
});

describe("host names", () => {
  it("tells our network's names from Tor's and from the rest", () => {
    expect(isMeowHostName(`${vectorAddress}.meow`)).toBe(true);
    expect(isMeowHostName("ANYTHING.MEOW")).toBe(true);
    expect(isMeowHostName(`${vectorAddress}.onion`)).toBe(false);
    expect(isMeowHostName("meow.example.com")).toBe(false);
    expect(isMeowHostName("homeow")).toBe(false);
    expect(isTorOnionHostName(`${vectorAddress}.onion`)).toBe(true);
    expect(isTorOnionHostName("www.Example.ONION")).toBe(true);
    expect(isTorOnionHostName(`${vectorAddress}.meow`)).toBe(false);
    expect(isTorOnionHostName("onion.example.com")).toBe(false);
  });
});
