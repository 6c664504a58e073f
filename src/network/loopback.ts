/**
 * Addresses for a local network. On Linux all of 127.0.0.0/8 is loopback, so every relay gets
 * an address of its own, as across the Internet: the authorities' per-address limits
 * (connections, refusal budget) count each relay separately, clients' rule against two relays
 * of one /16 in a circuit applies (no --allow-same-subnet), and a relay's links to other relays
 * come from its own address. docs/network.md has the table.
 *
 *   127.0.0.1      the user's side: SOCKS and control ports, the destination, onion services
 *   127.0.1.N      authority N (1, 2, …)
 *   127.A.B.1      relay i (0, 1, …): A = 1 + (i mod 254), B = floor(i / 254)
 *
 * Relays 0–253 each have a /16 of their own (127.1/16 … 127.254/16); from relay 254 on they
 * share them, relay i with relays i ± 254, … (several relays of one hosting provider), never
 * a /24. Systems where only 127.0.0.1 is configured (macOS without `ifconfig lo0 alias`) get
 * everything on 127.0.0.1 and circuits that allow one /16 (see loopbackAliasesWork).
 */
import net from "node:net";

const SUBNETS = 254;
/** Relays that fit the scheme (B is one byte). */
export const MAX_LOCAL_RELAYS = SUBNETS * 256;
const PROBE_ADDRESS = "127.1.0.1";

export const CLIENT_ADDRESS = "127.0.0.1";

export function authorityAddress(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`authority number ${n} is outside 1..254`);
  return `127.0.1.${n}`;
}

export function relayAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_LOCAL_RELAYS) throw new Error(`relay index ${i} is outside 0..${MAX_LOCAL_RELAYS - 1}`);
  return `127.${1 + (i % SUBNETS)}.${Math.floor(i / SUBNETS)}.1`;
}

/** True if this system accepts listening on 127.x.y.z beyond 127.0.0.1 (Linux does). */
export async function loopbackAliasesWork(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(0, PROBE_ADDRESS, () => server.close(() => resolve(true)));
  });
}
