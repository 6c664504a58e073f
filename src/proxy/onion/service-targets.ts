/**
 * Where an onion service's streams go: its port map, virtual port → HOST:PORT (Tor's
 * HiddenServicePort). BEGIN's host is ignored (onion_service.proto step 5); a port that is not
 * mapped is refused with END EXITPOLICY; nothing is resolved, and there is no directory.
 */
import { EndReason } from "../../../gen/meowonion/v1/relay_pb.js";
import { parseHostPort } from "../../common/host-port.js";
import type { EdgeCounters, StreamTargets } from "../../edge/stream-edge.js";
import { connectTcp } from "../../edge/tcp.js";
import { MeowOnionError } from "../../onion/errors.js";

/** One virtual port of a service and where its streams go. */
export interface OnionServicePort {
  virtualPort: number;
  host: string;
  port: number;
}

const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

/**
 * VIRT[:TARGET] as Tor's HiddenServicePort: "80:127.0.0.1:8080", "80:8080" (on 127.0.0.1), or
 * "80" (to `defaultTarget`, else 127.0.0.1:80).
 */
export function parseOnionServicePort(text: string, defaultTarget?: { host: string; port: number }): OnionServicePort {
  const colon = text.indexOf(":");
  const virtual = colon < 0 ? text : text.slice(0, colon);
  const target = colon < 0 ? undefined : text.slice(colon + 1);
  const virtualPort = Number(virtual);
  if (!/^\d+$/.test(virtual) || !isPort(virtualPort)) throw new MeowOnionError("invalid-argument", `${JSON.stringify(text)}: the virtual port must be 1..65535`);
  if (target === undefined) return { virtualPort, ...(defaultTarget ?? { host: "127.0.0.1", port: virtualPort }) };
  if (/^\d+$/.test(target)) return { virtualPort, host: "127.0.0.1", port: Number(target) };
  return { virtualPort, ...parseHostPort(target) };
}

/** Refuses an empty map, a port out of range or a virtual port given twice. */
export function checkOnionServicePorts(ports: readonly OnionServicePort[]): void {
  if (ports.length === 0) throw new MeowOnionError("invalid-argument", "an onion service needs at least one port");
  const seen = new Set<number>();
  for (const p of ports) {
    if (!isPort(p.virtualPort) || !isPort(p.port)) throw new MeowOnionError("invalid-argument", `ports must be 1..65535: ${p.virtualPort} → ${p.port}`);
    if (seen.has(p.virtualPort)) throw new MeowOnionError("invalid-argument", `virtual port ${p.virtualPort} is mapped twice`);
    seen.add(p.virtualPort);
  }
}

export function onionServiceTargets(ports: readonly OnionServicePort[]): StreamTargets {
  const byPort = new Map(ports.map((p) => [p.virtualPort, p]));
  return {
    refuseBegin: (_host, port) => (byPort.has(port) ? undefined : EndReason.EXITPOLICY),
    async open(_host, port, signal) {
      const target = byPort.get(port)!;
      // CONNECTED reveals no address: the client must not learn where the service runs.
      return { socket: await connectTcp(target.host, target.port, signal), address: "", ttlSeconds: 0 };
    },
    refuseResolve: () => EndReason.TORPROTOCOL,
    resolve: async () => [],
    openDirectory: () => undefined,
  };
}

/** What an onion service counts of its streams. */
export class OnionServiceCounters implements EdgeCounters {
  streams = 0;
  streamsOpened = 0;
  bytesFromTargets = 0;
  bytesToTargets = 0;

  opened(): void {
    this.streamsOpened++;
  }

  ended(): void {}
}
