/**
 * An in-process onion client built from the proxy's circuit layer (src/proxy/circuit.ts), for
 * tests that need to misbehave below SOCKS: stop reading a link, flood it, hold circuits.
 */
import type { Consensus, ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { type RelayTarget } from "../../src/proxy/circuit.js";
import type { Link } from "../../src/link/link.js";
import { ClientChannelManager } from "../../src/proxy/channels.js";

export function relayTargetOf(r: ConsensusRelay): RelayTarget {
  return { nickname: r.nickname, identityKey: r.identityKey, ntorOnionKey: r.ntorOnionKey, host: r.ipv4Address, port: r.orPort };
}

export function relayByIdentity(consensus: Consensus, identityHex: string): RelayTarget {
  const r = consensus.relays.find((x) => Buffer.from(x.identityKey).toString("hex") === identityHex);
  if (!r) throw new Error(`relay ${identityHex.slice(0, 8)} not in the consensus`);
  return relayTargetOf(r);
}

/** The TLS socket under a link (test-only access to a private field). */
export function socketOf(link: Link): import("node:tls").TLSSocket {
  return (link as unknown as { socket: import("node:tls").TLSSocket }).socket;
}

export { ClientChannelManager };
