/**
 * What the page shows, computed from the protobuf documents the authority serves (generated
 * types from gen/, no hand-written shapes): the consensus (relays, flags, weights, exit
 * policies, family) and this authority's own vote for the same period (each relay's
 * descriptor, for advertised/observed bandwidth, software, times, and the uptime the
 * authority measured). Pure: no DOM, no network.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { RelayFlagSchema, type Consensus, RelayFlag, type ConsensusRelay, type Vote } from "../../gen/meowonion/v1/consensus_pb.js";
import {
  ExitAction,
  RelayDescriptorSchema,
  RelayFeatureSchema,
  type ExitPolicy,
  type ExitRule,
  type RelayDescriptor,
} from "../../gen/meowonion/v1/descriptor_pb.js";
import { toHex } from "./format.js";

export interface RelayRow {
  /** Identity key, hex: what a relay's ready line prints, and the row's stable id here. */
  id: string;
  nickname: string;
  /** The relay id (first 20 bytes of SHA-256 of the identity key), hex, as in the logs. */
  fingerprint: string;
  addresses: string[];
  flags: string[];
  /** The consensus's bandwidth_weight: what path selection uses. */
  weight: bigint;
  /** From the descriptor (undefined when this authority's vote could not be read). */
  advertised: bigint | undefined;
  burst: bigint | undefined;
  observed: bigint | undefined;
  /** Continuously Running as this authority measured it at the period start. */
  uptimeSeconds: number | undefined;
  exitSummary: string;
  exitRules: string[];
  /** Family members' identity keys, hex. */
  family: string[];
  features: string[];
  published: Date | undefined;
  expires: Date | undefined;
  software: string | undefined;
  descriptorDigest: string;
}

/** What this authority's vote says about one relay. */
export interface VoteEntry {
  descriptor: RelayDescriptor;
  uptimeSeconds: number;
}

/** The vote's entries by identity key (hex); descriptors that do not decode are left out. */
export function voteEntries(vote: Vote | undefined): Map<string, VoteEntry> {
  const entries = new Map<string, VoteEntry>();
  for (const relay of vote?.relays ?? []) {
    if (relay.descriptor === undefined) continue;
    try {
      const descriptor = fromBinary(RelayDescriptorSchema, relay.descriptor.descriptor);
      entries.set(toHex(descriptor.identityKey), { descriptor, uptimeSeconds: Number(relay.uptimeSeconds) });
    } catch {
      // The authority checked every descriptor it votes on; a broken one is simply not shown.
    }
  }
  return entries;
}

export function relayRow(relay: ConsensusRelay, fingerprint: string, known: VoteEntry | undefined): RelayRow {
  const descriptor = known?.descriptor;
  const bandwidth = descriptor?.bandwidth;
  return {
    id: toHex(relay.identityKey),
    nickname: relay.nickname,
    fingerprint,
    addresses: relayAddresses(relay),
    flags: relay.flags.map(flagName),
    weight: relay.bandwidthWeight,
    advertised: bandwidth?.averageBytesPerSecond,
    burst: bandwidth?.burstBytesPerSecond,
    observed: observedBandwidth(relay, descriptor),
    uptimeSeconds: known?.uptimeSeconds,
    exitSummary: exitSummary(relay.exitPolicy),
    exitRules: (relay.exitPolicy?.rules ?? []).map(exitRuleText),
    family: relay.family.map(toHex),
    features: relay.features.map((f) => enumLabel(RelayFeatureSchema.value[f]?.localName, `feature ${f}`, " ")),
    published: dateOf(relay.published),
    expires: dateOf(descriptor?.expires),
    software: descriptor?.softwareVersion || undefined,
    descriptorDigest: toHex(relay.descriptorDigest),
  };
}

/**
 * The bandwidth a relay measured itself carrying. Descriptors have the field (0 = not
 * measured) and relays do not fill it yet; the column shows it as soon as they do. Should
 * the measurement land in the consensus instead, this line is the one to change.
 */
export function observedBandwidth(_relay: ConsensusRelay, descriptor: RelayDescriptor | undefined): bigint | undefined {
  return descriptor?.bandwidth?.observedBytesPerSecond || undefined;
}

/** The consensus's shared random value of the current period, hex (consensus.proto SHARED RANDOMNESS). */
export function sharedRandomValue(consensus: Consensus): string | undefined {
  const current = consensus.sharedRandom?.current;
  return current === undefined || current.length === 0 ? undefined : toHex(current);
}

export function relayAddresses(relay: ConsensusRelay): string[] {
  const out: string[] = [];
  if (relay.ipv4Address !== "") out.push(`${relay.ipv4Address}:${relay.orPort}`);
  if (relay.ipv6Address !== "") out.push(`[${relay.ipv6Address}]:${relay.orPort}`);
  return out;
}

/** Tor's spelling of a flag: RUNNING → "Running", BAD_EXIT → "BadExit". */
/** Tor's spellings where the enum's casing differs. */
const FLAG_SPELLINGS: Partial<Record<RelayFlag, string>> = { [RelayFlag.HSDIR]: "HSDir" };

export function flagName(flag: RelayFlag): string {
  return FLAG_SPELLINGS[flag] ?? enumLabel(RelayFlagSchema.value[flag]?.localName, `Flag${flag}`, "");
}

/** One rule in the policy's text form: "accept 127.0.0.0/8:*", "reject [::1]:25". */
export function exitRuleText(rule: ExitRule): string {
  return `${rule.action === ExitAction.ACCEPT ? "accept" : "reject"} ${ruleTarget(rule)}`;
}

/** What a relay lets out, in one short line: the accept rules, or that it is no exit. */
export function exitSummary(policy: ExitPolicy | undefined): string {
  const accepts = (policy?.rules ?? []).filter((r) => r.action === ExitAction.ACCEPT);
  if (accepts.length === 0) return "no exit";
  const more = accepts.length > 2 ? ` +${accepts.length - 2} more` : "";
  return `accept ${accepts.slice(0, 2).map(ruleTarget).join(", ")}${more}`;
}

function ruleTarget(rule: ExitRule): string {
  const slash = rule.addressPrefix.indexOf("/");
  const ip = slash < 0 ? rule.addressPrefix : rule.addressPrefix.slice(0, slash);
  const address = ip.includes(":") ? `[${ip}]${rule.addressPrefix.slice(ip.length)}` : rule.addressPrefix;
  const ports =
    rule.portMin === 1 && rule.portMax === 65535 ? "*" : rule.portMin === rule.portMax ? `${rule.portMin}` : `${rule.portMin}-${rule.portMax}`;
  return `${address}:${ports}`;
}

/** An enum value's local name as words: joined capitalised ("BadExit") or by `separator` ("congestion control"). */
function enumLabel(localName: string | undefined, unknown: string, separator: string): string {
  if (localName === undefined) return unknown;
  const words = localName.toLowerCase().split("_");
  return separator === "" ? words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join("") : words.join(separator);
}

function dateOf(ts: Timestamp | undefined): Date | undefined {
  return ts === undefined ? undefined : timestampDate(ts);
}
