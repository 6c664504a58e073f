/** Exit policies (descriptor.proto ExitPolicy / ExitRule): text form and first-match evaluation. */
import net from "node:net";
import { create } from "@bufbuild/protobuf";
import { ExitAction, type ExitPolicy, ExitPolicySchema, type ExitRule } from "../../gen/meowonion/v1/descriptor_pb.js";

/** "accept 127.0.0.0/8:*,reject *:*" → ExitPolicy. Ports: "*", "N", "N-M". */
export function parseExitPolicy(text: string): ExitPolicy {
  const rules: ExitRule[] = [];
  for (const part of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(accept|reject)\s+(\S+):(\*|\d+(?:-\d+)?)$/.exec(part);
    if (!m) throw new Error(`bad exit rule: ${part}`);
    const [lo, hi] = m[3] === "*" ? [1, 65535] : m[3].split("-").map(Number).concat(m[3].includes("-") ? [] : [Number(m[3])]);
    rules.push({ $typeName: "meowonion.v1.ExitRule", action: m[1] === "accept" ? ExitAction.ACCEPT : ExitAction.REJECT, addressPrefix: m[2], portMin: lo, portMax: hi });
  }
  return create(ExitPolicySchema, { rules });
}

function ipv4ToInt(a: string): number {
  return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

function ipv6ToBigInt(a: string): bigint {
  const [head, tail] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined ? (tail ? tail.split(":") : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g || "0", 16)), 0n);
}

export function validPrefix(prefix: string): boolean {
  if (prefix === "*") return true;
  const [addr, bits, extra] = prefix.split("/");
  if (extra !== undefined) return false;
  const fam = net.isIP(addr);
  if (fam === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

export function prefixMatches(prefix: string, address: string): boolean {
  if (prefix === "*") return true;
  const [addr, bitsText] = prefix.split("/");
  const fam = net.isIP(addr);
  if (fam !== net.isIP(address) || fam === 0) return false;
  if (fam === 4) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (bits === 0) return true;
    const mask = bits === 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0;
    return ((ipv4ToInt(addr) & mask) >>> 0) === ((ipv4ToInt(address) & mask) >>> 0);
  }
  const bits = BigInt(bitsText === undefined ? 128 : Number(bitsText));
  const shift = 128n - bits;
  return ipv6ToBigInt(addr) >> shift === ipv6ToBigInt(address) >> shift;
}

/** First matching rule decides; none matches → reject. */
export function policyAllows(policy: ExitPolicy | undefined, address: string, port: number): boolean {
  for (const r of policy?.rules ?? []) {
    if (port >= r.portMin && port <= r.portMax && prefixMatches(r.addressPrefix, address)) return r.action === ExitAction.ACCEPT;
  }
  return false;
}

export function hasAccept(policy: ExitPolicy | undefined): boolean {
  return (policy?.rules ?? []).some((r) => r.action === ExitAction.ACCEPT);
}
