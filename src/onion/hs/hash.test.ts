import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HS_MAC_LEN, hsMac, int8, shake256, sha3 } from "./hash.js";

const vectors = JSON.parse(readFileSync(new URL("../../../conformance/vectors/hs-v3.json", import.meta.url), "utf8"));

describe("MAC (C tor's vectors)", () => {
  it.each(vectors.hs_mac as { key: string; msg: string; mac: string }[])("MAC($key, $msg)", ({ key, msg, mac }) => {
    expect(hsMac(Buffer.from(key), msg).toString("hex")).toBe(mac);
  });

  it("is H(INT_8(len k) | k | m), so moving a byte from key to message changes it", () => {
    const direct = createHash("sha3-256").update(Buffer.from("00000000000000056b65796b65", "hex")).update("message").digest();
    expect(hsMac(Buffer.from("keyke"), "message")).toEqual(direct);
    expect(hsMac(Buffer.from("keyk"), "emessage")).not.toEqual(direct);
    expect(hsMac(Buffer.alloc(0))).toEqual(createHash("sha3-256").update(Buffer.alloc(8)).digest());
    expect(direct.length).toBe(HS_MAC_LEN);
  });
});

describe("H and KDF", () => {
  it("join their parts: strings as ASCII", () => {
    expect(sha3("ab", Buffer.from("c"))).toEqual(createHash("sha3-256").update("abc").digest());
    expect(shake256(80, "ab", Buffer.from("c"))).toEqual(createHash("shake256", { outputLength: 80 }).update("abc").digest());
    expect(shake256(80, "abc").subarray(0, 32)).toEqual(shake256(32, "abc"));
  });
});

describe("INT_8", () => {
  it("is 8 bytes big-endian", () => {
    expect(int8(0).toString("hex")).toBe("0000000000000000");
    expect(int8(1440).toString("hex")).toBe("00000000000005a0");
    expect(int8(2n ** 64n - 1n).toString("hex")).toBe("ffffffffffffffff");
    expect(int8(Number.MAX_SAFE_INTEGER).toString("hex")).toBe("001fffffffffffff");
  });

  it("refuses what 8 unsigned bytes cannot hold exactly", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, -1n, 2n ** 64n]) {
      expect(() => int8(bad)).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
    }
  });
});
