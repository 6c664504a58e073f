/**
 * Keeps the relay listed: publishes its signed descriptor to every directory authority at
 * start, when it changes (onion key rotation) and well before it expires, and sends signed
 * heartbeats. A directory that is down or refuses is retried at the next heartbeat; a
 * heartbeat answered NOT_FOUND (the authority lost or dropped our descriptor) republishes.
 * Until the current descriptor shows up in a consensus signed by a majority of the pinned
 * authority keys, each heartbeat round also fetches the consensus to check ("listed"); after
 * that, once the consensus held is no longer fresh (the relay needs the addresses it lists).
 */
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { type ExitPolicy, RelayFeature, type SignedDescriptor } from "../../gen/meowonion/v1/descriptor_pb.js";
import type { Logger } from "../common/log.js";
import { type DirectoryClient, createDirectoryClient, fetchConsensus } from "../netdoc/directory-client.js";
import { buildSignedDescriptor, sha256 } from "../netdoc/descriptor.js";
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
const SOFTWARE = "meowonion 0.1.0";

interface Authority {
  pin: DirectoryPin;
  client: DirectoryClient;
  /** It holds our current descriptor. */
  published: boolean;
}

export class Publisher {
  readonly #authorities: Authority[];
  #signed: { descriptor: SignedDescriptor; digest: Buffer; madeAt: number; fields: DescriptorFields } | undefined;
  #listed = false;
  #consensus: { freshUntilMs: number; addresses: Map<string, string[]> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly options: {
      directories: DirectoryPin[];
      identity: Ed25519KeyPair;
      heartbeatMs: number;
      descriptor: () => DescriptorFields;
      log: Logger;
      /** Told whenever the listed state changes. */
      onListed?: (listed: boolean) => void;
      /** Asked every round: should the descriptor with these fields be replaced (bandwidth changed)? */
      republishWhen?: (published: DescriptorFields) => boolean;
      /** ...but only once it is at least this old. */
      republishAfterMs?: number;
    },
  ) {
    this.#authorities = options.directories.map((pin) => ({ pin, client: createDirectoryClient(pin.url), published: false }));
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
    if (this.#authorities.length > 0) this.#run();
  }

  /** The descriptor changed: sign a new one and publish it everywhere. */
  async republish(): Promise<void> {
    this.#invalidate();
    await Promise.all(this.#authorities.map((a) => this.#publish(a)));
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const authority of this.#authorities) authority.client.close();
  }

  #invalidate(): void {
    this.#signed = undefined;
    this.#setListed(false);
    for (const authority of this.#authorities) authority.published = false;
  }

  async #round(): Promise<void> {
    const signed = this.#signed;
    if (signed !== undefined) {
      const age = Date.now() - signed.madeAt;
      if (age >= REPUBLISH_MS) this.#invalidate();
      else if (age >= (this.options.republishAfterMs ?? 0) && this.options.republishWhen?.(signed.fields) === true) {
        this.options.log.info("bandwidth changed: republishing the descriptor");
        this.#invalidate();
      }
    }
    await Promise.all(
      this.#authorities.map(async (a) => {
        if (!a.published) await this.#publish(a);
        // Right after publishing too: authorities vote a relay Running only once it heartbeats.
        if (a.published) await this.#heartbeat(a);
      }),
    );
    await this.#refreshConsensus();
    this.#schedule();
  }

  #run(): void {
    this.#round().catch((error: unknown) => {
      this.options.log.error({ err: error }, "publication round failed");
      this.#schedule();
    });
  }

  #schedule(): void {
    if (!this.#closed) this.#timer = setTimeout(() => this.#run(), this.options.heartbeatMs).unref();
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

  async #publish(authority: Authority): Promise<void> {
    const { descriptor } = this.#current();
    try {
      await authority.client.rpc.publishDescriptor({ descriptor }, { timeoutMs: RPC_TIMEOUT_MS });
      authority.published = true;
      this.options.log.info({ directory: authority.pin.url }, "descriptor published");
    } catch (error) {
      const e = ConnectError.from(error);
      // ALREADY_EXISTS: it holds exactly these bytes already.
      if (e.code === Code.AlreadyExists) authority.published = true;
      else this.options.log.warn({ directory: authority.pin.url, code: Code[e.code], err: e.rawMessage }, "descriptor publication failed; will retry");
    }
  }

  async #heartbeat(authority: Authority): Promise<void> {
    try {
      await authority.client.rpc.heartbeat(signHeartbeat(this.options.identity), { timeoutMs: RPC_TIMEOUT_MS });
    } catch (error) {
      const e = ConnectError.from(error);
      if (e.code === Code.NotFound) {
        authority.published = false;
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
    const stale = this.#consensus === undefined || Date.now() >= this.#consensus.freshUntilMs;
    if (this.#closed || (!stale && (this.#listed || digest === undefined))) return;
    try {
      const { consensus } = await fetchConsensus(
        this.#authorities.map((a) => a.client),
        this.#authorities.map((a) => a.pin.key),
        { timeoutMs: RPC_TIMEOUT_MS },
      );
      this.#consensus = { freshUntilMs: timestampMs(consensus.freshUntil!), addresses: addressesByIdentity(consensus) };
      if (digest !== undefined && this.#signed?.digest === digest) {
        this.#setListed(consensus.relays.some((r) => digest.equals(r.descriptorDigest)));
      }
    } catch {
      // No verifiable consensus yet (first period, or authorities down): try next round.
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
