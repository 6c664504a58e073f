/**
 * Consensus computation, deterministic as consensus.proto's HOW AUTHORITIES AGREE requires:
 * the same votes give the same bytes on every authority. Pure: no clock (times come from the
 * period), no I/O.
 *
 * Rules (documented here because clients and other implementations depend on them):
 * - a relay is listed if at least majority(n) of the n known authorities voted it Running with
 *   a valid descriptor (missing votes count as "not Running");
 * - its descriptor is the most recently published among those Running votes, ties broken by
 *   the lowest SHA-256 of the serialized SignedDescriptor;
 * - uptime is the lower median of those votes' uptime_seconds;
 * - bandwidth_weight = min(average, observed), where a relay that has not observed itself
 *   carrying traffic (observed 0) counts as observed UNOBSERVED_BANDWIDTH_CAP; capped at 10 GB/s;
 * - Fast: weight ≥ 100,000 B/s, or among the ceil(7n/8) heaviest listed relays (ties included);
 * - Stable: uptime ≥ stable-after; Guard: Fast, Stable, weight ≥ the lower median weight of
 *   Fast relays and WFU (lower median of the votes' weighted_fractional_uptime_ppm) ≥ 98 %; Exit: the exit policy accepts some address and port; Running and Valid: all
 *   listed relays; BadExit: never assigned automatically;
 * - at most 10,000 relays: the heaviest are kept (ties: lowest identity key);
 * - relays sorted by identity key, authority keys sorted, totals summed per role.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ConsensusRelaySchema,
  ConsensusSchema,
  RelayFlag,
  SignedVoteSchema,
  VoteSchema,
  type Consensus,
  type ConsensusRelay,
  type SharedRandomVote,
  type SignedVote,
  type Vote,
  type VoteRelay,
} from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFeature, SignedDescriptorSchema, type SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import { type TimePeriodParams, timePeriodAt } from "../onion/hs/time-period.js";
import { computeSharedRandom } from "./shared-random.js";
import { DOMAIN_VOTE, signWithDomain } from "../onion/signing.js";
import { checkDescriptorShape, checkDescriptorSignature, hex, sha256, type ValidDescriptor } from "../netdoc/descriptor.js";
import { exitPolicyAcceptsAny } from "../netdoc/exit-policy.js";
import { majority } from "../netdoc/consensus.js";
import { GUARD_MIN_WFU_PPM } from "./uptime.js";

export const MAX_CONSENSUS_RELAYS = 10_000;
export const FAST_MIN_WEIGHT = 100_000n;
export const MAX_BANDWIDTH_WEIGHT = 10_000_000_000n;
/** Weight of a relay that has not observed itself carry traffic (as Tor's MaxUnmeasuredBw, 20 KB/s). */
export const UNOBSERVED_BANDWIDTH_CAP = 20_000n;

export interface ConsensusParameters {
  validAfterMs: number;
  intervalMs: number;
  stableAfterSeconds: number;
  /** HSDIR needs this much uptime (and Stable), or nothing at all when 0 (test networks). */
  hsDirUptimeSeconds: number;
  /** The network's onion-service time periods (also those of the shared random value). */
  onionService: TimePeriodParams;
  /** Every authority key the signers know (self included). */
  authorityKeys: Uint8Array[];
}

export interface ComputedConsensus {
  consensus: Consensus;
  bytes: Uint8Array;
  digest: Uint8Array;
}

/** Start of the voting period containing `nowMs`. */
export function periodStart(nowMs: number, intervalMs: number): number {
  return Math.floor(nowMs / intervalMs) * intervalMs;
}

/** Signs a vote: "meowonion-vote-v1" | 0x00 | serialized Vote. */
export function signVote(vote: Vote, privateKey: Uint8Array): SignedVote {
  const bytes = toBinary(VoteSchema, vote);
  return create(SignedVoteSchema, { vote: bytes, signature: signWithDomain(DOMAIN_VOTE, bytes, privateKey) });
}

export function buildVote(validAfterMs: number, revision: number, authorityKey: Uint8Array, relays: VoteRelay[], sharedRandom: SharedRandomVote): Vote {
  return create(VoteSchema, { validAfter: timestampFromMs(validAfterMs), revision, authorityKey, relays, sharedRandom });
}

/**
 * Descriptor checks for descriptors found in votes: shape and signature, then not expired at
 * the period start. Results are cached by content (the signature, then the descriptor bytes
 * compared), not by object: a peer's vote is decoded afresh whenever it changes, and a
 * 1,000-relay vote would otherwise cost 1,000 signature checks on the event loop every round.
 */
export class VoteDescriptorChecker {
  private readonly cache = new Map<string, { descriptor: Uint8Array; valid: ValidDescriptor | null }>();

  constructor(private readonly maxEntries = 4 * MAX_CONSENSUS_RELAYS) {}

  /** Lets the authority vouch for descriptors it already verified on publish. */
  remember(v: ValidDescriptor): void {
    this.put(v.signed, v);
  }

  check(signed: SignedDescriptor | undefined, validAfterMs: number): ValidDescriptor | undefined {
    if (signed === undefined) return undefined;
    const held = this.cache.get(keyOf(signed));
    let v = held !== undefined && sameBytes(held.descriptor, signed.descriptor) ? held.valid : undefined;
    if (v === undefined) {
      try {
        v = checkDescriptorShape(signed);
        checkDescriptorSignature(v);
      } catch {
        v = null;
      }
      this.put(signed, v);
    }
    return v !== null && v.expiresMs > validAfterMs ? v : undefined;
  }

  private put(signed: SignedDescriptor, valid: ValidDescriptor | null): void {
    const key = keyOf(signed);
    this.cache.delete(key); // re-inserted as the newest
    this.cache.set(key, { descriptor: signed.descriptor, valid });
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }
}

function keyOf(signed: SignedDescriptor): string {
  return Buffer.from(signed.signature.buffer, signed.signature.byteOffset, signed.signature.byteLength).toString("latin1");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

interface Candidate {
  valid: ValidDescriptor;
  uptime: bigint;
  wfuPpm: number;
}

export function computeConsensus(params: ConsensusParameters, votes: Vote[], checker: VoteDescriptorChecker): ComputedConsensus {
  const known = new Set(params.authorityKeys.map(hex));
  const needed = majority(known.size);
  const perRelay = new Map<string, Candidate[]>();
  const voted = new Set<string>();
  const counted: Vote[] = [];
  for (const vote of votes) {
    const authority = hex(vote.authorityKey);
    if (!known.has(authority) || voted.has(authority)) continue; // one vote per known authority
    voted.add(authority);
    counted.push(vote);
    const seen = new Set<string>();
    for (const relay of vote.relays) {
      if (!relay.running) continue;
      const valid = checker.check(relay.descriptor, params.validAfterMs);
      if (valid === undefined || seen.has(valid.keyHex)) continue;
      seen.add(valid.keyHex);
      let list = perRelay.get(valid.keyHex);
      if (list === undefined) perRelay.set(valid.keyHex, (list = []));
      list.push({ valid, uptime: relay.uptimeSeconds, wfuPpm: relay.weightedFractionalUptimePpm });
    }
  }

  let listed = [...perRelay.values()]
    .filter((c) => c.length >= needed)
    .map((c) => ({ valid: chooseDescriptor(c), uptime: lowerMedian(c.map((x) => x.uptime)), wfuPpm: lowerMedian(c.map((x) => BigInt(x.wfuPpm))) }))
    .map((c) => ({ ...c, weight: bandwidthWeight(c.valid) }));
  if (listed.length > MAX_CONSENSUS_RELAYS) {
    listed.sort((a, b) => compareBig(b.weight, a.weight) || compareStr(a.valid.keyHex, b.valid.keyHex));
    listed = listed.slice(0, MAX_CONSENSUS_RELAYS);
  }
  listed.sort((a, b) => compareStr(a.valid.keyHex, b.valid.keyHex));

  const weightsDesc = listed.map((r) => r.weight).sort((a, b) => compareBig(b, a));
  const topCut = weightsDesc.length === 0 ? 0n : weightsDesc[Math.ceil((7 * weightsDesc.length) / 8) - 1];
  const isFast = (w: bigint) => w >= FAST_MIN_WEIGHT || w >= topCut;
  const fastWeights = listed.map((r) => r.weight).filter(isFast);
  const guardCut = fastWeights.length === 0 ? 0n : lowerMedian(fastWeights);
  const stableAfter = BigInt(Math.ceil(params.stableAfterSeconds));
  const hsDirUptime = BigInt(Math.ceil(params.hsDirUptimeSeconds));

  const totals = { total: 0n, guard: 0n, exit: 0n };
  const relays: ConsensusRelay[] = listed.map(({ valid, uptime, wfuPpm, weight }) => {
    const d = valid.descriptor;
    const fast = isFast(weight);
    const stable = uptime >= stableAfter;
    const guard = fast && stable && weight >= guardCut && wfuPpm >= BigInt(GUARD_MIN_WFU_PPM);
    const exit = exitPolicyAcceptsAny(d.exitPolicy);
    const flags = [RelayFlag.RUNNING, RelayFlag.VALID];
    if (fast) flags.push(RelayFlag.FAST);
    if (stable) flags.push(RelayFlag.STABLE);
    if (guard) flags.push(RelayFlag.GUARD);
    if (exit) flags.push(RelayFlag.EXIT);
    const servesHsDir = d.features.includes(RelayFeature.HSDIR);
    if (servesHsDir && (hsDirUptime === 0n || (stable && uptime >= hsDirUptime))) flags.push(RelayFlag.HSDIR);
    totals.total += weight;
    if (guard) totals.guard += weight;
    if (exit) totals.exit += weight;
    return create(ConsensusRelaySchema, {
      nickname: d.nickname,
      identityKey: d.identityKey,
      ntorOnionKey: d.ntorOnionKey,
      ipv4Address: d.ipv4Address,
      ipv6Address: d.ipv6Address,
      orPort: d.orPort,
      flags,
      bandwidthWeight: weight,
      exitPolicy: d.exitPolicy,
      family: d.family,
      descriptorDigest: valid.digest,
      published: d.published,
      features: d.features,
    });
  });

  const consensus = create(ConsensusSchema, {
    validAfter: timestampFromMs(params.validAfterMs),
    freshUntil: timestampFromMs(params.validAfterMs + params.intervalMs),
    validUntil: timestampFromMs(params.validAfterMs + 3 * params.intervalMs),
    relays,
    authorityKeys: [...params.authorityKeys].sort((a, b) => compareStr(hex(a), hex(b))),
    totals,
    sharedRandom: computeSharedRandom(timePeriodAt(params.validAfterMs, params.onionService).number, counted, known.size),
    onionServiceParams: { periodLengthMinutes: params.onionService.lengthMinutes, rotationOffsetMinutes: params.onionService.rotationOffsetMinutes },
  });
  const bytes = toBinary(ConsensusSchema, consensus);
  return { consensus, bytes, digest: sha256(bytes) };
}

export function bandwidthWeight(v: ValidDescriptor): bigint {
  const bw = v.descriptor.bandwidth;
  if (bw === undefined) return 0n;
  let w = bw.averageBytesPerSecond;
  const observed = bw.observedBytesPerSecond === 0n ? UNOBSERVED_BANDWIDTH_CAP : bw.observedBytesPerSecond;
  if (observed < w) w = observed;
  return w > MAX_BANDWIDTH_WEIGHT ? MAX_BANDWIDTH_WEIGHT : w;
}

/** Most recently published; ties: lowest SHA-256 of the serialized SignedDescriptor. */
function chooseDescriptor(candidates: Candidate[]): ValidDescriptor {
  let best = candidates[0].valid;
  for (const { valid } of candidates.slice(1)) {
    if (valid === best) continue;
    if (valid.publishedMs > best.publishedMs) best = valid;
    else if (valid.publishedMs === best.publishedMs && compareStr(envelopeHash(valid), envelopeHash(best)) < 0) best = valid;
  }
  return best;
}

function envelopeHash(v: ValidDescriptor): string {
  return hex(sha256(toBinary(SignedDescriptorSchema, v.signed)));
}

function lowerMedian(values: bigint[]): bigint {
  const sorted = [...values].sort(compareBig);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

