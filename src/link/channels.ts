/**
 * The relay's links ("channels", as Tor calls them): accepted links from clients and relays,
 * links it opened to extend circuits, one per peer relay and reused by every circuit between
 * the two (an authenticated inbound link from a relay is reused to extend to it as well), and
 * closed once idle. Circuits live in the switch; a Channel only holds the per-link circuit
 * table and who waits for the link to drain.
 */
import { type Link, LinkError, connectLink } from "./link.js";
import type { Logger } from "../common/log.js";
import type { Ed25519KeyPair } from "../onion/signing.js";

/** Something blocked on a congested link, resumed on "drain". */
export interface DrainWaiter {
  onDrain(): void;
}

/** One link and the circuits it carries, keyed by this link's circuit id. */
export class Channel<C> {
  readonly circuits = new Map<number, C>();
  readonly #waiters = new Set<DrainWaiter>();

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

  #drain(): void {
    // Snapshot: waiters that fill the link again re-register and go last (round robin).
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (let i = 0; i < waiters.length; i++) {
      if (this.link.congested || this.link.isClosed) {
        for (let j = i; j < waiters.length; j++) this.#waiters.add(waiters[j]);
        return;
      }
      waiters[i].onDrain();
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
}

export class ChannelManager<C> {
  readonly #channels = new Set<Channel<C>>();
  /** Authenticated relay peers by hex identity key: the link reused to extend to them. */
  readonly #byIdentity = new Map<string, Channel<C>>();
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
   * The channel to the relay with `identityKey`: an open one if any, else a new link to
   * host:port that must prove that identity (LinkError "identity-mismatch" otherwise).
   */
  async channelTo(identityKey: Uint8Array, host: string, port: number): Promise<Channel<C>> {
    const key = Buffer.from(identityKey).toString("hex");
    const open = this.#byIdentity.get(key);
    if (open !== undefined && !open.link.isClosed) return open;
    const pending = this.#connecting.get(key);
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
    this.#connecting.set(key, attempt);
    try {
      return await attempt;
    } finally {
      this.#connecting.delete(key);
    }
  }

  /** Close every link (the owner has already sent what it wanted to send). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const channel of [...this.#channels]) channel.link.close();
  }

  #register(link: Link): Channel<C> {
    const channel = new Channel<C>(link);
    this.#channels.add(channel);
    const key = link.peerIdentity === undefined ? undefined : Buffer.from(link.peerIdentity).toString("hex");
    if (key !== undefined && (this.#byIdentity.get(key)?.link.isClosed ?? true)) this.#byIdentity.set(key, channel);
    link.once("close", (error) => {
      this.#channels.delete(channel);
      if (key !== undefined && this.#byIdentity.get(key) === channel) this.#byIdentity.delete(key);
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
