/**
 * Exit policy text form, validation, first-match evaluation and the Exit-flag question, plus
 * the IP text rules they rest on.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ExitPolicyError,
  exitPolicyAcceptsAny,
  exitPolicyAllows,
  exitPolicyAllowsAddress,
  formatExitPolicy,
  parseExitPolicy,
} from "./exit-policy.js";
import { formatIpv6, ipv4AddressProblem, ipv6AddressProblem, parseIpv6, parsePrefix } from "./ip.js";

describe("parseExitPolicy / formatExitPolicy", () => {
  it("parses the documented forms", () => {
    const p = parseExitPolicy("accept 127.0.0.0/8:1-65535,reject *:*");
    expect(p.rules).toHaveLength(2);
    expect(formatExitPolicy(p)).toBe("accept 127.0.0.0/8:*,reject *:*");
    const two = parseExitPolicy("accept *:80,443");
    expect(two.rules.map((r) => [r.addressPrefix, r.portMin, r.portMax])).toEqual([
      ["*", 80, 80],
      ["*", 443, 443],
    ]);
    const v6 = parseExitPolicy("accept [2001:db8::]/32:22,reject [::1]:*");
    expect(v6.rules.map((r) => r.addressPrefix)).toEqual(["2001:db8::/32", "::1"]);
    expect(formatExitPolicy(v6)).toBe("accept [2001:db8::]/32:22,reject [::1]:*");
    expect(formatExitPolicy(parseExitPolicy(""))).toBe("reject *:*");
  });

  it.each(["allow *:80", "accept *", "accept *:0", "accept *:80-79", "accept 300.1.1.1:80", "accept 10.0.0.0/33:80", "443", "accept *:70000"])(
    "refuses %j",
    (text) => {
      expect(() => parseExitPolicy(text)).toThrow(ExitPolicyError);
    },
  );

  it("refuses more than 256 rules", () => {
    expect(() => parseExitPolicy(Array.from({ length: 257 }, (_, i) => `accept *:${i + 1}`).join(","))).toThrow(/at most 256/);
  });

  it("round-trips through text", () => {
    const rule = fc.record({
      action: fc.constantFrom("accept", "reject"),
      address: fc.constantFrom("*", "10.0.0.0/8", "192.0.2.7", "[2001:db8::]/32", "[::1]"),
      ports: fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 100 })),
    });
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 8 }), (rules) => {
        const text = rules.map((r) => `${r.action} ${r.address}:${r.ports[0]}-${Math.min(65535, r.ports[0] + r.ports[1])}`).join(",");
        const policy = parseExitPolicy(text);
        expect(parseExitPolicy(formatExitPolicy(policy))).toEqual(policy);
      }),
    );
  });
});

describe("exitPolicyAllows", () => {
  const p = parseExitPolicy("reject 127.0.0.2:*,accept 127.0.0.0/8:1-1024,accept [::1]:80,reject *:*");

  it("applies the first matching rule", () => {
    expect(exitPolicyAllows(p, "127.0.0.1", 80)).toBe(true);
    expect(exitPolicyAllows(p, "127.0.0.2", 80)).toBe(false);
    expect(exitPolicyAllows(p, "127.0.0.1", 1025)).toBe(false);
    expect(exitPolicyAllows(p, "10.0.0.1", 80)).toBe(false);
    expect(exitPolicyAllows(p, "::1", 80)).toBe(true);
    expect(exitPolicyAllows(p, "::1", 81)).toBe(false);
  });

  it("rejects when nothing matches, for bad input and for an empty policy", () => {
    expect(exitPolicyAllows(parseExitPolicy("accept 10.0.0.0/8:80"), "11.0.0.1", 80)).toBe(false);
    expect(exitPolicyAllows(p, "not-an-ip", 80)).toBe(false);
    expect(exitPolicyAllows(p, "127.0.0.1", 0)).toBe(false);
    expect(exitPolicyAllows(undefined, "127.0.0.1", 80)).toBe(false);
  });

  it("answers for an unknown address (a hostname) whether some address is allowed on the port", () => {
    expect(exitPolicyAllows(p, undefined, 80)).toBe(true);
    expect(exitPolicyAllows(p, undefined, 2000)).toBe(false);
  });
});

describe("exitPolicyAcceptsAny (the Exit flag)", () => {
  it.each([
    ["accept *:80", true],
    ["accept 127.0.0.0/8:1-65535,reject *:*", true],
    ["reject *:*", false],
    ["", false],
    ["reject *:*,accept *:80", false],
    // Shadowed by the union of two earlier rules, not by any single one.
    ["reject 0.0.0.0/1:*,reject 128.0.0.0/1:*,accept 10.0.0.0/8:80", false],
    ["reject *:1-100,reject *:101-65535,accept *:80", false],
    ["reject *:1-79,reject *:81-65535,accept *:80", true],
    ["reject 10.0.0.0/9:*,accept 10.0.0.0/8:443", true],
  ])("%j → %s", (text, expected) => {
    expect(exitPolicyAcceptsAny(parseExitPolicy(text))).toBe(expected);
  });

  it("agrees with brute force on small policies", () => {
    // Addresses 10.0.0.0-10.0.0.7, ports 1-8: small enough to enumerate every point.
    const rule = fc.record({
      accept: fc.boolean(),
      prefix: fc.constantFrom("10.0.0.0/29", "10.0.0.0/30", "10.0.0.4/30", "10.0.0.3", "10.0.0.6/31"),
      lo: fc.integer({ min: 1, max: 8 }),
      len: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 6 }), (rules) => {
        const text = [...rules.map((r) => `${r.accept ? "accept" : "reject"} ${r.prefix}:${r.lo}-${Math.min(8, r.lo + r.len)}`), "reject *:*"].join(",");
        const policy = parseExitPolicy(text);
        let brute = false;
        for (let a = 0; a < 8 && !brute; a++) for (let port = 1; port <= 8 && !brute; port++) brute = exitPolicyAllows(policy, `10.0.0.${a}`, port);
        expect(exitPolicyAcceptsAny(policy)).toBe(brute);
      }),
      { numRuns: 300 },
    );
  });
});

describe("exitPolicyAllowsAddress (what RESOLVE may answer)", () => {
  it("is true when some port is allowed for that address", () => {
    const loopback = parseExitPolicy("accept 127.0.0.0/8:*,reject *:*");
    expect(exitPolicyAllowsAddress(loopback, "127.0.0.1")).toBe(true);
    expect(exitPolicyAllowsAddress(loopback, "93.184.216.34")).toBe(false);
    expect(exitPolicyAllowsAddress(loopback, "not an address")).toBe(false);
    const web = parseExitPolicy("reject 10.0.0.0/8:80,accept *:80,reject *:*");
    expect(exitPolicyAllowsAddress(web, "10.1.2.3")).toBe(false);
    expect(exitPolicyAllowsAddress(web, "192.0.2.1")).toBe(true);
    expect(exitPolicyAllowsAddress(web, "::1")).toBe(true);
  });

  it("agrees with brute force over the ports (addresses 10.0.0.0-7, ports 1-8)", () => {
    const rule = fc.record({
      accept: fc.boolean(),
      prefix: fc.constantFrom("10.0.0.0/29", "10.0.0.0/30", "10.0.0.4/30", "10.0.0.3", "10.0.0.6/31"),
      lo: fc.integer({ min: 1, max: 8 }),
      len: fc.integer({ min: 0, max: 7 }),
    });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 6 }), fc.integer({ min: 0, max: 7 }), (rules, a) => {
        const text = [...rules.map((r) => `${r.accept ? "accept" : "reject"} ${r.prefix}:${r.lo}-${Math.min(8, r.lo + r.len)}`), "reject *:*"].join(",");
        const policy = parseExitPolicy(text);
        let brute = false;
        for (let port = 1; port <= 8 && !brute; port++) brute = exitPolicyAllows(policy, `10.0.0.${a}`, port);
        expect(exitPolicyAllowsAddress(policy, `10.0.0.${a}`)).toBe(brute);
      }),
      { numRuns: 300 },
    );
  });
});

describe("IP text", () => {
  it("checks relay addresses", () => {
    expect(ipv4AddressProblem("127.0.0.1")).toBeUndefined();
    expect(ipv4AddressProblem("0.0.0.0")).toMatch(/unspecified/);
    expect(ipv4AddressProblem("239.1.2.3")).toMatch(/multicast/);
    expect(ipv4AddressProblem("255.255.255.255")).toMatch(/broadcast/);
    expect(ipv4AddressProblem("010.0.0.1")).toMatch(/dotted quad/);
    expect(ipv6AddressProblem("2001:db8::1")).toBeUndefined();
    expect(ipv6AddressProblem("2001:0db8::1")).toMatch(/RFC 5952.*2001:db8::1/);
    expect(ipv6AddressProblem("::")).toMatch(/unspecified/);
    expect(ipv6AddressProblem("ff02::1")).toMatch(/multicast/);
    expect(ipv6AddressProblem("fe80::1%eth0")).toMatch(/not an IPv6/);
  });

  it("formats IPv6 per RFC 5952 and parses it back", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
        expect(parseIpv6(formatIpv6(value))).toBe(value);
      }),
    );
    expect(formatIpv6(parseIpv6("2001:db8:0:0:1:0:0:1")!)).toBe("2001:db8::1:0:0:1");
    expect(formatIpv6(parseIpv6("::ffff:192.0.2.1")!)).toBe("::ffff:192.0.2.1");
  });

  it("parses prefixes, ignoring host bits", () => {
    expect(parsePrefix("10.1.2.3/8")).toEqual({ family: 4, low: 0x0a000000n, high: 0x0affffffn });
    expect(parsePrefix("1.2.3.4/33")).toBeUndefined();
    expect(parsePrefix("::/0")?.high).toBe((1n << 128n) - 1n);
  });
});
