/**
 * Exit policies (descriptor.proto ExitPolicy): the text form used on command lines and in
 * docs, validation, first-match evaluation, and the "does it accept anything at all" question
 * behind the Exit flag. Used by the authority, relays (to refuse streams) and proxies (to pick
 * an exit for a destination).
 */
import { create } from "@bufbuild/protobuf";
import {
  ExitAction,
  ExitPolicySchema,
  ExitRuleSchema,
  type ExitPolicy,
  type ExitRule,
} from "../../gen/meowonion/v1/descriptor_pb.js";
import { WHOLE_FAMILY, parseIp, parsePrefix, type IpRange } from "./ip.js";
import { MeowOnionError } from "../onion/errors.js";

export const MAX_EXIT_RULES = 256;

/** A malformed exit policy (text or rule); the message says which rule and why. */
export class ExitPolicyError extends MeowOnionError {
  override readonly name = "ExitPolicyError";

  constructor(message: string) {
    super("invalid-argument", message);
  }
}

/** A rule with its address prefix resolved to ranges ("*" covers IPv4 and IPv6). */
interface CompiledRule {
  accept: boolean;
  ranges: IpRange[];
  portMin: number;
  portMax: number;
}

/**
 * Parses "accept 127.0.0.0/8:1-65535,reject *:*". Comma-separated rules `accept|reject
 * ADDRESS:PORTS`; ADDRESS is "*", an address or a CIDR prefix (IPv6 in brackets:
 * "[2001:db8::]/32"); PORTS is "*", "N" or "N-M". An item that is only PORTS repeats the
 * previous rule's action and address, so "accept *:80,443" is two rules.
 */
export function parseExitPolicy(text: string): ExitPolicy {
  const rules: ExitRule[] = [];
  let previous: { action: ExitAction; addressPrefix: string } | undefined;
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const m = /^(accept|reject)\s+(\S+)$/i.exec(item);
    let ports: string;
    if (m !== null) {
      const target = m[2];
      const colon = target.lastIndexOf(":");
      if (colon < 0) throw new ExitPolicyError(`exit rule "${item}" needs ADDRESS:PORTS`);
      let address = target.slice(0, colon);
      const bracketed = /^\[([^\]]+)\](\/\d+)?$/.exec(address);
      if (bracketed !== null) address = bracketed[1] + (bracketed[2] ?? "");
      if (address !== "*" && parsePrefix(address) === undefined) {
        throw new ExitPolicyError(`exit rule "${item}": ${JSON.stringify(address)} is not "*", an address or a CIDR prefix`);
      }
      previous = { action: m[1].toLowerCase() === "accept" ? ExitAction.ACCEPT : ExitAction.REJECT, addressPrefix: address };
      ports = target.slice(colon + 1);
    } else if (previous !== undefined && /^[\d*-]+$/.test(item)) {
      ports = item;
    } else {
      throw new ExitPolicyError(`exit rule "${item}" must look like "accept ADDRESS:PORTS" or "reject ADDRESS:PORTS"`);
    }
    const [portMin, portMax] = parsePorts(ports, item);
    rules.push(create(ExitRuleSchema, { ...previous, portMin, portMax }));
  }
  const policy = create(ExitPolicySchema, { rules });
  validateExitPolicy(policy);
  return policy;
}

function parsePorts(text: string, item: string): [number, number] {
  if (text === "*") return [1, 65535];
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (m === null) throw new ExitPolicyError(`exit rule "${item}": ports ${JSON.stringify(text)} must be "*", N or N-M`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  return [min, max];
}

/** The text form of a policy (parseExitPolicy's inverse up to whitespace and port merging). */
export function formatExitPolicy(policy: ExitPolicy | undefined): string {
  const rules = policy?.rules ?? [];
  if (rules.length === 0) return "reject *:*";
  return rules
    .map((r) => {
      const action = r.action === ExitAction.ACCEPT ? "accept" : "reject";
      const range = parsePrefix(r.addressPrefix);
      const address = range?.family === 6 ? bracketIpv6(r.addressPrefix) : r.addressPrefix;
      const ports = r.portMin === 1 && r.portMax === 65535 ? "*" : r.portMin === r.portMax ? `${r.portMin}` : `${r.portMin}-${r.portMax}`;
      return `${action} ${address}:${ports}`;
    })
    .join(",");
}

function bracketIpv6(prefix: string): string {
  const slash = prefix.indexOf("/");
  return slash < 0 ? `[${prefix}]` : `[${prefix.slice(0, slash)}]${prefix.slice(slash)}`;
}

/** Throws ExitPolicyError for what descriptor.proto forbids (rule count, action, prefix, ports). */
export function validateExitPolicy(policy: ExitPolicy): void {
  if (policy.rules.length > MAX_EXIT_RULES) {
    throw new ExitPolicyError(`exit policy has ${policy.rules.length} rules; at most ${MAX_EXIT_RULES} are allowed`);
  }
  policy.rules.forEach((rule, i) => {
    const where = `exit rule ${i + 1}`;
    if (rule.action !== ExitAction.ACCEPT && rule.action !== ExitAction.REJECT) {
      throw new ExitPolicyError(`${where}: action must be ACCEPT or REJECT`);
    }
    if (rule.addressPrefix !== "*" && parsePrefix(rule.addressPrefix) === undefined) {
      throw new ExitPolicyError(`${where}: address_prefix ${JSON.stringify(rule.addressPrefix.slice(0, 64))} is not "*" or a CIDR prefix`);
    }
    if (rule.portMin < 1 || rule.portMin > 65535 || rule.portMax < rule.portMin || rule.portMax > 65535) {
      throw new ExitPolicyError(`${where}: ports ${rule.portMin}-${rule.portMax} must satisfy 1 <= port_min <= port_max <= 65535`);
    }
  });
}

/**
 * Whether the policy lets a stream out to address:port (first matching rule decides; no match
 * rejects). With no address (a hostname the exit will resolve), whether SOME address is
 * allowed on that port: what a proxy needs to pick a candidate exit.
 */
export function exitPolicyAllows(policy: ExitPolicy | undefined, address: string | undefined, port: number): boolean {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return false;
  const rules = compile(policy);
  if (address === undefined) return acceptsSomewhere(rules, port, port);
  const ip = parseIp(address);
  if (ip === undefined) return false;
  for (const rule of rules) {
    if (port < rule.portMin || port > rule.portMax) continue;
    if (rule.ranges.some((r) => r.family === ip.family && r.low <= ip.value && ip.value <= r.high)) return rule.accept;
  }
  return false;
}

/**
 * Whether the policy lets a stream out to `address` on at least one port: what an exit may
 * tell a client about through RESOLVE.
 */
export function exitPolicyAllowsAddress(policy: ExitPolicy | undefined, address: string): boolean {
  const ip = parseIp(address);
  if (ip === undefined) return false;
  const single: IpRange = { family: ip.family, low: ip.value, high: ip.value };
  const rules = compile(policy).flatMap((rule) =>
    rule.ranges.some((r) => r.family === ip.family && r.low <= ip.value && ip.value <= r.high) ? [{ ...rule, ranges: [single] }] : [],
  );
  return acceptsSomewhere(rules, 1, 65535);
}

/** Whether the policy accepts at least one address and port: the Exit flag's rule. */
export function exitPolicyAcceptsAny(policy: ExitPolicy | undefined): boolean {
  return acceptsSomewhere(compile(policy), 1, 65535);
}

const compiled = new WeakMap<ExitPolicy, CompiledRule[]>();

function compile(policy: ExitPolicy | undefined): CompiledRule[] {
  if (policy === undefined) return [];
  let rules = compiled.get(policy);
  if (rules === undefined) {
    rules = policy.rules.flatMap((r) => {
      const ranges = r.addressPrefix === "*" ? [WHOLE_FAMILY[4], WHOLE_FAMILY[6]] : [parsePrefix(r.addressPrefix)];
      if (ranges.some((x) => x === undefined)) return []; // invalid rules never match
      return [{ accept: r.action === ExitAction.ACCEPT, ranges: ranges as IpRange[], portMin: r.portMin, portMax: r.portMax }];
    });
    compiled.set(policy, rules);
  }
  return rules;
}

/**
 * Is some (address, port) with port in [portMin, portMax] accepted? True iff some accept rule
 * has a point (in that port window) that no earlier rule covers. Exact: for each accept rule,
 * sweep the port axis at every boundary of an earlier rule and check whether the earlier
 * rules' address ranges cover the accept rule's range there.
 */
function acceptsSomewhere(rules: CompiledRule[], portMin: number, portMax: number): boolean {
  for (let k = 0; k < rules.length; k++) {
    const rule = rules[k];
    if (!rule.accept) continue;
    const lo = Math.max(portMin, rule.portMin);
    const hi = Math.min(portMax, rule.portMax);
    if (lo > hi) continue;
    for (const range of rule.ranges) {
      const earlier = rules
        .slice(0, k)
        .filter((e) => e.portMin <= hi && e.portMax >= lo)
        .flatMap((e) => e.ranges.filter((r) => r.family === range.family && r.low <= range.high && r.high >= range.low).map((r) => ({ r, e })));
      const cuts = new Set<number>([lo]);
      for (const { e } of earlier) {
        if (e.portMin > lo) cuts.add(e.portMin);
        if (e.portMax + 1 <= hi) cuts.add(e.portMax + 1);
      }
      for (const port of cuts) {
        const covering = earlier.filter(({ e }) => e.portMin <= port && port <= e.portMax).map(({ r }) => r);
        if (!covers(covering, range)) return true;
      }
    }
  }
  return false;
}

function covers(ranges: IpRange[], target: IpRange): boolean {
  const sorted = [...ranges].sort((a, b) => (a.low < b.low ? -1 : a.low > b.low ? 1 : 0));
  let next = target.low; // first address not yet known to be covered
  for (const r of sorted) {
    if (r.low > next) return false;
    if (r.high >= next) next = r.high + 1n;
    if (next > target.high) return true;
  }
  return next > target.high;
}
