/**
 * The self-test's deliberately faulty implementations. Each breaks exactly one rule of the spec,
 * either in the suite's reference directory/relay (conformance/lib/ref, never shipped) or in the
 * reference vector checker. The clean reference ("reference") must pass everything.
 */
import type { DirectoryFaults } from "../lib/ref/directory.js";
import type { RelayFaults } from "../lib/ref/relay.js";
import type { OnionServiceFaults } from "../lib/onion-service.js";

export interface Mutant {
  name: string;
  /** What is broken, one line. */
  breaks: string;
  directory?: DirectoryFaults;
  relay?: RelayFaults;
  /** Faults of the onion services the reference's AddOnionService runs. */
  service?: OnionServiceFaults;
  /** Fault flag for the reference vector checker. */
  vector?: string;
  /** Restrict the self-test run to these test globs (speed); the whole suite if absent. */
  focus?: string[];
  /** A man-in-the-middle front (mutants/mitm.ts) put before MeowOnion's real processes. */
  front?: "relay-tls-terminator" | "proxy-bind-success" | "proxy-corrupt-data" | "dir-resign-consensus" | "dir-accept-replayed-heartbeat";
}

export const MUTANTS: Mutant[] = [
  // ---- directories
  { name: "dir-skips-signature-check", breaks: "directory accepts descriptors whose signature does not verify", directory: { skipDescriptorSignature: true }, focus: ["directory/**"] },
  { name: "dir-accepts-replayed-heartbeat", breaks: "directory accepts a heartbeat nonce twice", directory: { acceptReplayedHeartbeat: true }, focus: ["directory/**"] },
  { name: "dir-accepts-stale-heartbeat", breaks: "directory accepts heartbeats with sent_at far from its clock", directory: { acceptStaleHeartbeat: true }, focus: ["directory/**"] },
  { name: "dir-signs-with-wrong-key", breaks: "directory signs the consensus with a key other than the one it announces", directory: { wrongConsensusKey: true }, focus: ["directory/**"] },
  { name: "dir-lists-unreachable", breaks: "directory lists relays without testing reachability and link identity", directory: { listUnreachable: true }, focus: ["directory/**"] },
  { name: "dir-unsorted-consensus", breaks: "directory does not sort consensus relays by identity key", directory: { unsortedConsensus: true }, focus: ["directory/**"] },
  { name: "dir-wrong-validity", breaks: "directory sets valid_until = valid_after + 1 interval", directory: { badValidity: true }, focus: ["directory/**"] },
  { name: "dir-accepts-future-descriptor", breaks: "directory accepts descriptors published far in the future", directory: { acceptFuturePublished: true }, focus: ["directory/**"] },
  { name: "dir-accepts-older-descriptor", breaks: "directory lets an older descriptor replace a newer one", directory: { acceptOlderDescriptor: true }, focus: ["directory/**"] },
  { name: "dir-no-reflection", breaks: "directory does not serve gRPC reflection", directory: { noReflection: true }, focus: ["directory/**"] },
  { name: "dir-skips-address-check", breaks: "directory accepts descriptors with invalid addresses and ports", directory: { skipAddressCheck: true }, focus: ["directory/**"] },
  // ---- relays
  { name: "relay-digest-not-zeroed", breaks: "relay hashes relay cells without zeroing the digest field", relay: { noZeroDigest: true }, focus: ["relay/**"] },
  { name: "relay-never-sends-sendme", breaks: "relay never sends SENDMEs as a DATA receiver", relay: { neverSendSendme: true }, focus: ["relay/**"] },
  { name: "relay-ignores-windows", breaks: "exit sends DATA regardless of package windows", relay: { ignoreWindows: true }, focus: ["relay/**"] },
  { name: "relay-accepts-9th-relay-early", breaks: "relay has no RELAY_EARLY limit", relay: { acceptNinthRelayEarly: true }, focus: ["relay/**"] },
  { name: "relay-extends-to-itself", breaks: "relay carries out EXTEND2 to its own identity", relay: { extendToSelf: true }, focus: ["relay/**"] },
  { name: "relay-bad-link-proof", breaks: "relay signs its link proof over the wrong TLS exporter label", relay: { badLinkProof: true }, focus: ["relay/**", "directory/consensus/target-relays-listed"] },
  { name: "relay-leaks-across-circuits", breaks: "exit keys streams by stream id only, across circuits", relay: { leakAcrossCircuits: true }, focus: ["relay/**"] },
  { name: "relay-ignores-destroy", breaks: "relay ignores DESTROY from the client (streams stay open)", relay: { ignoreDestroy: true }, focus: ["relay/**"] },
  { name: "relay-reuses-noncanonical-link", breaks: "relay extends over any open link to the identity, whatever address EXTEND2 names", relay: { reuseAnyLinkToIdentity: true }, focus: ["relay/extend/**"] },
  { name: "relay-destroys-on-extension-failure", breaks: "a failed extension destroys the circuit instead of answering TRUNCATED and keeping it", relay: { destroyOnExtensionFailure: true }, focus: ["relay/extend/**"] },
  { name: "relay-no-extend-identity-check", breaks: "relay extends without checking the next hop's link identity", relay: { noExtendIdentityCheck: true }, focus: ["relay/**"] },
  { name: "relay-accepts-unauthenticated-link", breaks: "relay does not verify an initiator's link proof", relay: { noInitiatorProofCheck: true }, focus: ["relay/**"] },
  { name: "relay-silent-unknown-circuit", breaks: "relay does not answer cells on unknown circuits with DESTROY", relay: { silentUnknownCircuit: true }, focus: ["relay/**"] },
  { name: "relay-tolerates-bad-frames", breaks: "relay skips oversized/undecodable frames instead of closing the link", relay: { tolerateBadFrames: true }, focus: ["relay/**"] },
  { name: "relay-drops-unrecognized", breaks: "last hop silently drops unrecognized cells (flipped bits do not kill the circuit)", relay: { dropUnrecognized: true }, focus: ["relay/**"] },
  { name: "relay-accepts-window-overflow", breaks: "relay accepts SENDMEs that push windows above their initial value", relay: { acceptWindowOverflow: true }, focus: ["relay/**"] },
  { name: "relay-cc-ignores-xoff", breaks: "under congestion control the exit keeps sending on a stream after XOFF", relay: { ccIgnoresXoff: true }, focus: ["relay/cc/**"] },
  { name: "relay-cc-big-initial-window", breaks: "under congestion control the exit starts with 1000 cells in flight, not CWND_INIT = 124", relay: { ccBigInitialWindow: true }, focus: ["relay/cc/**"] },
  { name: "relay-cc-sendme-every-100", breaks: "under congestion control the exit sends circuit SENDMEs every 100 DATA cells, not 31", relay: { ccSendmeEvery100: true }, focus: ["relay/cc/**"] },
  { name: "relay-cc-stream-sendmes", breaks: "under congestion control the exit still sends and accepts stream SENDMEs", relay: { ccStreamSendmes: true }, focus: ["relay/cc/**"] },
  { name: "relay-cc-accepts-late-request", breaks: "the exit adopts congestion control after a stream was opened", relay: { ccAcceptsLateRequest: true }, focus: ["relay/cc/**"] },
  // ---- onion services: the consensus, HSDirs, intro and rendezvous points, the reference's services
  { name: "dir-hsdir-flag-without-feature", breaks: "directory gives HSDIR to relays that do not offer RELAY_FEATURE_HSDIR", directory: { hsDirFlagWithoutFeature: true }, focus: ["onion/consensus/**"] },
  { name: "dir-shared-random-wrong-period", breaks: "consensus shared_random.period is not the period of valid_after", directory: { wrongSharedRandomPeriod: true }, focus: ["onion/consensus/**"] },
  { name: "hsdir-accepts-lower-revision", breaks: "HSDir lets an equal or lower revision replace the stored descriptor", relay: { hsDirAcceptsLowerRevision: true }, focus: ["onion/hsdir/**"] },
  { name: "hsdir-serves-stale-revision", breaks: "HSDir answers OK to a higher revision but keeps serving the first one", relay: { hsDirServesFirstRevision: true }, focus: ["onion/hsdir/**"] },
  { name: "hsdir-skips-signature-check", breaks: "HSDir stores descriptors signed by the unblinded key or with a bad signature", relay: { hsDirSkipsSignature: true }, focus: ["onion/hsdir/**"] },
  { name: "hsdir-accepts-expired", breaks: "HSDir stores and serves expired descriptors", relay: { hsDirAcceptsExpired: true }, focus: ["onion/hsdir/**"] },
  { name: "intro-skips-circuit-mac", breaks: "intro point accepts an ESTABLISH_INTRO whose MAC is for another circuit (a replay)", relay: { introSkipsCircuitMac: true }, focus: ["onion/intro/**"] },
  { name: "intro-skips-signature-check", breaks: "intro point accepts an ESTABLISH_INTRO whose signature does not verify", relay: { introSkipsSignature: true }, focus: ["onion/intro/**"] },
  { name: "intro-forwards-unknown-auth-key", breaks: "intro point relays INTRODUCE1 for an unknown auth key to another service", relay: { introForwardsUnknownKey: true }, focus: ["onion/intro/**"] },
  { name: "intro-no-rate-limit", breaks: "intro point ignores the intro circuit's introduce_rate / introduce_burst", relay: { introNoRateLimit: true }, focus: ["onion/intro/**"] },
  { name: "rend-accepts-duplicate-cookie", breaks: "rendezvous point lets a second circuit take a cookie already waiting", relay: { rendAcceptsDuplicateCookie: true }, focus: ["onion/rendezvous/**"] },
  { name: "rend-joins-cookie-twice", breaks: "rendezvous point joins a cookie again on a second RENDEZVOUS1", relay: { rendJoinsCookieTwice: true }, focus: ["onion/rendezvous/**"] },
  { name: "rend-alters-handshake-info", breaks: "rendezvous point relays RENDEZVOUS1's handshake_info with one byte changed", relay: { rendAltersHandshakeInfo: true }, focus: ["onion/rendezvous/**", "onion/service/reachable"] },
  { name: "rend-keeps-other-half", breaks: "rendezvous point keeps the client's circuit when the service's joined circuit is destroyed", relay: { rendKeepsOtherHalf: true }, focus: ["onion/rendezvous/**"] },
  { name: "service-bad-auth-mac", breaks: "onion service answers RENDEZVOUS1 with a wrong AUTH_INPUT_MAC (hs-ntor)", service: { badAuthMac: true }, focus: ["onion/service/**"] },
  { name: "service-signs-with-identity-key", breaks: "onion service signs its descriptor with its identity key, not the blinded key", service: { signWithIdentityKey: true }, focus: ["onion/service/**"] },
  { name: "service-blinds-for-wrong-period", breaks: "onion service blinds its key for the next period, not the consensus's: its (validly signed) descriptor is where no client looks", service: { blindForNextPeriod: true }, focus: ["onion/service/reachable"] },
  { name: "service-no-stream-limit", breaks: "onion service serves more than 256 streams at once on one rendezvous circuit", service: { noStreamLimit: true }, focus: ["onion/service/stream-limit"] },
  { name: "service-no-replay-cache", breaks: "onion service answers a replayed INTRODUCE2", service: { noReplayCache: true }, focus: ["onion/service/**"] },
  // ---- vector checkers
  { name: "vectors-digest-not-zeroed", breaks: "client tor1 digest computed with the digest field not zeroed", vector: "no-zero-digest", focus: ["vectors/**"] },
  { name: "vectors-ntor-no-auth-check", breaks: "ntor client derives keys without checking AUTH", vector: "ntor-no-auth-check", focus: ["vectors/**"] },
  { name: "vectors-frame-no-size-limit", breaks: "frame decoder has no MAX_FRAME_SIZE", vector: "frame-no-size-limit", focus: ["vectors/**"] },
  { name: "vectors-sign-without-domain", breaks: "signatures made over the bytes without the domain prefix", vector: "sign-no-domain", focus: ["vectors/**"] },
  // ---- fronts before MeowOnion's own processes (src/cli.ts), one fault each
  { name: "ours-relay-behind-tls-mitm", breaks: "a TLS-terminating middlebox before a real relay (its proof is bound to another TLS session)", front: "relay-tls-terminator", focus: ["relay/link/**", "relay/circuit/create2"] },
  { name: "ours-proxy-bind-success", breaks: "a front before the real proxy answers SOCKS5 BIND with success", front: "proxy-bind-success", focus: ["client/**"] },
  { name: "ours-proxy-corrupts-data", breaks: "a front before the real proxy flips one byte of tunnel data", front: "proxy-corrupt-data", focus: ["client/**"] },
  { name: "ours-dir-resigned-consensus", breaks: "a front before the real directory re-signs the consensus with another key", front: "dir-resign-consensus", focus: ["directory/consensus/signature", "directory/consensus/watch", "directory/transport/**"] },
  { name: "ours-dir-accepts-replayed-heartbeat", breaks: "a front before the real directory turns ALREADY_EXISTS for replayed heartbeats into OK", front: "dir-accept-replayed-heartbeat", focus: ["directory/heartbeat/**"] },
];

export function findMutant(name: string): Mutant | undefined {
  return MUTANTS.find((m) => m.name === name);
}
