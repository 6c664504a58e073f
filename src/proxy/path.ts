/**
 * Path selection, as Tor's path-spec: the exit first (its policy must allow the requested
 * port), then the guard (from the persistent guard set), then middles. Never the same relay
 * twice, never two relays of one family, of one IPv4 /16 or of one IPv6 /32 (the subnet rules
 * unless `enforceDistinctSubnets` is off, for test networks on one host), only Running+Valid
 * relays, never a BadExit as exit, and every free choice weighted by the consensus bandwidth
 * weight. Pure functions: the randomness comes in as an argument so tests can drive it.
 */
import { randomInt } from "node:crypto";
import { type ConsensusRelay, RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFeature } from "../../gen/meowonion/v1/descriptor_pb.js";
import { exitPolicyAcceptsAny, exitPolicyAllows } from "../netdoc/exit-policy.js";
import { parseIpv4, parseIpv6 } from "../netdoc/ip.js";
import { checkHopCount } from "../onion/circuit-limits.js";
import { MeowOnionError } from "../onion/errors.js";

export const DEFAULT_HOPS = 3;
/** Ports a preemptive circuit's exit should allow (Tor predicts web traffic the same way). */
const PREDICTED_PORTS = [80, 443];

/** No path fits the constraints; `missing` says which role could not be filled. */
export class PathError extends MeowOnionError {
  override readonly name = "PathError";
  constructor(
    readonly missing: "exit" | "guard" | "middle",
    message: string,
  ) {
    super("no-path", message);
  }

  override get code(): string {
    return `no-${this.missing}`;
  }
}

/** Uniform in [0, 1) from the CSPRNG (path choices must not be predictable). */
export function secureRandom(): number {
  return randomInt(2 ** 47) / 2 ** 47;
}

/**
 * Where a circuit must be able to exit to. `address` only for an IP literal: a host name is
 * resolved by the exit, so then any exit that may accept the port on some address will do.
 */
export interface ExitTarget {
  address?: string;
  port: number;
}

export interface PathOptions {
  /** Number of relays, 1..MAX_HOPS (onion/circuit-limits.ts; 1 = the exit alone, which is then also the entry). */
  hops: number;
  /** Undefined for a preemptive circuit. */
  exitTo?: ExitTarget;
  /**
   * The last hop is this relay whatever its exit policy (an HSDir, an introduction or
   * rendezvous point: the circuit ends there, it does not exit); `exitTo` is then ignored.
   */
  lastHop?: ConsensusRelay;
  /**
   * The last hop is a relay we choose ourselves among those `lastHopAmong` accepts (a
   * rendezvous or introduction point), chosen as an exit is, among those that fit with the
   * first usable listed guard while any does; `exitTo` is then ignored.
   */
  lastHopAmong?: (relay: ConsensusRelay) => boolean;
  /** The persistent guard set, best first (identity keys). */
  guards: readonly Uint8Array[];
  enforceDistinctSubnets: boolean;
  /** Exits that already failed this stream (never chosen again as exit). */
  excludeExits?: readonly Uint8Array[];
  /** Relays that vanished under this stream (circuit destroyed, BEGIN timed out): no position. */
  avoidRelays?: readonly Uint8Array[];
  random?: () => number;
}

export interface SelectedPath {
  /** Guard first, exit last. */
  relays: ConsensusRelay[];
  /** True when no listed guard fitted and the entry was chosen afresh (a guard candidate). */
  entryOutsideGuardSet: boolean;
}

export function hasFlag(relay: ConsensusRelay, flag: RelayFlag): boolean {
  return relay.flags.includes(flag);
}

/** Clients use only relays the authorities call Running and Valid. */
export function isUsable(relay: ConsensusRelay): boolean {
  return hasFlag(relay, RelayFlag.RUNNING) && hasFlag(relay, RelayFlag.VALID);
}

/** Whether `relay` may serve as an onion service's introduction or rendezvous point. */
export function isOnionServicePoint(relay: ConsensusRelay): boolean {
  return isUsable(relay) && relay.features.includes(RelayFeature.ONION_SERVICE_POINTS);
}

/** Whether `relay` may serve as the exit for `target` (policy, flags; not the path rules). */
export function canExitTo(relay: ConsensusRelay, target: ExitTarget): boolean {
  return isUsable(relay) && !hasFlag(relay, RelayFlag.BAD_EXIT) && exitPolicyAllows(relay.exitPolicy, target.address, target.port);
}

/**
 * Candidate exits for `target`. For a preemptive circuit (no target), exits that may reach
 * ports 80 or 443, else any exit at all.
 */
export function exitCandidates(relays: readonly ConsensusRelay[], target: ExitTarget | undefined): ConsensusRelay[] {
  if (target !== undefined) return relays.filter((r) => canExitTo(r, target));
  const web = relays.filter((r) => PREDICTED_PORTS.some((port) => canExitTo(r, { port })));
  if (web.length > 0) return web;
  return relays.filter((r) => isUsable(r) && !hasFlag(r, RelayFlag.BAD_EXIT) && exitPolicyAcceptsAny(r.exitPolicy));
}

/**
 * Relays fit to be guards. A tiny test network may have no relay with the Guard flag yet
 * (Guard needs Stable, i.e. minutes of uptime): then Fast relays, then any usable relay
 * stand in, so a fresh local network can build circuits at once.
 */
export function guardCandidates(relays: readonly ConsensusRelay[]): ConsensusRelay[] {
  const usable = relays.filter(isUsable);
  for (const flag of [RelayFlag.GUARD, RelayFlag.FAST]) {
    const flagged = usable.filter((r) => hasFlag(r, flag));
    if (flagged.length > 0) return flagged;
  }
  return usable;
}

export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Two relays are one family only if each lists the other. */
export function inSameFamily(a: ConsensusRelay, b: ConsensusRelay): boolean {
  const lists = (x: ConsensusRelay, y: ConsensusRelay) => x.family.some((k) => sameKey(k, y.identityKey));
  return lists(a, b) && lists(b, a);
}

/**
 * The networks a relay's addresses are in for the subnet rule: "4:" and its IPv4 /16, "6:"
 * and its IPv6 /32 (what one operator or hosting provider is likely to hold).
 */
export function subnetsOf(relay: ConsensusRelay): string[] {
  const out: string[] = [];
  const v4 = parseIpv4(relay.ipv4Address);
  if (v4 !== undefined) out.push(`4:${v4 >> 16n}`);
  const v6 = relay.ipv6Address === "" ? undefined : parseIpv6(relay.ipv6Address);
  if (v6 !== undefined) out.push(`6:${v6 >> 96n}`);
  return out;
}

/** Whether a and b share an IPv4 /16 or an IPv6 /32. */
export function sameSubnet(a: ConsensusRelay, b: ConsensusRelay): boolean {
  const theirs = subnetsOf(b);
  return subnetsOf(a).some((n) => theirs.includes(n));
}

/** Whether a and b may not share a circuit. */
export function conflicts(a: ConsensusRelay, b: ConsensusRelay, enforceDistinctSubnets: boolean): boolean {
  if (sameKey(a.identityKey, b.identityKey) || inSameFamily(a, b)) return true;
  return enforceDistinctSubnets && sameSubnet(a, b);
}

/**
 * One relay with probability proportional to its bandwidth weight (uniform if every weight
 * is zero). Weights are capped at 10 GB/s by the authorities, so Number sums stay exact.
 */
export function weightedChoice<T extends { bandwidthWeight: bigint }>(
  candidates: readonly T[],
  random: () => number,
): T | undefined {
  if (candidates.length === 0) return undefined;
  const weights = candidates.map((c) => Number(c.bandwidthWeight));
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))];
  let point = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    point -= weights[i];
    if (point < 0 && weights[i] > 0) return candidates[i];
  }
  // Floating-point leftovers land on the last relay with weight.
  for (let i = candidates.length - 1; ; i--) if (weights[i] > 0) return candidates[i];
}

/**
 * Choose a path. Tries exits in weighted-random order until guard and middles fit around one;
 * throws PathError when none does.
 */
export function selectPath(consensusRelays: readonly ConsensusRelay[], options: PathOptions): SelectedPath {
  const { hops, enforceDistinctSubnets } = options;
  const avoided = options.avoidRelays ?? [];
  const relays = consensusRelays.filter((r) => !avoided.some((k) => sameKey(k, r.identityKey)));
  const random = options.random ?? secureRandom;
  checkHopCount(hops);
  const excluded = options.excludeExits ?? [];
  let exits = lastHopCandidates(relays, options).filter((r) => !excluded.some((k) => sameKey(k, r.identityKey)));
  if (exits.length === 0) {
    if (options.lastHop !== undefined) throw new PathError("exit", `${options.lastHop.nickname} is not a usable last hop`);
    if (options.lastHopAmong !== undefined) throw new PathError("exit", "no usable relay for the last hop");
    const to = options.exitTo;
    const what = to === undefined ? "any port" : to.address === undefined ? `port ${to.port}` : `${to.address} port ${to.port}`;
    throw new PathError("exit", `no usable exit allows ${what}`);
  }
  const fits = (r: ConsensusRelay, chosen: readonly ConsensusRelay[]) =>
    chosen.every((c) => !conflicts(r, c, enforceDistinctSubnets));
  let lastFailure: PathError | undefined;

  while (exits.length > 0) {
    const exit = weightedChoice(exits, random)!;
    exits = exits.filter((r) => r !== exit);
    if (hops === 1) return { relays: [exit], entryOutsideGuardSet: false };

    const entry = chooseEntry(relays, options.guards, (r) => fits(r, [exit]), random);
    if (!entry) {
      lastFailure = new PathError("guard", "no guard fits with any usable exit");
      continue;
    }
    const chosen = [entry.relay, exit];
    const middles: ConsensusRelay[] = [];
    const usable = relays.filter(isUsable);
    while (middles.length < hops - 2) {
      const middle = weightedChoice(
        usable.filter((r) => fits(r, chosen)),
        random,
      );
      if (!middle) break;
      middles.push(middle);
      chosen.push(middle);
    }
    if (middles.length < hops - 2) {
      lastFailure = new PathError("middle", `not enough distinct relays for ${hops} hops`);
      continue;
    }
    return { relays: [entry.relay, ...middles, exit], entryOutsideGuardSet: entry.fresh };
  }
  throw lastFailure ?? new PathError("exit", "no usable exit");
}

/**
 * A relay to take position `index` (a middle or the last hop, never the entry) of `path` after
 * the relay there could not be reached (re-extending after TRUNCATED): chosen as selectPath
 * chooses for that position, fitting with every other relay of the path, never one of
 * `options.avoidRelays`; undefined when none fits or the last hop was fixed (`lastHop`).
 */
export function replaceHop(consensusRelays: readonly ConsensusRelay[], path: readonly ConsensusRelay[], index: number, options: PathOptions): ConsensusRelay | undefined {
  if (index < 1 || index >= path.length) return undefined;
  const avoided = [...(options.avoidRelays ?? []), path[index].identityKey];
  const relays = consensusRelays.filter((r) => !avoided.some((k) => sameKey(k, r.identityKey)));
  const others = path.filter((_, i) => i !== index);
  const fits = (r: ConsensusRelay) => others.every((o) => !conflicts(r, o, options.enforceDistinctSubnets));
  let candidates: ConsensusRelay[];
  if (index < path.length - 1) candidates = relays.filter(isUsable);
  else if (options.lastHop !== undefined) return undefined;
  else {
    const excluded = options.excludeExits ?? [];
    candidates = lastHopCandidates(relays, options).filter((r) => !excluded.some((k) => sameKey(k, r.identityKey)));
  }
  return weightedChoice(candidates.filter(fits), options.random ?? secureRandom);
}

function lastHopCandidates(relays: readonly ConsensusRelay[], options: PathOptions): ConsensusRelay[] {
  const { lastHop: fixed, lastHopAmong: among } = options;
  if (fixed !== undefined) return relays.filter((r) => sameKey(r.identityKey, fixed.identityKey) && isUsable(r));
  if (among !== undefined) {
    // A last hop we choose must not push us off our first guard (a fresh entry would widen
    // the guard set and show the relay's family to it): relays that fit with it, while any do.
    const candidates = relays.filter((r) => isUsable(r) && among(r));
    const guard = firstUsableGuard(relays, options.guards);
    const withGuard = guard === undefined ? [] : candidates.filter((r) => !conflicts(r, guard, options.enforceDistinctSubnets));
    return withGuard.length > 0 ? withGuard : candidates;
  }
  return exitCandidates(relays, options.exitTo);
}

function firstUsableGuard(relays: readonly ConsensusRelay[], guards: readonly Uint8Array[]): ConsensusRelay | undefined {
  for (const key of guards) {
    const relay = relays.find((r) => sameKey(r.identityKey, key));
    if (relay !== undefined && isUsable(relay)) return relay;
  }
  return undefined;
}

/** The first listed guard that is usable and fits; else a fresh weighted guard candidate. */
function chooseEntry(
  relays: readonly ConsensusRelay[],
  guards: readonly Uint8Array[],
  fits: (r: ConsensusRelay) => boolean,
  random: () => number,
): { relay: ConsensusRelay; fresh: boolean } | undefined {
  for (const key of guards) {
    const relay = relays.find((r) => sameKey(r.identityKey, key));
    if (relay && isUsable(relay) && fits(relay)) return { relay, fresh: false };
  }
  const relay = weightedChoice(guardCandidates(relays).filter(fits), random);
  return relay ? { relay, fresh: true } : undefined;
}
