/**
 * One link per relay, shared by the circuits of the suite's onion client and service, and the
 * circuits they build through consensus relays.
 */
import type { ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import type { LinkSpecifier } from "../../gen/meowonion/v1/relay_pb.js";
import { hex } from "./bytes.js";
import { ClientCircuit, type RelayInfo, hostPort } from "./circuit.js";
import { type Link, connectLink } from "./link.js";

export function relayInfoOf(r: ConsensusRelay): RelayInfo {
  return { host: r.ipv4Address || r.ipv6Address, port: r.orPort, identity: r.identityKey, onionKey: r.ntorOnionKey, nickname: r.nickname };
}

/** An address and an identity key, as EXTEND2, IntroPoint and IntroducePlaintext carry them. */
export function linkSpecifiersOf(r: RelayInfo): LinkSpecifier[] {
  return [
    { $typeName: "meowonion.v1.LinkSpecifier", specifier: { case: "address", value: hostPort(r.host, r.port) } },
    { $typeName: "meowonion.v1.LinkSpecifier", specifier: { case: "identityKey", value: r.identity } },
  ];
}

/** The relay named by link specifiers and an onion key; throws without an address or identity. */
export function relayFromSpecifiers(specifiers: LinkSpecifier[], onionKey: Uint8Array): RelayInfo {
  let address: string | undefined;
  let identity: Uint8Array | undefined;
  for (const ls of specifiers) {
    if (ls.specifier.case === "address") address ??= ls.specifier.value;
    if (ls.specifier.case === "identityKey") identity = ls.specifier.value;
  }
  const m = address ? /^\[?([^\]]+?)\]?:(\d+)$/.exec(address) : null;
  if (!m || !identity || identity.length !== 32 || onionKey.length !== 32) throw new Error("link specifiers without an address and a 32-byte identity key, or a bad onion key");
  return { host: m[1], port: Number(m[2]), identity, onionKey };
}

export class LinkPool {
  private links = new Map<string, Promise<Link>>();

  constructor(private readonly timeoutMs: number) {}

  link(r: RelayInfo): Promise<Link> {
    const k = `${r.host}:${r.port}:${hex(r.identity)}`;
    let p = this.links.get(k);
    if (!p) {
      p = connectLink(r.host, r.port, { expectIdentity: r.identity, timeoutMs: this.timeoutMs }).then((l) => {
        // Every circuit on the link listens to it; a service's link carries many.
        l.setMaxListeners(0);
        l.keepReceived = false;
        return l;
      });
      this.links.set(k, p);
      p.then(
        (l) => l.once("close", () => this.links.get(k) === p && this.links.delete(k)),
        () => this.links.delete(k),
      );
    }
    return p;
  }

  /** A circuit through `path` (CREATE2 to the first relay, EXTEND2 to the others). */
  async circuit(path: RelayInfo[]): Promise<ClientCircuit> {
    const c = new ClientCircuit(await this.link(path[0]));
    await c.create(path[0], { timeoutMs: this.timeoutMs });
    for (const r of path.slice(1)) await c.extend(r, { timeoutMs: this.timeoutMs });
    return c;
  }

  close(): void {
    for (const p of this.links.values()) p.then((l) => l.close("done"), () => {});
    this.links.clear();
  }
}
