/**
 * The client's links: one anonymous link per relay, shared by every circuit through it, closed
 * after a while without circuits. Frames of each read go to their circuits in runs (a batch of
 * relay cells, or one other frame); a closed link closes its circuits.
 */
import { type Logger, componentLogger } from "../common/log.js";
import { type Channel, ChannelManager } from "../link/channels.js";
import { forEachCircuitRun } from "../onion/frame.js";
import { KeystreamPool } from "../onion/relay-crypto.js";
import { CircuitContext, type ClientCircuit, type RelayTarget } from "./circuit.js";

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Client links without circuits close after this long (Tor closes idle client channels after minutes too). */
const CLIENT_LINK_IDLE_MS = 300_000;

export class ClientChannelManager {
  readonly #manager: ChannelManager<ClientCircuit>;
  /** What the circuits on these links share. */
  readonly context: CircuitContext;

  constructor(options: { connectTimeoutMs?: number; log?: Logger } = {}) {
    const log = options.log ?? componentLogger("circuit");
    this.context = new CircuitContext(log, new KeystreamPool());
    this.#manager = new ChannelManager<ClientCircuit>({
      identity: undefined,
      idleTimeoutMs: CLIENT_LINK_IDLE_MS,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      log,
      onChannel: (channel) => {
        channel.link.onFrames = (frames) =>
          forEachCircuitRun(frames, (from, to, relay) => channel.circuits.get(frames[from].circuitId)?.receive(frames, from, to, relay));
      },
      onChannelClosed: (channel) => {
        for (const circuit of [...channel.circuits.values()]) circuit.channelClosed();
      },
    });
  }

  /** The channel to `target`: its link (opened and checked against its identity key if there is none) and its circuits. */
  channel(target: RelayTarget): Promise<Channel<ClientCircuit>> {
    return this.#manager.channelTo(target.identityKey, target.host, target.port);
  }

  /** Close every link; their circuits close with CHANNEL_CLOSED. */
  close(): void {
    this.#manager.close();
  }
}
