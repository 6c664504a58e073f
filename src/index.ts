/**
 * The package's entry (`import { MeowOnion } from "meowonion"`): the library client, the error
 * vocabulary it reports in, and the start functions of every node for programs that embed a
 * relay, an authority, an onion service, a proxy or a whole local network. Documented, with a
 * runnable example each, in docs/library.md.
 */
export {
  MeowOnion,
  OnionClient,
  type BootstrapPhaseName,
  type BootstrapStatus,
  type DirectoryAuthority,
  type MeowOnionOptions,
  type SocksListenOptions,
  type StreamOptions,
} from "./library/client.js";
export { IsolationToken } from "./library/isolation.js";
export { OnionSocket } from "./library/socket.js";
export { CircuitError, ERROR_KINDS, type ErrorKind, MeowOnionError, StreamError } from "./onion/errors.js";
export { type ClientPorts, type ProxyHandle, type ProxyOptions, startProxy } from "./proxy/proxy.js";
export { type OnionServiceHandle, type OnionServiceNodeOptions, startOnionService } from "./proxy/onion/start.js";
export { type RelayHandle, type RelayOptions, startRelay } from "./relay/relay.js";
export { type DirectoryOptions, type DirectoryServer, startDirectory } from "./directory/server.js";
export { type NetworkOptions, type RunningNetwork, startNetwork } from "./network/network.js";
