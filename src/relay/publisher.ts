/**
 * Keeps the relay listed: publishes its signed descriptor to every directory authority at
 * start, when it changes (onion key rotation) and well before it expires, and sends signed
 * heartbeats (a publication the authority stores counts as one). Each authority has its own
 * schedule: a heartbeat every heartbeatMs, each wait drawn from 0.9–1.1 of it so that relays
 * started together (a local network of a thousand) drift apart instead of reaching the
 * authorities in step; a publication that fails is retried with jittered exponential backoff
 * (1 s, 2 s, … up to heartbeatMs), a heartbeat answered NOT_FOUND (the authority lost or dropped
 * our descriptor) republishes. Until the current descriptor shows up in a consensus signed by a
 * majority of the pinned authority keys, the consensus is fetched about every heartbeatMs to
 * check ("listed"), as a diff from the one fetched before, once a majority of the authorities
 * answered a heartbeat with "Running"; after that, whenever the consensus held is no longer
 * fresh (EXTEND2 link reuse needs the addresses it lists).
 * `startSpreadMs` delays the first publication by a random share of it (local networks).
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { type ExitPolicy, RelayFeature, type SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import type { Logger } from "../common/log.js";
import { Backoff } from "../common/backoff.js";
import { type DirectoryClient, type HeldConsensus, createDirectoryClient, fetchConsensusFrom } from "../netdoc/directory-client.js";
import { buildSignedDescriptor, sha256 } from "../netdoc/descriptor.js";
import { majority } from "../netdoc/consensus.js";
import { signHeartbeat } from "../netdoc/heartbeat.js";
import type { Ed25519KeyPair } from "../onion/signing.js";

/** A directory authority: its URL and its pinned Ed25519 key. */
export interface DirectoryPin {
  url: string;
  key: Uint8Array;
}

/** What goes into the descriptor (read afresh for every new descriptor). */
export interface DescriptorFields {
  nickname: string;
  ntorOnionKey: Uint8Array;
  address: string;
  orPort: number;
  exitPolicy: ExitPolicy;
  /** Bandwidth rate (average) and burst, bytes per second and bytes. */
  bandwidthBytesPerSecond: number;
  bandwidthBurstBytes: number;
  /** Highest 10-second average of the last day, bytes per second (0: none yet). */
  observedBytesPerSecond: number;
  /** The relay stores onion-service descriptors (RELAY_FEATURE_HSDIR). */
  hsDir: boolean;
}

/** Descriptors are valid 48 h (the spec's maximum) and republished every 18 h, as Tor does. */
const DESCRIPTOR_LIFETIME_MS = 48 * 3600_000;
const REPUBLISH_MS = 18 * 3600_000;
const RPC_TIMEOUT_MS = 10_000;
// A publication an authority has queued is worth waiting for: one given up and retried costs
// it twice (the first is still processed), so publications wait longer than heartbeats.
const PUBLISH_TIMEOUT_MS = 30_000;
const RETRY_INITIAL_MS = 1_000;
const SOFTWARE = "meowonion 0.1.0";

interface Authority {
  pin: DirectoryPin;
  client: DirectoryClient;
  /** It holds our current descriptor. */
  published: boolean;
  /** Publication failures in a row. */
  backoff: Backoff;
  /** Its last heartbeat answer: it votes us Running. */
  running: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** heartbeatMs × 0.9–1.1: never more often than asked by more than a tenth (authorities cap the rate). */
function jittered(ms: number): number {
  return ms * (0.9 + Math.random() / 5);
}

export class Publisher {
  readonly #authorities: Authority[];
  #signed: { descriptor: SignedDescriptor; digest: Buffer; madeAt: number; fields: DescriptorFields } | undefined;
  #listed = false;
  /** The consensus fetched last, as the base of the next fetch's diff. */
  #held: HeldConsensus | undefined;
  #consensus: { freshUntilMs: number; addresses: Map<string, string[]> } | undefined;
  #checks = 0;
  #consensusTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly options: {
      directories: DirectoryPin[];
      identity: Ed25519KeyPair;
      heartbeatMs: number;
      /** Source address of the connections to the authorities (default: the system's choice). */
      localAddress?: string;
      /**
       * The first publication waits a random 0..startSpreadMs (default 0): a local network that
       * starts a thousand relays at once spreads their first publications over this window
       * instead of opening 3,000 connections to the authorities in the same second.
       */
      startSpreadMs?: number;
      descriptor: () => DescriptorFields;
      /** Asked every round: should the descriptor with these fields be replaced (bandwidth changed)? */
      republishWhen?: (published: DescriptorFields) => boolean;
      /** ...but only once it is at least this old. */
      republishAfterMs?: number;
      log: Logger;
      /** Told whenever the listed state changes. */
      onListed?: (listed: boolean) => void;
    },
  ) {
    this.#authorities = options.directories.map((pin) => ({
      pin,
      client: createDirectoryClient(pin.url, { localAddress: options.localAddress, httpVersion: "1.1" }),
      published: false,
      backoff: new Backoff({ initialMs: Math.min(RETRY_INITIAL_MS, options.heartbeatMs), maxMs: options.heartbeatMs }),
      running: false,
      timer: undefined,
    }));
  }

  /** Whether a verified consensus lists the current descriptor. */
  get listed(): boolean {
    return this.#listed;
  }

  /** The addresses the consensus held lists for the relay with this hex identity key. */
  listedAddresses(identityHex: string): readonly string[] {
    return this.#consensus?.addresses.get(identityHex) ?? [];
  }

  /** Publish, heartbeat and check the listing in the background from now on. */
  start(): void {
    if (this.#authorities.length === 0) return;
    const spread = this.options.startSpreadMs ?? 0;
    const delay = spread > 0 ? Math.random() * spread : 0;
    for (const authority of this.#authorities) {
      if (delay === 0) void this.#cycle(authority);
      else authority.timer = setTimeout(() => void this.#cycle(authority), delay).unref();
    }
    this.#scheduleConsensusCheck();
  }

  /** The descriptor changed: sign a new one and publish it everywhere. */
  async republish(): Promise<void> {
    this.#invalidate();
    await Promise.all(this.#authorities.map((a) => this.#publish(a)));
    this.#scheduleConsensusCheck();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#consensusTimer);
    for (const authority of this.#authorities) {
      clearTimeout(authority.timer);
      authority.client.close();
    }
  }

  #invalidate(): void {
    this.#signed = undefined;
    this.#setListed(false);
    for (const authority of this.#authorities) authority.published = false;
  }

  /** One authority's turn: publish if it lacks our descriptor, then heartbeat; schedules the next. */
  async #cycle(authority: Authority): Promise<void> {
    let delay = this.options.heartbeatMs;
    try {
      this.#replaceIfDue();
      const stored = !authority.published && (await this.#publish(authority));
      if (authority.published) {
        authority.backoff.reset();
        // A descriptor the authority stored just now counts as a heartbeat (directory.proto
        // PublishDescriptor); one it already held does not.
        if (!stored) await this.#heartbeat(authority);
      }
      delay = authority.published ? jittered(this.options.heartbeatMs) : authority.backoff.fail();
    } catch (error) {
      this.options.log.error({ err: error, directory: authority.pin.url }, "publication round failed");
    }
    if (!this.#closed) authority.timer = setTimeout(() => void this.#cycle(authority), delay).unref();
  }

  /** Drop the signed descriptor when it is due for replacement: its age, or a bandwidth change. */
  #replaceIfDue(): void {
    const signed = this.#signed;
    if (signed === undefined) return;
    const age = Date.now() - signed.madeAt;
    if (age >= REPUBLISH_MS) this.#invalidate();
    else if (age >= (this.options.republishAfterMs ?? 0) && this.options.republishWhen?.(signed.fields) === true) {
      this.options.log.info("bandwidth changed: republishing the descriptor");
      this.#invalidate();
    }
  }

  #scheduleConsensusCheck(): void {
    clearTimeout(this.#consensusTimer);
    if (this.#closed) return;
    this.#consensusTimer = setTimeout(() => void this.#refreshConsensus().finally(() => this.#scheduleConsensusCheck()), jittered(this.options.heartbeatMs)).unref();
  }

  #current(): { descriptor: SignedDescriptor; digest: Buffer; madeAt: number; fields: DescriptorFields } {
    if (this.#signed !== undefined) return this.#signed;
    const fields = this.options.descriptor();
    const now = Date.now();
    const ipv6 = fields.address.includes(":");
    const descriptor = buildSignedDescriptor(
      {
        nickname: fields.nickname,
        identityKey: this.options.identity.publicKey,
        ntorOnionKey: fields.ntorOnionKey,
        ipv4Address: ipv6 ? "" : fields.address,
        ipv6Address: ipv6 ? fields.address : "",
        orPort: fields.orPort,
        exitPolicy: fields.exitPolicy,
        bandwidth: {
          averageBytesPerSecond: BigInt(fields.bandwidthBytesPerSecond),
          burstBytesPerSecond: BigInt(fields.bandwidthBurstBytes),
          observedBytesPerSecond: BigInt(fields.observedBytesPerSecond),
        },
        published: timestampFromMs(now),
        expires: timestampFromMs(now + DESCRIPTOR_LIFETIME_MS),
        softwareVersion: SOFTWARE,
        // Congestion control is end to end: any relay can be the last hop of a circuit. Every
        // relay is an introduction and rendezvous point; storing descriptors is optional.
        // (Ascending, as descriptor.proto requires.)
        features: [RelayFeature.CONGESTION_CONTROL, ...(fields.hsDir ? [RelayFeature.HSDIR] : []), RelayFeature.ONION_SERVICE_POINTS],
      },
      this.options.identity.privateKey,
    );
    this.#signed = { descriptor, digest: Buffer.from(sha256(descriptor.descriptor)), madeAt: now, fields };
    return this.#signed;
  }

  /** Whether the authority stored the descriptor now (not if it held it already, or refused it). */
  async #publish(authority: Authority): Promise<boolean> {
    const { descriptor } = this.#current();
    try {
      await authority.client.rpc.publishDescriptor({ descriptor }, { timeoutMs: PUBLISH_TIMEOUT_MS });
      authority.published = true;
      this.options.log.info({ directory: authority.pin.url }, "descriptor published");
      return true;
    } catch (error) {
      const e = ConnectError.from(error);
      // ALREADY_EXISTS: it holds exactly these bytes already.
      if (e.code === Code.AlreadyExists) authority.published = true;
      else this.options.log.warn({ directory: authority.pin.url, code: Code[e.code], err: e.rawMessage }, "descriptor publication failed; will retry");
      return false;
    }
  }

  async #heartbeat(authority: Authority): Promise<void> {
    try {
      const { running } = await authority.client.rpc.heartbeat(signHeartbeat(this.options.identity), { timeoutMs: RPC_TIMEOUT_MS });
      authority.running = running;
    } catch (error) {
      const e = ConnectError.from(error);
      if (e.code === Code.NotFound) {
        authority.published = false;
        authority.running = false;
        await this.#publish(authority);
        return;
      }
      this.options.log.warn({ directory: authority.pin.url, code: Code[e.code], err: e.rawMessage }, "heartbeat failed");
    }
  }

  /**
   * Fetch the consensus while the current descriptor is not listed yet, and whenever the one
   * held is no longer fresh: EXTEND2 link reuse needs the addresses it lists for each relay.
   */
  async #refreshConsensus(): Promise<void> {
    const digest = this.#signed?.digest;
    if (this.#closed) return;
    if (this.#listed) {
      if (this.#consensus !== undefined && Date.now() < this.#consensus.freshUntilMs) return;
    } else {
      // No consensus lists us before a majority of the authorities votes us Running (their
      // heartbeat answers say so): until then a fetch (the whole consensus, the first time)
      // would only load the authorities.
      if (digest === undefined || this.#authorities.filter((a) => a.running).length < majority(this.#authorities.length)) return;
    }
    // Each check starts with the next authority, spreading the fetches.
    const first = this.#checks++ % this.#authorities.length;
    const clients = [...this.#authorities.slice(first), ...this.#authorities.slice(0, first)].map((a) => a.client);
    try {
      const fetched = await fetchConsensusFrom(clients, this.#authorities.map((a) => a.pin.key), { timeoutMs: RPC_TIMEOUT_MS, held: this.#held });
      this.#held = { bytes: fetched.signed.consensus, digest: fetched.digest };
      this.#consensus = { freshUntilMs: timestampMs(fetched.consensus.freshUntil!), addresses: addressesByIdentity(fetched.consensus) };
      if (digest !== undefined && this.#signed?.digest === digest) {
        this.#setListed(fetched.consensus.relays.some((r) => digest.equals(r.descriptorDigest)));
      }
    } catch {
      // No verifiable consensus yet (first period, or authorities down): try again later.
    }
  }

  #setListed(listed: boolean): void {
    if (listed === this.#listed) return;
    this.#listed = listed;
    if (listed) this.options.log.info("listed in the consensus");
    this.options.onListed?.(listed);
  }
}

function addressesByIdentity(consensus: Consensus): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of consensus.relays) {
    out.set(Buffer.from(r.identityKey).toString("hex"), [r.ipv4Address, r.ipv6Address].filter((a) => a !== ""));
  }
  return out;
}
