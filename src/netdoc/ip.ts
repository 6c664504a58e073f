/**
 * IP address text as the specification wants it: IPv4 as a strict dotted quad, IPv6 as
 * RFC 5952 text without brackets, CIDR prefixes for exit policies. Addresses are handled as
 * bigints so IPv4 and IPv6 share one range arithmetic.
 */
import net from "node:net";

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  value: bigint;
}

/** An address range [low, high] of one family (what a CIDR prefix or "*" covers). */
export interface IpRange {
  family: IpFamily;
  low: bigint;
  high: bigint;
}

const ADDRESS_BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };
export const WHOLE_FAMILY: Record<IpFamily, IpRange> = {
  4: { family: 4, low: 0n, high: (1n << 32n) - 1n },
  6: { family: 6, low: 0n, high: (1n << 128n) - 1n },
};

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** Strict dotted quad (no leading zeros, which some parsers read as octal). */
export function parseIpv4(text: string): bigint | undefined {
  const m = DOTTED_QUAD.exec(text);
  if (m === null) return undefined;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** Any IPv6 text Node accepts (no zone id), as a 128-bit value. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.includes("%") || !net.isIPv6(text)) return undefined;
  let hex = text;
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  if (tail.includes(".")) {
    // An embedded IPv4 tail ("::ffff:192.0.2.1") stands for the last two groups.
    const v4 = parseIpv4(tail);
    if (v4 === undefined) return undefined;
    hex = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = hex.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => BigInt(parseInt(g, 16))));
  const left = groups(halves[0]);
  const right = halves.length === 2 ? groups(halves[1]) : [];
  const zeros = 8 - left.length - right.length;
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) return undefined;
  let value = 0n;
  for (const g of [...left, ...new Array<bigint>(zeros).fill(0n), ...right]) value = (value << 16n) | g;
  return value;
}

/** RFC 5952 canonical text: lowercase, no leading zeros, the longest zero run (≥ 2) as "::". */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // IPv4-mapped addresses keep the dotted tail (RFC 5952 section 5).
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(value & 0xffffffffn)}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

export function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn)).join(".");
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIpv6(text);
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

/** Why a relay's IPv4 address is unusable, or undefined if it is fine. */
export function ipv4AddressProblem(text: string): string | undefined {
  const value = parseIpv4(text);
  if (value === undefined) return `ipv4_address ${JSON.stringify(text.slice(0, 64))} is not a dotted quad`;
  if (value >> 24n === 0n) return `ipv4_address ${text} is unspecified (0.0.0.0/8)`;
  if (value >> 28n === 0xen) return `ipv4_address ${text} is multicast`;
  if (value === 0xffffffffn) return `ipv4_address ${text} is the broadcast address`;
  return undefined;
}

/** Why a relay's IPv6 address is unusable, or undefined if it is fine. */
export function ipv6AddressProblem(text: string): string | undefined {
  const value = parseIpv6(text);
  if (value === undefined) return `ipv6_address ${JSON.stringify(text.slice(0, 64))} is not an IPv6 address`;
  const canonical = formatIpv6(value);
  if (canonical !== text) return `ipv6_address ${text} is not RFC 5952 text (write ${canonical})`;
  if (value === 0n) return "ipv6_address :: is unspecified";
  if (value >> 120n === 0xffn) return `ipv6_address ${text} is multicast`;
  return undefined;
}

/**
 * A CIDR prefix ("10.0.0.0/8", "2001:db8::/32", a bare address = /32 or /128) as a range.
 * Host bits below the prefix length are ignored, as Tor does.
 */
export function parsePrefix(text: string): IpRange | undefined {
  const slash = text.indexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const bits = ADDRESS_BITS[address.family];
  let length = bits;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(lengthText)) return undefined;
    length = Number(lengthText);
    if (length > bits) return undefined;
  }
  const hostMask = (1n << BigInt(bits - length)) - 1n;
  const low = address.value & ~hostMask & WHOLE_FAMILY[address.family].high;
  return { family: address.family, low, high: low | hostMask };
}
