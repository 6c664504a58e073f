/**
 * The relay's links ("channels", as Tor calls them): accepted links from clients and relays,
 * links it opened to extend circuits, reused by every circuit between the two ends when the
 * link is canonical for the address asked for (an authenticated inbound link from a relay too),
 * and closed once idle. Circuits live in the switch; a Channel only holds the per-link circuit
 * table and who waits for the link to drain.
 */
import { type Link, LinkError, connectLink } from "./link.js";
import { canonicalIp } from "./address.js";
import type { LinkThrottle } from "./throttle.js";
import type { Logger } from "../common/log.js";
import type { Ed25519KeyPair } from "../onion/signing.js";

/** Rounds of turns one "drain" serves at most (each round lets every waiter send). */
const MAX_ROUNDS_PER_DRAIN = 64;

/** Something blocked on a congested link, resumed on "drain". */
export interface DrainWaiter {
  onDrain(): void;
}

/** One link and the circuits it carries, keyed by this link's circuit id. */
export class Channel<C> {
  readonly circuits = new Map<number, C>();
  readonly #waiters = new Set<DrainWaiter>();
  #drainScheduled = false;

  constructor(readonly link: Link) {
    link.on("drain", () => this.#drain());
  }

  /** Call `waiter.onDrain()` once the link can take more (at most once per registration). */
  waitForDrain(waiter: DrainWaiter): void {
    this.#waiters.add(waiter);
  }

  cancelWait(waiter: DrainWaiter): void {
    this.#waiters.delete(waiter);
  }

  /**
   * Round robin over the circuits waiting for this link: each gets a turn (a waiter sends a
   * bounded number of cells per turn and registers again if it has more), in rounds, until the
   * link is congested again. Those whose turn did not come go first next time, before any
   * that had a turn: a bulk circuit cannot starve an interactive one (fair circuit scheduling).
   */
  #drain(): void {
    for (let round = 0; round < MAX_ROUNDS_PER_DRAIN && this.#waiters.size > 0; round++) {
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (let i = 0; i < waiters.length; i++) {
        if (this.link.congested || this.link.isClosed) {
          const served = [...this.#waiters];
          this.#waiters.clear();
          for (let j = i; j < waiters.length; j++) this.#waiters.add(waiters[j]);
          for (const waiter of served) this.#waiters.add(waiter);
          return;
        }
        waiters[i].onDrain();
      }
    }
    // Still not congested after that many rounds: let other work run, then go on.
    if (this.#waiters.size > 0 && !this.#drainScheduled && !this.link.isClosed) {
      this.#drainScheduled = true;
      setImmediate(() => {
        this.#drainScheduled = false;
        if (!this.link.congested) this.#drain();
      });
    }
  }
}

export interface ChannelManagerOptions<C> {
  /** Our identity, proven on links we open; undefined for an anonymous client. */
  identity: Ed25519KeyPair | undefined;
  /** Source address of the links it opens (default: the system's choice). */
  localAddress?: string;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** A new channel (accepted or opened): the owner installs its frame handler. */
  onChannel: (channel: Channel<C>) => void;
  /** The link closed: the owner tears down the circuits still on it. */
  onChannelClosed: (channel: Channel<C>, error: Error | undefined) => void;
  /** For the links it opens. */
  log?: Logger;
  /** Bandwidth buckets every link (accepted or opened) counts against. */
  throttle?: LinkThrottle;
}

export class ChannelManager<C> {
  readonly #channels = new Set<Channel<C>>();
  /** Open links to authenticated relay peers by hex identity key (several when their remote addresses differ). */
  readonly #byIdentity = new Map<string, Set<Channel<C>>>();
  /** Links being opened, by hex identity key, host and port. */
  readonly #connecting = new Map<string, Promise<Channel<C>>>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(private readonly options: ChannelManagerOptions<C>) {
    const every = Math.max(50, Math.min(30_000, options.idleTimeoutMs / 2));
    this.#sweep = setInterval(() => this.#closeIdle(), every).unref();
  }

  get size(): number {
    return this.#channels.size;
  }

  /** Adopt a link accepted by the listener. */
  accept(link: Link): Channel<C> | undefined {
    if (this.#closed) {
      link.close();
      return undefined;
    }
    return this.#register(link);
  }

  /**
   * The channel to the relay with `identityKey` at host:port. An open link to that identity is
   * reused only if its remote address is `host` or one of `listedAddresses` (those the
   * consensus gives for the relay): Tor's canonical-connection rule, so that whoever names an
   * address gets a link to that address, and a link that came from elsewhere is not taken for
   * it. Otherwise a new link to host:port must prove the identity (LinkError
   * "identity-mismatch" if not).
   */
  async channelTo(identityKey: Uint8Array, host: string, port: number, listedAddresses: readonly string[] = []): Promise<Channel<C>> {
    const key = Buffer.from(identityKey).toString("hex");
    const open = this.#byIdentity.get(key);
    if (open !== undefined) {
      const wanted = new Set([host, ...listedAddresses].map(canonicalIp));
      for (const channel of open) if (wanted.has(canonicalIp(channel.link.remoteAddress))) return channel;
    }
    const connectKey = `${key} ${canonicalIp(host)} ${port}`;
    const pending = this.#connecting.get(connectKey);
    if (pending !== undefined) return pending;
    const attempt = connectLink({
      host,
      port,
      expectedIdentity: identityKey,
      identity: this.options.identity,
      localAddress: this.options.localAddress,
      timeoutMs: this.options.connectTimeoutMs,
      log: this.options.log,
    }).then((link) => {
      if (this.#closed) {
        link.close();
        throw new LinkError("closed", "relay is shutting down");
      }
      return this.#register(link);
    });
    this.#connecting.set(connectKey, attempt);
    try {
      return await attempt;
    } finally {
      this.#connecting.delete(connectKey);
    }
  }

  /** Close every link (the owner has already sent what it wanted to send). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const channel of [...this.#channels]) channel.link.close();
  }

  #register(link: Link): Channel<C> {
    if (this.options.throttle !== undefined) link.setThrottle(this.options.throttle);
    const channel = new Channel<C>(link);
    this.#channels.add(channel);
    const key = link.peerIdentity === undefined ? undefined : Buffer.from(link.peerIdentity).toString("hex");
    if (key !== undefined) {
      let peers = this.#byIdentity.get(key);
      if (peers === undefined) this.#byIdentity.set(key, (peers = new Set()));
      peers.add(channel);
    }
    link.once("close", (error) => {
      this.#channels.delete(channel);
      const peers = key === undefined ? undefined : this.#byIdentity.get(key);
      if (peers?.delete(channel) && peers.size === 0) this.#byIdentity.delete(key!);
      this.options.onChannelClosed(channel, error);
    });
    this.options.onChannel(channel);
    return channel;
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const channel of this.#channels) {
      if (channel.circuits.size === 0 && now - channel.link.lastActivity >= this.options.idleTimeoutMs) {
        channel.link.close();
      }
    }
  }
}
