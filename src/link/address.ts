/**
 * EXTEND2 address link specifiers: an IP literal and port, "203.0.113.5:9001" or
 * "[2001:db8::1]:9001" (relay.proto LinkSpecifier). Hostnames are refused: a relay must not
 * be made to resolve names for extending.
 */
import net from "node:net";

export function parseLinkAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  const family = net.isIP(host);
  if (family === 0 || (match[1] !== undefined) !== (family === 6) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/**
 * One text per IP address, so that a link's remote address and an address named in EXTEND2 or
 * the consensus compare equal whenever they are the same address: an IPv4-mapped IPv6 address
 * (what a dual-stack listener reports) becomes its IPv4 form, IPv6 takes its RFC 5952 form.
 * Anything that is not an IP literal is returned as it is.
 */
export function canonicalIp(text: string): string {
  if (!net.isIPv6(text)) return text;
  const v6 = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped === null) return v6;
  const high = parseInt(mapped[1], 16);
  const low = parseInt(mapped[2], 16);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}
