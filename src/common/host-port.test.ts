import { describe, expect, it } from "vitest";
import { formatHostPort, parseHostPort } from "./host-port.js";

describe("HOST:PORT", () => {
  it("parses names, IPv4 and bracketed IPv6, ports 0..65535", () => {
    expect(parseHostPort("127.0.0.1:9050")).toEqual({ host: "127.0.0.1", port: 9050 });
    expect(parseHostPort("[::1]:80")).toEqual({ host: "::1", port: 80 });
    expect(parseHostPort("localhost:0")).toEqual({ host: "localhost", port: 0 });
    for (const bad of ["nope", "::1:80", "host:65536", "host:", ":80", "a b:1"]) {
      expect(() => parseHostPort(bad), bad).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
    }
  });

  it("formats IPv6 in brackets and round-trips", () => {
    expect(formatHostPort("2001:db8::1", 9001)).toBe("[2001:db8::1]:9001");
    expect(formatHostPort("203.0.113.5", 9001)).toBe("203.0.113.5:9001");
    for (const text of ["[2001:db8::1]:9001", "203.0.113.5:1", "example.org:443"]) {
      const { host, port } = parseHostPort(text);
      expect(formatHostPort(host, port)).toBe(text);
    }
  });
});
