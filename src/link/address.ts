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
