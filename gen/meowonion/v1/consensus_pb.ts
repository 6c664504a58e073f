// MeowOnion consensus: the network view signed by the directory authorities.
//
// VALIDITY
//   A client uses a consensus only if (1) it carries valid signatures (see SignedConsensus)
//   from a majority, floor(n/2)+1, of the n authority keys the client has pinned, and
//   (2) now < valid_until. Between fresh_until and valid_until a client keeps using it but
//   tries to fetch a newer one. A consensus with valid_after older than the one a client
//   holds is ignored.
//
// HOW AUTHORITIES AGREE
//   Time is divided into voting periods of `interval` (default 60 s in test networks); the
//   period starting at valid_after = floor(now / interval) * interval is the current one.
//   Each authority publishes a signed Vote for the period (its own view: the descriptors it
//   holds and whether it found each relay Running), fetches its peers' votes with
//   DirectoryService.GetVote, and computes the consensus DETERMINISTICALLY from all votes it
//   has for that period, including its own:
//   - a relay is listed if a majority of the known authorities (counting those whose vote is
//     missing as "not Running") voted it Running;
//   - its descriptor is the most recently published one among those votes (ties: the
//     lowest SHA-256 of the SignedDescriptor bytes);
//   - flags and weights follow the rules in ConsensusRelay;
//   - relays are sorted by identity_key (bytewise ascending);
//   - valid_after = the period start, fresh_until = valid_after + interval,
//     valid_until = valid_after + 3 * interval.
//   Authorities with the same votes therefore produce identical consensus bytes; each signs
//   them and collects its peers' signatures over the same bytes with GetConsensusSignature.
//
//   REVISIONS. A view changes within a period (relays join, stop, are found Running), and an
//   authority votes again when it does; were a vote simply replaced, authorities fetching
//   each other's votes at slightly different moments would hold different sets and never
//   sign the same bytes while relays keep joining. So a period is divided into 10 revisions
//   of interval / 10 each: revision r (0..9) of the period starting at valid_after covers
//   [valid_after + r * interval / 10, valid_after + (r + 1) * interval / 10). An authority's
//   vote for (period, revision) is made the first time it is needed (for its own round or to
//   answer GetVote) and never changes afterwards; Vote.revision names it. A round computes
//   the consensus of one revision, the current one, from every authority's vote for that
//   revision, so authorities holding the same votes compute the same bytes however their
//   views moved meanwhile. An authority asked (GetConsensusSignature with a revision) to sign
//   a consensus of a revision it has not computed computes that revision's consensus at
//   once (fetching the votes it lacks) and signs it if the digest matches. Of the consensuses
//   of one period that carry a majority of signatures, the one of the highest revision is
//   published (a tie: the one computed last).
//
// PATH SELECTION (how a client uses the consensus; Tor's path-spec, simplified)
//   Candidates are relays with both RUNNING and VALID. A circuit of n hops (3 by default) is
//   chosen exit first, then entry, then n - 2 middles:
//   1. Exit: not BAD_EXIT, and its exit_policy allows the destination. For an IP literal,
//      the address and port must be accepted (descriptor.proto ExitPolicy, first match). For
//      a host name (resolved only by the exit) the exit qualifies if some address may be
//      reached on the port: there is an address whose first matching rule for that port is
//      an accept; the exit checks the resolved address itself (END EXITPOLICY). A circuit built ahead of any request prefers exits that may
//      reach port 80 or 443, else any relay whose policy accepts anything.
//   2. Entry: among relays with GUARD; while no candidate has GUARD (a fresh network: Guard
//      needs Stable, i.e. minutes of uptime), among those with FAST; while none is FAST, any
//      candidate. A client may keep a persistent set of entry guards chosen this way (it
//      SHOULD, against profiling) and use the first of them that fits. MeowOnion's proxy keeps
//      them as Tor's guard-spec (proposal 271: sampled, filtered, confirmed and primary guards,
//      retry schedules, circuits through non-primary guards waiting); docs/proxy.md.
//   3. Middles: any candidate.
//   Every choice is random with probability proportional to bandwidth_weight among the
//   candidates that fit; if their weights are all zero, uniform. A relay fits if it is not
//   already in the path, is not in one family with a chosen relay (each lists the other in
//   `family`; one relay naming another is not enough), and (a client option, on by default,
//   off for test networks on one host) shares neither an IPv4 /16 (of ipv4_address) nor an
//   IPv6 /32 (of ipv6_address, when set) with a chosen relay. If no entry or middle fits, the client tries
//   another exit; with no exit left, it fails. BandwidthTotals does not enter these choices
//   (no Tor-style position weights): it is informational, for checking and monitoring.
//   The randomness must come from a cryptographically secure generator.
//   Circuits of onion services (onion_service.proto) follow the same rules: a client's
//   circuits to an HSDir, an intro point or a rendezvous point have that relay as their last
//   hop (chosen by the protocol, or at random among candidates for a rendezvous point) instead
//   of an exit, and entry and middles as above; the family and subnet rules hold between
//   every two positions of these circuits too. A rendezvous point a client chooses, and the
//   intro points a service chooses, are chosen as exits are (among relays with
//   ONION_SERVICE_POINTS that fit with the entry); a service also avoids, while it can, an
//   intro point in one family or subnet with one of its other intro points. A circuit whose last hop the other side chose
//   (a client's to an intro point from the descriptor, a service's to the client's rendezvous
//   point) has one middle more, n + 1 hops (as Tor), so that the other side cannot pick a relay
//   next to one's entry guard: onion services need a network of at least n + 1 relays.
//
// SHARED RANDOMNESS (Tor's proposal 250, simplified)
//   Onion services place descriptors on HSDirs at positions that depend on a shared random
//   value (SRV) per time period (onion_service.proto), so that nobody can pick relay identities
//   that will be a given service's HSDirs before the period's SRV exists. Authorities make it:
//   - Each authority a has a secret reveal per period p, R_a(p) = MAC(its identity seed,
//     "meowonion-shared-random-reveal" | INT_8(p)) (onion_service.proto NOTATION: MAC over
//     SHA3-256, INT_8 big-endian): fixed by its key, so it cannot choose it, and known to no
//     one else until revealed.
//   - During period p every vote carries the authority's commitment to its next reveal,
//     commit = SHA3-256(R_a(p+1)); the consensus of every round of period p lists the commits
//     of the authorities whose votes it was computed from (SharedRandom.next_commits).
//   - During period p every vote also carries R_a(p) and what the authority saw as the
//     commits for p (the next_commits of the last consensus of period p-1 it holds) and the
//     SRV of p-1. The consensus takes, per authority, the commit a majority of the known
//     authorities report, and counts that authority's reveal if SHA3-256(reveal) equals it.
//   - SRV(p) = SHA3-256("meowonion-shared-random" | INT_8(p) | INT_1(n) | authority_key_1 |
//     reveal_1 | ... | authority_key_n | reveal_n | previous) over the n counted reveals by
//     authority key ascending, previous = SRV(p-1) as a majority of the votes report it (32
//     zero bytes if none). With no reveal counted, SRV(p) =
//     SHA3-256("meowonion-shared-random-disaster" | INT_8(p) | previous).
//   So an authority's reveal is fixed a period before it is shown; one that withholds it can
//   only choose between two values (as in Tor). A new network's first period has the disaster
//   value. Periods are those of onion services: Consensus.onion_service_params.
//
// CONSENSUS DIFFS (Tor's proposal 140, on protobuf fields instead of text lines)
//   A client that holds a consensus may get a newer one as a ConsensusDiff, which carries only
//   what changed (directory.proto: GetConsensusRequest.have, WatchConsensusRequest.accept_diffs).
//   A new period whose relays did not change costs a few hundred bytes instead of the whole
//   consensus (about 250 bytes per relay).
//   - UNITS. A serialized Consensus is split into its top-level fields in the order they occur
//     in the bytes: each unit is one field's complete encoding, i.e. its tag (a varint) and
//     then, by the tag's wire type, a varint (0), 8 bytes (1), a varint length and that many
//     bytes (2), or 4 bytes (5). So every ConsensusRelay (field 4) is one unit, every authority
//     key one unit, valid_after one unit. The serialized Consensus is the concatenation of its
//     units, numbered from 0. Bytes that do not split this way (a truncated field, wire type 3
//     or 4, a length past the end) are not a consensus a diff can apply to.
//   - APPLYING. Start with no bytes; for each op in order, append base units copy_start,
//     copy_start + 1, ..., copy_start + copy_count - 1 (nothing if copy_count is 0), then the op's
//     `insert` bytes. The result is the new serialized Consensus: its SHA-256 must equal
//     target_digest, and the client then checks SignedConsensus{consensus: result, signatures:
//     diff.signatures} exactly as a consensus received whole (VALIDITY: signatures by a majority
//     of its pinned keys, not expired). A diff is refused, and the client asks for the whole
//     consensus instead, if its base_digest is not the SHA-256 of a consensus the client holds,
//     a copy range runs past the base's last unit, it has more than 20,000 ops, its result
//     would be larger than the largest consensus the client accepts (MeowOnion: 128 MiB), or
//     the result's digest differs. Nothing in a diff is trusted before the result verifies.
//   - MAKING. Any ops that produce the target are valid; an authority should make small diffs.
//     MeowOnion's: each target unit that occurs in the base is copied (runs of consecutive base
//     units as one op), every other unit is inserted. Since relays are sorted by identity key,
//     a period in which k relays changed costs about k relay entries, three timestamps and the
//     signatures. A diff between identical consensuses (only the signatures changed) is one op
//     copying every unit.

// @generated by protoc-gen-es v2.13.0 with parameter "target=ts,import_extension=js"
// @generated from file meowonion/v1/consensus.proto (package meowonion.v1, syntax proto3)
/* eslint-disable */

import type { GenEnum, GenFile, GenMessage } from "@bufbuild/protobuf/codegenv2";
import { enumDesc, fileDesc, messageDesc } from "@bufbuild/protobuf/codegenv2";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { file_google_protobuf_timestamp } from "@bufbuild/protobuf/wkt";
import type { ExitPolicy, RelayFeature, SignedDescriptor } from "./descriptor_pb.js";
import { file_meowonion_v1_descriptor } from "./descriptor_pb.js";
import type { Message } from "@bufbuild/protobuf";

/**
 * Describes the file meowonion/v1/consensus.proto.
 */
export const file_meowonion_v1_consensus: GenFile = /*@__PURE__*/
  fileDesc("ChxtZW93b25pb24vdjEvY29uc2Vuc3VzLnByb3RvEgxtZW93b25pb24udjEihgMKDkNvbnNlbnN1c1JlbGF5EhAKCG5pY2tuYW1lGAEgASgJEhQKDGlkZW50aXR5X2tleRgCIAEoDBIWCg5udG9yX29uaW9uX2tleRgDIAEoDBIUCgxpcHY0X2FkZHJlc3MYBCABKAkSFAoMaXB2Nl9hZGRyZXNzGAUgASgJEg8KB29yX3BvcnQYBiABKA0SJgoFZmxhZ3MYByADKA4yFy5tZW93b25pb24udjEuUmVsYXlGbGFnEhgKEGJhbmR3aWR0aF93ZWlnaHQYCCABKAQSLQoLZXhpdF9wb2xpY3kYCSABKAsyGC5tZW93b25pb24udjEuRXhpdFBvbGljeRIOCgZmYW1pbHkYCiADKAwSGQoRZGVzY3JpcHRvcl9kaWdlc3QYCyABKAwSLQoJcHVibGlzaGVkGAwgASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBIsCghmZWF0dXJlcxgNIAMoDjIaLm1lb3dvbmlvbi52MS5SZWxheUZlYXR1cmUihgMKCUNvbnNlbnN1cxIvCgt2YWxpZF9hZnRlchgBIAEoCzIaLmdvb2dsZS5wcm90b2J1Zi5UaW1lc3RhbXASLwoLZnJlc2hfdW50aWwYAiABKAsyGi5nb29nbGUucHJvdG9idWYuVGltZXN0YW1wEi8KC3ZhbGlkX3VudGlsGAMgASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBIsCgZyZWxheXMYBCADKAsyHC5tZW93b25pb24udjEuQ29uc2Vuc3VzUmVsYXkSFgoOYXV0aG9yaXR5X2tleXMYBSADKAwSLQoGdG90YWxzGAYgASgLMh0ubWVvd29uaW9uLnYxLkJhbmR3aWR0aFRvdGFscxIxCg1zaGFyZWRfcmFuZG9tGAcgASgLMhoubWVvd29uaW9uLnYxLlNoYXJlZFJhbmRvbRI+ChRvbmlvbl9zZXJ2aWNlX3BhcmFtcxgIIAEoCzIgLm1lb3dvbmlvbi52MS5PbmlvblNlcnZpY2VQYXJhbXMidgoMU2hhcmVkUmFuZG9tEg4KBnBlcmlvZBgBIAEoBBIPCgdjdXJyZW50GAIgASgMEhAKCHByZXZpb3VzGAMgASgMEjMKDG5leHRfY29tbWl0cxgEIAMoCzIdLm1lb3dvbmlvbi52MS5BdXRob3JpdHlDb21taXQiOAoPQXV0aG9yaXR5Q29tbWl0EhUKDWF1dGhvcml0eV9rZXkYASABKAwSDgoGY29tbWl0GAIgASgMIlQKEk9uaW9uU2VydmljZVBhcmFtcxIdChVwZXJpb2RfbGVuZ3RoX21pbnV0ZXMYASABKA0SHwoXcm90YXRpb25fb2Zmc2V0X21pbnV0ZXMYAiABKA0iPQoPQmFuZHdpZHRoVG90YWxzEg0KBXRvdGFsGAEgASgEEg0KBWd1YXJkGAIgASgEEgwKBGV4aXQYAyABKAQiWgoPU2lnbmVkQ29uc2Vuc3VzEhEKCWNvbnNlbnN1cxgBIAEoDBI0CgpzaWduYXR1cmVzGAIgAygLMiAubWVvd29uaW9uLnYxLkF1dGhvcml0eVNpZ25hdHVyZSKdAQoNQ29uc2Vuc3VzRGlmZhITCgtiYXNlX2RpZ2VzdBgBIAEoDBIVCg10YXJnZXRfZGlnZXN0GAIgASgMEioKA29wcxgDIAMoCzIdLm1lb3dvbmlvbi52MS5Db25zZW5zdXNEaWZmT3ASNAoKc2lnbmF0dXJlcxgEIAMoCzIgLm1lb3dvbmlvbi52MS5BdXRob3JpdHlTaWduYXR1cmUiSQoPQ29uc2Vuc3VzRGlmZk9wEhIKCmNvcHlfc3RhcnQYASABKA0SEgoKY29weV9jb3VudBgCIAEoDRIOCgZpbnNlcnQYAyABKAwiPgoSQXV0aG9yaXR5U2lnbmF0dXJlEhUKDWF1dGhvcml0eV9rZXkYASABKAwSEQoJc2lnbmF0dXJlGAIgASgMIsABCgRWb3RlEi8KC3ZhbGlkX2FmdGVyGAEgASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBIVCg1hdXRob3JpdHlfa2V5GAIgASgMEicKBnJlbGF5cxgDIAMoCzIXLm1lb3dvbmlvbi52MS5Wb3RlUmVsYXkSNQoNc2hhcmVkX3JhbmRvbRgEIAEoCzIeLm1lb3dvbmlvbi52MS5TaGFyZWRSYW5kb21Wb3RlEhAKCHJldmlzaW9uGAUgASgNIo8BChBTaGFyZWRSYW5kb21Wb3RlEg4KBnBlcmlvZBgBIAEoBBIOCgZjb21taXQYAiABKAwSDgoGcmV2ZWFsGAMgASgMEjMKDHNlZW5fY29tbWl0cxgEIAMoCzIdLm1lb3dvbmlvbi52MS5BdXRob3JpdHlDb21taXQSFgoOcHJldmlvdXNfdmFsdWUYBSABKAwikAEKCVZvdGVSZWxheRIyCgpkZXNjcmlwdG9yGAEgASgLMh4ubWVvd29uaW9uLnYxLlNpZ25lZERlc2NyaXB0b3ISDwoHcnVubmluZxgCIAEoCBIWCg51cHRpbWVfc2Vjb25kcxgDIAEoBBImCh53ZWlnaHRlZF9mcmFjdGlvbmFsX3VwdGltZV9wcG0YBCABKA0iLQoKU2lnbmVkVm90ZRIMCgR2b3RlGAEgASgMEhEKCXNpZ25hdHVyZRgCIAEoDCrbAQoJUmVsYXlGbGFnEhoKFlJFTEFZX0ZMQUdfVU5TUEVDSUZJRUQQABIWChJSRUxBWV9GTEFHX1JVTk5JTkcQARIUChBSRUxBWV9GTEFHX1ZBTElEEAISEwoPUkVMQVlfRkxBR19GQVNUEAMSFQoRUkVMQVlfRkxBR19TVEFCTEUQBBIUChBSRUxBWV9GTEFHX0dVQVJEEAUSEwoPUkVMQVlfRkxBR19FWElUEAYSFwoTUkVMQVlfRkxBR19CQURfRVhJVBAHEhQKEFJFTEFZX0ZMQUdfSFNESVIQCGIGcHJvdG8z", [file_google_protobuf_timestamp, file_meowonion_v1_descriptor]);

/**
 * One relay in the consensus: everything a client needs to build circuits through it,
 * copied from its descriptor, plus the authorities' judgement.
 *
 * @generated from message meowonion.v1.ConsensusRelay
 */
export type ConsensusRelay = Message<"meowonion.v1.ConsensusRelay"> & {
  /**
   * @generated from field: string nickname = 1;
   */
  nickname: string;

  /**
   * Ed25519 identity key, 32 bytes; the consensus is sorted by this field.
   *
   * @generated from field: bytes identity_key = 2;
   */
  identityKey: Uint8Array;

  /**
   * ntor onion key, 32 bytes.
   *
   * @generated from field: bytes ntor_onion_key = 3;
   */
  ntorOnionKey: Uint8Array;

  /**
   * @generated from field: string ipv4_address = 4;
   */
  ipv4Address: string;

  /**
   * @generated from field: string ipv6_address = 5;
   */
  ipv6Address: string;

  /**
   * @generated from field: uint32 or_port = 6;
   */
  orPort: number;

  /**
   * Flags, ascending by number, no duplicates.
   *
   * @generated from field: repeated meowonion.v1.RelayFlag flags = 7;
   */
  flags: RelayFlag[];

  /**
   * Bandwidth weight for path selection, bytes per second: min(average, observed) from the
   * descriptor, where observed 0 (the relay has not yet seen itself carry traffic) counts as
   * 20,000 (20 KB/s, as Tor's cap for unmeasured relays: a relay is weighted by traffic it has
   * carried, not by what it claims), capped at 10 GB/s. Clients pick relays with probability
   * proportional to this weight among the candidates.
   *
   * @generated from field: uint64 bandwidth_weight = 8;
   */
  bandwidthWeight: bigint;

  /**
   * The relay's exit policy (copied from its descriptor).
   *
   * @generated from field: meowonion.v1.ExitPolicy exit_policy = 9;
   */
  exitPolicy?: ExitPolicy | undefined;

  /**
   * Family (identity keys), copied from the descriptor.
   *
   * @generated from field: repeated bytes family = 10;
   */
  family: Uint8Array[];

  /**
   * SHA-256 of the SignedDescriptor's `descriptor` bytes this entry was made from.
   *
   * @generated from field: bytes descriptor_digest = 11;
   */
  descriptorDigest: Uint8Array;

  /**
   * The descriptor's published time.
   *
   * @generated from field: google.protobuf.Timestamp published = 12;
   */
  published?: Timestamp | undefined;

  /**
   * The features of the descriptor, copied.
   *
   * @generated from field: repeated meowonion.v1.RelayFeature features = 13;
   */
  features: RelayFeature[];
};

/**
 * Describes the message meowonion.v1.ConsensusRelay.
 * Use `create(ConsensusRelaySchema)` to create a new message.
 */
export const ConsensusRelaySchema: GenMessage<ConsensusRelay> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 0);

/**
 * The network view for one voting period.
 *
 * @generated from message meowonion.v1.Consensus
 */
export type Consensus = Message<"meowonion.v1.Consensus"> & {
  /**
   * Start of the period this consensus is for.
   *
   * @generated from field: google.protobuf.Timestamp valid_after = 1;
   */
  validAfter?: Timestamp | undefined;

  /**
   * After this a newer consensus should exist (valid_after + interval).
   *
   * @generated from field: google.protobuf.Timestamp fresh_until = 2;
   */
  freshUntil?: Timestamp | undefined;

  /**
   * After this the consensus must not be used (valid_after + 3 * interval).
   *
   * @generated from field: google.protobuf.Timestamp valid_until = 3;
   */
  validUntil?: Timestamp | undefined;

  /**
   * Every listed relay, sorted by identity_key. At most 10,000 relays.
   *
   * @generated from field: repeated meowonion.v1.ConsensusRelay relays = 4;
   */
  relays: ConsensusRelay[];

  /**
   * Identity keys of all authorities the signers know (sorted), so that a client can see
   * which set of authorities produced it. At most 16.
   *
   * @generated from field: repeated bytes authority_keys = 5;
   */
  authorityKeys: Uint8Array[];

  /**
   * Sum of bandwidth_weight of all relays, per role, for path selection.
   *
   * @generated from field: meowonion.v1.BandwidthTotals totals = 6;
   */
  totals?: BandwidthTotals | undefined;

  /**
   * The shared random values (see SHARED RANDOMNESS).
   *
   * @generated from field: meowonion.v1.SharedRandom shared_random = 7;
   */
  sharedRandom?: SharedRandom | undefined;

  /**
   * Onion-service time periods for this network (onion_service.proto TIME PERIODS).
   *
   * @generated from field: meowonion.v1.OnionServiceParams onion_service_params = 8;
   */
  onionServiceParams?: OnionServiceParams | undefined;
};

/**
 * Describes the message meowonion.v1.Consensus.
 * Use `create(ConsensusSchema)` to create a new message.
 */
export const ConsensusSchema: GenMessage<Consensus> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 1);

/**
 * The network's shared random values.
 *
 * @generated from message meowonion.v1.SharedRandom
 */
export type SharedRandom = Message<"meowonion.v1.SharedRandom"> & {
  /**
   * The time period of `current`.
   *
   * @generated from field: uint64 period = 1;
   */
  period: bigint;

  /**
   * SRV(period), 32 bytes.
   *
   * @generated from field: bytes current = 2;
   */
  current: Uint8Array;

  /**
   * SRV(period - 1), 32 bytes.
   *
   * @generated from field: bytes previous = 3;
   */
  previous: Uint8Array;

  /**
   * The commits for period + 1 of the authorities whose votes made this consensus, by
   * authority key ascending.
   *
   * @generated from field: repeated meowonion.v1.AuthorityCommit next_commits = 4;
   */
  nextCommits: AuthorityCommit[];
};

/**
 * Describes the message meowonion.v1.SharedRandom.
 * Use `create(SharedRandomSchema)` to create a new message.
 */
export const SharedRandomSchema: GenMessage<SharedRandom> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 2);

/**
 * One authority's commitment to its next reveal.
 *
 * @generated from message meowonion.v1.AuthorityCommit
 */
export type AuthorityCommit = Message<"meowonion.v1.AuthorityCommit"> & {
  /**
   * 32 bytes.
   *
   * @generated from field: bytes authority_key = 1;
   */
  authorityKey: Uint8Array;

  /**
   * SHA3-256 of the reveal, 32 bytes.
   *
   * @generated from field: bytes commit = 2;
   */
  commit: Uint8Array;
};

/**
 * Describes the message meowonion.v1.AuthorityCommit.
 * Use `create(AuthorityCommitSchema)` to create a new message.
 */
export const AuthorityCommitSchema: GenMessage<AuthorityCommit> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 3);

/**
 * How onion-service time periods are counted on this network.
 *
 * @generated from message meowonion.v1.OnionServiceParams
 */
export type OnionServiceParams = Message<"meowonion.v1.OnionServiceParams"> & {
  /**
   * Minutes per period (Tor: 1440).
   *
   * @generated from field: uint32 period_length_minutes = 1;
   */
  periodLengthMinutes: number;

  /**
   * Minutes after the epoch, modulo the period, at which periods start (Tor: 720).
   *
   * @generated from field: uint32 rotation_offset_minutes = 2;
   */
  rotationOffsetMinutes: number;
};

/**
 * Describes the message meowonion.v1.OnionServiceParams.
 * Use `create(OnionServiceParamsSchema)` to create a new message.
 */
export const OnionServiceParamsSchema: GenMessage<OnionServiceParams> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 4);

/**
 * Aggregate bandwidth per role, bytes per second: sums of bandwidth_weight over all listed
 * relays, over those with GUARD, over those with EXIT. Informational (see PATH SELECTION).
 *
 * @generated from message meowonion.v1.BandwidthTotals
 */
export type BandwidthTotals = Message<"meowonion.v1.BandwidthTotals"> & {
  /**
   * @generated from field: uint64 total = 1;
   */
  total: bigint;

  /**
   * @generated from field: uint64 guard = 2;
   */
  guard: bigint;

  /**
   * @generated from field: uint64 exit = 3;
   */
  exit: bigint;
};

/**
 * Describes the message meowonion.v1.BandwidthTotals.
 * Use `create(BandwidthTotalsSchema)` to create a new message.
 */
export const BandwidthTotalsSchema: GenMessage<BandwidthTotals> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 5);

/**
 * A signed consensus as served to clients. `consensus` is the serialized Consensus; each
 * signature is Ed25519 by one authority over "meowonion-consensus-v1" | 0x00 | consensus.
 * Signatures by keys the client does not know, or that do not verify, are ignored (they do
 * not count towards the majority). At most 16 signatures.
 *
 * @generated from message meowonion.v1.SignedConsensus
 */
export type SignedConsensus = Message<"meowonion.v1.SignedConsensus"> & {
  /**
   * @generated from field: bytes consensus = 1;
   */
  consensus: Uint8Array;

  /**
   * @generated from field: repeated meowonion.v1.AuthoritySignature signatures = 2;
   */
  signatures: AuthoritySignature[];
};

/**
 * Describes the message meowonion.v1.SignedConsensus.
 * Use `create(SignedConsensusSchema)` to create a new message.
 */
export const SignedConsensusSchema: GenMessage<SignedConsensus> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 6);

/**
 * A newer consensus as the changes from one the client holds (see CONSENSUS DIFFS).
 *
 * @generated from message meowonion.v1.ConsensusDiff
 */
export type ConsensusDiff = Message<"meowonion.v1.ConsensusDiff"> & {
  /**
   * SHA-256 of the serialized Consensus the diff applies to, 32 bytes.
   *
   * @generated from field: bytes base_digest = 1;
   */
  baseDigest: Uint8Array;

  /**
   * SHA-256 of the serialized Consensus it produces, 32 bytes.
   *
   * @generated from field: bytes target_digest = 2;
   */
  targetDigest: Uint8Array;

  /**
   * How to build the result from the base's units, in order. At most 20,000.
   *
   * @generated from field: repeated meowonion.v1.ConsensusDiffOp ops = 3;
   */
  ops: ConsensusDiffOp[];

  /**
   * The result's signatures, as in SignedConsensus (signatures over the result's bytes; at
   * most 16).
   *
   * @generated from field: repeated meowonion.v1.AuthoritySignature signatures = 4;
   */
  signatures: AuthoritySignature[];
};

/**
 * Describes the message meowonion.v1.ConsensusDiff.
 * Use `create(ConsensusDiffSchema)` to create a new message.
 */
export const ConsensusDiffSchema: GenMessage<ConsensusDiff> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 7);

/**
 * One step of a ConsensusDiff: copy a run of base units, then append literal bytes.
 *
 * @generated from message meowonion.v1.ConsensusDiffOp
 */
export type ConsensusDiffOp = Message<"meowonion.v1.ConsensusDiffOp"> & {
  /**
   * Index of the first base unit to copy (units are numbered from 0).
   *
   * @generated from field: uint32 copy_start = 1;
   */
  copyStart: number;

  /**
   * How many consecutive base units to copy; 0 copies none.
   *
   * @generated from field: uint32 copy_count = 2;
   */
  copyCount: number;

  /**
   * Bytes appended after the copied units (MeowOnion inserts whole units, but any bytes are
   * allowed: only the result's digest counts).
   *
   * @generated from field: bytes insert = 3;
   */
  insert: Uint8Array;
};

/**
 * Describes the message meowonion.v1.ConsensusDiffOp.
 * Use `create(ConsensusDiffOpSchema)` to create a new message.
 */
export const ConsensusDiffOpSchema: GenMessage<ConsensusDiffOp> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 8);

/**
 * One authority's signature.
 *
 * @generated from message meowonion.v1.AuthoritySignature
 */
export type AuthoritySignature = Message<"meowonion.v1.AuthoritySignature"> & {
  /**
   * The authority's Ed25519 public key, 32 bytes.
   *
   * @generated from field: bytes authority_key = 1;
   */
  authorityKey: Uint8Array;

  /**
   * Ed25519 signature, 64 bytes.
   *
   * @generated from field: bytes signature = 2;
   */
  signature: Uint8Array;
};

/**
 * Describes the message meowonion.v1.AuthoritySignature.
 * Use `create(AuthoritySignatureSchema)` to create a new message.
 */
export const AuthoritySignatureSchema: GenMessage<AuthoritySignature> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 9);

/**
 * One authority's view of the network for a voting period (exchanged between authorities).
 *
 * @generated from message meowonion.v1.Vote
 */
export type Vote = Message<"meowonion.v1.Vote"> & {
  /**
   * Period start; must equal the requested period.
   *
   * @generated from field: google.protobuf.Timestamp valid_after = 1;
   */
  validAfter?: Timestamp | undefined;

  /**
   * The voting authority's Ed25519 key.
   *
   * @generated from field: bytes authority_key = 2;
   */
  authorityKey: Uint8Array;

  /**
   * Every relay the authority holds a valid descriptor for, with its judgement.
   *
   * @generated from field: repeated meowonion.v1.VoteRelay relays = 3;
   */
  relays: VoteRelay[];

  /**
   * This authority's part in making the shared random value (see SHARED RANDOMNESS).
   *
   * @generated from field: meowonion.v1.SharedRandomVote shared_random = 4;
   */
  sharedRandom?: SharedRandomVote | undefined;

  /**
   * The revision of the period this vote is for, 0..9 (HOW AUTHORITIES AGREE, REVISIONS);
   * must equal the requested revision.
   *
   * @generated from field: uint32 revision = 5;
   */
  revision: number;
};

/**
 * Describes the message meowonion.v1.Vote.
 * Use `create(VoteSchema)` to create a new message.
 */
export const VoteSchema: GenMessage<Vote> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 10);

/**
 * What an authority contributes to the shared random value in one vote of period `period`.
 *
 * @generated from message meowonion.v1.SharedRandomVote
 */
export type SharedRandomVote = Message<"meowonion.v1.SharedRandomVote"> & {
  /**
   * The time period this vote belongs to (from valid_after and the network's parameters).
   *
   * @generated from field: uint64 period = 1;
   */
  period: bigint;

  /**
   * SHA3-256(R(period + 1)), 32 bytes.
   *
   * @generated from field: bytes commit = 2;
   */
  commit: Uint8Array;

  /**
   * R(period), 32 bytes.
   *
   * @generated from field: bytes reveal = 3;
   */
  reveal: Uint8Array;

  /**
   * The commits for `period` as the last consensus of period - 1 this authority holds listed
   * them (empty if it holds none).
   *
   * @generated from field: repeated meowonion.v1.AuthorityCommit seen_commits = 4;
   */
  seenCommits: AuthorityCommit[];

  /**
   * SRV(period - 1) as this authority knows it (empty if it does not).
   *
   * @generated from field: bytes previous_value = 5;
   */
  previousValue: Uint8Array;
};

/**
 * Describes the message meowonion.v1.SharedRandomVote.
 * Use `create(SharedRandomVoteSchema)` to create a new message.
 */
export const SharedRandomVoteSchema: GenMessage<SharedRandomVote> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 11);

/**
 * One relay in a vote.
 *
 * @generated from message meowonion.v1.VoteRelay
 */
export type VoteRelay = Message<"meowonion.v1.VoteRelay"> & {
  /**
   * The descriptor as the relay published it (signature included, so peers can check it).
   *
   * @generated from field: meowonion.v1.SignedDescriptor descriptor = 1;
   */
  descriptor?: SignedDescriptor | undefined;

  /**
   * Reachable and heartbeating, as seen by this authority.
   *
   * @generated from field: bool running = 2;
   */
  running: boolean;

  /**
   * How long the relay has been continuously Running as seen by this authority, seconds. The
   * authority's own downtime does not end a run: an authority keeps each relay's run start in
   * durable storage, and a run open when it stopped goes on if the relay is Running again
   * within one heartbeat timeout of its restart.
   *
   * @generated from field: uint64 uptime_seconds = 3;
   */
  uptimeSeconds: bigint;

  /**
   * Weighted fractional uptime, millionths (Tor's WFU): the share of the time since this
   * authority first saw the relay Running that it was Running, each moment weighted by
   * 0.95^(its age / 12 hours). Durable like uptime_seconds; the authority's downtime counts
   * neither as up nor as observed time.
   *
   * @generated from field: uint32 weighted_fractional_uptime_ppm = 4;
   */
  weightedFractionalUptimePpm: number;
};

/**
 * Describes the message meowonion.v1.VoteRelay.
 * Use `create(VoteRelaySchema)` to create a new message.
 */
export const VoteRelaySchema: GenMessage<VoteRelay> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 12);

/**
 * A vote signed by its authority over "meowonion-vote-v1" | 0x00 | vote.
 *
 * @generated from message meowonion.v1.SignedVote
 */
export type SignedVote = Message<"meowonion.v1.SignedVote"> & {
  /**
   * @generated from field: bytes vote = 1;
   */
  vote: Uint8Array;

  /**
   * @generated from field: bytes signature = 2;
   */
  signature: Uint8Array;
};

/**
 * Describes the message meowonion.v1.SignedVote.
 * Use `create(SignedVoteSchema)` to create a new message.
 */
export const SignedVoteSchema: GenMessage<SignedVote> = /*@__PURE__*/
  messageDesc(file_meowonion_v1_consensus, 13);

/**
 * Flags an authority assigns to a relay.
 *
 * @generated from enum meowonion.v1.RelayFlag
 */
export enum RelayFlag {
  /**
   * @generated from enum value: RELAY_FLAG_UNSPECIFIED = 0;
   */
  UNSPECIFIED = 0,

  /**
   * The relay sent an accepted heartbeat within the heartbeat timeout (directory.proto
   * Heartbeat), and the authority's latest reachability test of the descriptor's addresses
   * passed: it connected to the or_port and the link identity proof matched the descriptor.
   * A passed test counts for the authority's reachability window (MeowOnion: 20 minutes,
   * re-tested after 5 to 10; Tor re-tests on a 1280 s cycle): heartbeats show liveness,
   * tests the address. Only Running relays are listed.
   *
   * @generated from enum value: RELAY_FLAG_RUNNING = 1;
   */
  RUNNING = 1,

  /**
   * The descriptor is well formed, signed, and not expired. Clients use only Valid relays.
   *
   * @generated from enum value: RELAY_FLAG_VALID = 2;
   */
  VALID = 2,

  /**
   * Bandwidth weight at least 100 KB/s or in the top 7/8 of all listed relays.
   *
   * @generated from enum value: RELAY_FLAG_FAST = 3;
   */
  FAST = 3,

  /**
   * Continuously Running (no missed heartbeat timeout) for at least 10 minutes in test
   * networks. Authorities measure uptime since they first saw the relay reachable.
   *
   * @generated from enum value: RELAY_FLAG_STABLE = 4;
   */
  STABLE = 4,

  /**
   * Fast and Stable and bandwidth at least the median of Fast relays, and a weighted
   * fractional uptime of at least 98 % (the lower median of the Running votes'
   * weighted_fractional_uptime_ppm ≥ 980000): suitable as an entry.
   *
   * @generated from enum value: RELAY_FLAG_GUARD = 5;
   */
  GUARD = 5,

  /**
   * The exit policy accepts at least one port of 80 or 443 on some address, or any
   * port range on any address (test networks exit to 127.0.0.0/8).
   *
   * @generated from enum value: RELAY_FLAG_EXIT = 6;
   */
  EXIT = 6,

  /**
   * Marked bad by an operator (never assigned automatically here); clients never exit there.
   *
   * @generated from enum value: RELAY_FLAG_BAD_EXIT = 7;
   */
  BAD_EXIT = 7,

  /**
   * Stores onion-service descriptors (onion_service.proto): Running and Stable, and running
   * for at least the authority's HSDir uptime (96 hours as Tor; test networks set it lower,
   * down to 0, in which case Stable is not required either).
   *
   * @generated from enum value: RELAY_FLAG_HSDIR = 8;
   */
  HSDIR = 8,
}

/**
 * Describes the enum meowonion.v1.RelayFlag.
 */
export const RelayFlagSchema: GenEnum<RelayFlag> = /*@__PURE__*/
  enumDesc(file_meowonion_v1_consensus, 0);

