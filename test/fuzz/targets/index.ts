/** Every fuzz target, in the order the short pass and the soak run them. */
import type { FuzzTarget } from "../harness.js";
import { directoryTargets } from "./directory.js";
import { onionTargets } from "./onion.js";
import { directoryRpcTarget } from "./rpc.js";
import { socksTarget } from "./socks.js";

export async function allTargets(): Promise<FuzzTarget<any>[]> {
  return [...onionTargets, ...directoryTargets, socksTarget, directoryRpcTarget];
}
