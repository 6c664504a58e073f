/**
 * Where an exit relay's streams go: names resolved here (the client never resolves them), the
 * exit policy applied to the resolved address, TCP with TCP_NODELAY; RESOLVE answered with
 * only the addresses the policy reaches (relay.proto Resolve); BEGIN_DIR to this relay's
 * descriptor store when it is an HSDir.
 */
import { lookup } from "node:dns/promises";
import net from "node:net";
import type { ExitPolicy } from "../../gen/meowonion/v1/descriptor_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import type { StreamTargets, TargetSocket } from "../edge/stream-edge.js";
import { connectTcp } from "../edge/tcp.js";
import { exitPolicyAcceptsAny, exitPolicyAllows, exitPolicyAllowsAddress } from "../netdoc/exit-policy.js";
import { isValidBeginHost } from "../netdoc/stream-target.js";
import { StreamError } from "../onion/errors.js";

/** How long a client may cache a name's address from CONNECTED, seconds. */
const NAME_TTL_SECONDS = 60;

async function addressesOf(host: string): Promise<string[]> {
  if (net.isIP(host) !== 0) return [host];
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map((a) => a.address);
}

export function exitTargets(policy: ExitPolicy, openDirectory: () => TargetSocket | undefined): StreamTargets {
  const isExit = exitPolicyAcceptsAny(policy);
  const refuse = (host: string): EndReason | undefined => {
    if (!isValidBeginHost(host)) return EndReason.TORPROTOCOL;
    if (!isExit) return EndReason.EXITPOLICY;
    return undefined;
  };
  return {
    refuseBegin: (host, port) => (!Number.isInteger(port) || port < 1 || port > 65535 ? EndReason.TORPROTOCOL : refuse(host)),
    async open(host, port, signal) {
      let addresses: string[];
      try {
        addresses = await addressesOf(host);
      } catch (cause) {
        throw new StreamError(EndReason.RESOLVEFAILED, `${host} did not resolve`, { cause });
      }
      const address = addresses.find((a) => exitPolicyAllows(policy, a, port));
      if (address === undefined) throw new StreamError(EndReason.EXITPOLICY, "the exit policy refuses every address of the host on this port");
      const socket = await connectTcp(address, port, signal);
      return { socket, address, ttlSeconds: net.isIP(host) === 0 ? NAME_TTL_SECONDS : 0 };
    },
    refuseResolve: refuse,
    async resolve(host) {
      const addresses = await addressesOf(host).catch(() => [] as string[]);
      const allowed = addresses.filter((address) => exitPolicyAllowsAddress(policy, address));
      if (addresses.length > 0 && allowed.length === 0) throw new StreamError(EndReason.EXITPOLICY, "the name resolves only outside the exit policy");
      return allowed;
    },
    openDirectory,
  };
}
