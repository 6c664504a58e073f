import { describe, expect, it } from "vitest";
import { isValidBeginHost } from "./stream-target.js";

describe("isValidBeginHost", () => {
  it("takes IP literals and DNS names of dot-joined labels", () => {
    for (const host of ["127.0.0.1", "::1", "2001:db8::1", "localhost", "example.com", "example.com.", "a-b.c-d.e", "x".repeat(255)]) {
      expect(isValidBeginHost(host), host).toBe(true);
    }
  });

  it("refuses empty labels, other characters, and names over 255 bytes", () => {
    for (const host of ["", "a..b", ".a", "a.b..", "..", "a b", "a_b", "[::1]", "exämple.com", "x".repeat(256), "a.".repeat(128)]) {
      expect(isValidBeginHost(host), host).toBe(false);
    }
  });
});
