/** "HOST:PORT" text, one home: "203.0.113.5:9001", "[2001:db8::1]:9001", "localhost:80". */
import { isIPv6 } from "node:net";
import { MeowOnionError } from "../onion/errors.js";

/** Parses "HOST:PORT" or "[IPv6]:PORT" with a port of 0..65535; throws "invalid-argument" otherwise. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) throw new MeowOnionError("invalid-argument", `${JSON.stringify(text)} is not HOST:PORT (port 0-65535)`);
  return { host: m[1] ?? m[2], port };
}

/** "host:port", an IPv6 address in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
