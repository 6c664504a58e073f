/**
 * The suite's reference directory authority: a minimal, single-authority DirectoryService written
 * from directory.proto / consensus.proto / descriptor.proto with conformance/lib only. Used as the
 * basis of the self-test's faulty directories (each fault breaks one rule of the spec). It is a
 * test network's authority for onion services: HSDIR for every relay offering it, at once.
 */
import net from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { ConsensusSchema, RelayFlag, SignedConsensusSchema, type ConsensusRelay, type SignedConsensus } from "../../../gen/meowonion/v1/consensus_pb.js";
import {
  type RelayDescriptor,
  RelayDescriptorSchema,
  RelayFeature,
  type SignedDescriptor,
  SignedDescriptorSchema,
  ExitAction,
  file_meowonion_v1_descriptor,
} from "../../../gen/meowonion/v1/descriptor_pb.js";
import { DirectoryService, HeartbeatBodySchema, file_meowonion_v1_directory } from "../../../gen/meowonion/v1/directory_pb.js";
import { file_meowonion_v1_consensus } from "../../../gen/meowonion/v1/consensus_pb.js";
import { compare, equal, hex } from "../bytes.js";
import { DOMAIN, type Ed25519Key, ed25519Generate, sha256, signDomain, verifyDomain } from "../crypto.js";
import { hasAccept, validPrefix } from "../exit-policy.js";
import { connectLink } from "../link.js";
import { hsMac, int8, periodAt, sha3 } from "../onion-keys.js";
import { type Served, addReflection, serveConnect } from "./serve.js";

export interface DirectoryFaults {
  skipDescriptorSignature?: boolean;
  acceptReplayedHeartbeat?: boolean;
  acceptStaleHeartbeat?: boolean;
  /** Sign the consensus with a key other than the one announced. */
  wrongConsensusKey?: boolean;
  /** List relays without testing reachability / identity. */
  listUnreachable?: boolean;
  unsortedConsensus?: boolean;
  /** valid_until = valid_after + interval (spec: + 3 * interval). */
  badValidity?: boolean;
  acceptFuturePublished?: boolean;
  acceptOlderDescriptor?: boolean;
  noReflection?: boolean;
  /** Accept descriptors with invalid addresses. */
  skipAddressCheck?: boolean;
  /** HSDIR for every relay, whether its descriptor offers RELAY_FEATURE_HSDIR or not. */
  hsDirFlagWithoutFeature?: boolean;
  /** shared_random.period is one more than the period of valid_after. */
  wrongSharedRandomPeriod?: boolean;
}

export interface RefDirectoryOptions {
  host?: string;
  port?: number;
  intervalSeconds?: number;
  heartbeatTimeoutSeconds?: number;
  faults?: DirectoryFaults;
  key?: Ed25519Key;
}

interface Entry {
  signed: SignedDescriptor;
  desc: RelayDescriptor;
  publishedMs: number;
  lastHeartbeat: number;
  nonces: Map<string, number>;
  beats: number[];
  reachable: boolean;
  reachableSince: number;
  checking: boolean;
}

const MAX_SKEW_MS = 5 * 60_000;
/** Onion-service time periods: Tor's (onion_service.proto TIME PERIODS). */
const HS_PERIODS = { periodLengthMinutes: 1440, rotationOffsetMinutes: 720 };
const HEARTBEAT_WINDOW_MS = 60_000;

function bad(msg: string, code = Code.InvalidArgument): ConnectError {
  return new ConnectError(msg, code);
}

function validIpv4Unicast(a: string): boolean {
  if (net.isIPv4(a) === false) return false;
  const o = a.split(".").map(Number);
  if (o.every((x) => x === 0)) return false;
  if (o[0] >= 224 && o[0] <= 239) return false;
  if (o.every((x) => x === 255)) return false;
  return true;
}

export class RefDirectory {
  readonly key: Ed25519Key;
  private readonly signingKey: Ed25519Key;
  readonly faults: DirectoryFaults;
  readonly interval: number;
  readonly heartbeatTimeout: number;
  url = "";
  private entries = new Map<string, Entry>();
  private current: SignedConsensus | undefined;
  private currentBytes: Uint8Array | undefined;
  private watchers = new Set<(c: SignedConsensus) => void>();
  private served: Served | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Per period, what the last consensus of that period carried: its value and this authority's next commit. */
  private sharedRandomSeen = new Map<bigint, { value: Uint8Array; nextCommit: Uint8Array }>();

  constructor(private readonly opts: RefDirectoryOptions = {}) {
    this.key = opts.key ?? ed25519Generate();
    this.faults = opts.faults ?? {};
    this.signingKey = this.faults.wrongConsensusKey ? ed25519Generate() : this.key;
    this.interval = opts.intervalSeconds ?? 2;
    this.heartbeatTimeout = opts.heartbeatTimeoutSeconds ?? 90;
  }

  private routes = (router: ConnectRouter) => {
    router.service(DirectoryService, {
      publishDescriptor: (req) => this.publish(req.descriptor),
      heartbeat: (req) => this.heartbeat(req.heartbeat, req.signature),
      getConsensus: () => {
        if (!this.current) throw bad("no consensus yet", Code.Unavailable);
        return { consensus: this.current };
      },
      watchConsensus: (_req, ctx) => this.watch(ctx.signal),
      getDescriptor: (req) => {
        if (req.identityKey.length !== 32) throw bad("identity_key must be 32 bytes");
        const e = this.entries.get(hex(req.identityKey));
        if (!e) throw bad("unknown relay", Code.NotFound);
        return { descriptor: e.signed };
      },
      getVote: () => {
        throw bad("votes are not kept by the reference authority", Code.NotFound);
      },
      getConsensusSignature: () => {
        throw bad("no consensus with that digest", Code.NotFound);
      },
    });
    if (!this.faults.noReflection) addReflection(router, [file_meowonion_v1_directory, file_meowonion_v1_consensus, file_meowonion_v1_descriptor], [DirectoryService.typeName]);
  };

  private async *watch(signal: AbortSignal): AsyncGenerator<{ consensus: SignedConsensus }> {
    const queue: SignedConsensus[] = this.current ? [this.current] : [];
    let wake: (() => void) | undefined;
    const w = (c: SignedConsensus) => {
      queue.push(c);
      wake?.();
    };
    this.watchers.add(w);
    signal.addEventListener("abort", () => wake?.());
    try {
      while (!signal.aborted) {
        while (queue.length) yield { consensus: queue.shift()! };
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      this.watchers.delete(w);
    }
  }

  private publish(sd: SignedDescriptor | undefined) {
    if (!sd) throw bad("descriptor is required");
    const size = toBinary(SignedDescriptorSchema, sd).length;
    if (size > 8192) throw bad(`signed descriptor is ${size} bytes, above 8 KiB`, Code.ResourceExhausted);
    let d: RelayDescriptor;
    try {
      d = fromBinary(RelayDescriptorSchema, sd.descriptor);
    } catch {
      throw bad("descriptor bytes do not decode");
    }
    if (!this.faults.skipDescriptorSignature && !verifyDomain(d.identityKey, DOMAIN.descriptor, sd.descriptor, sd.signature)) {
      throw bad("descriptor signature does not verify against its identity_key", Code.Unauthenticated);
    }
    this.validate(d);
    const now = Date.now();
    const pub = timestampMs(d.published!);
    if (pub > now + MAX_SKEW_MS && !this.faults.acceptFuturePublished) throw bad("published more than 5 minutes in the future", Code.OutOfRange);
    if (timestampMs(d.expires!) <= now) throw bad("descriptor expired", Code.OutOfRange);
    const k = hex(d.identityKey);
    const held = this.entries.get(k);
    if (held) {
      if (equal(held.signed.descriptor, sd.descriptor)) throw bad("identical descriptor already held", Code.AlreadyExists);
      if (pub <= held.publishedMs && !this.faults.acceptOlderDescriptor) throw bad("descriptor not newer than the one held", Code.FailedPrecondition);
    } else if (this.entries.size >= 10_000) throw bad("relay limit reached", Code.ResourceExhausted);
    const e: Entry = {
      signed: sd,
      desc: d,
      publishedMs: pub,
      lastHeartbeat: held?.lastHeartbeat ?? 0,
      nonces: held?.nonces ?? new Map(),
      beats: held?.beats ?? [],
      reachable: false,
      reachableSince: 0,
      checking: false,
    };
    this.entries.set(k, e);
    void this.check(e);
    return { descriptorDigest: hex(sha256(sd.descriptor)) };
  }

  private validate(d: RelayDescriptor): void {
    if (!/^[A-Za-z0-9]{1,19}$/.test(d.nickname)) throw bad("nickname must be 1..19 characters of [A-Za-z0-9]");
    if (d.identityKey.length !== 32) throw bad("identity_key must be 32 bytes");
    if (d.ntorOnionKey.length !== 32) throw bad("ntor_onion_key must be 32 bytes");
    if (!this.faults.skipAddressCheck) {
      if (!d.ipv4Address && !d.ipv6Address) throw bad("an address is required");
      if (d.ipv4Address && !validIpv4Unicast(d.ipv4Address)) throw bad(`bad ipv4_address ${JSON.stringify(d.ipv4Address)}`);
      if (d.ipv6Address && !net.isIPv6(d.ipv6Address)) throw bad("bad ipv6_address");
      if (d.orPort < 1 || d.orPort > 65535) throw bad("or_port must be 1..65535");
    }
    const rules = d.exitPolicy?.rules ?? [];
    if (rules.length > 256) throw bad("too many exit rules");
    for (const r of rules) {
      if (r.action !== ExitAction.ACCEPT && r.action !== ExitAction.REJECT) throw bad("exit rule action unspecified");
      if (!validPrefix(r.addressPrefix)) throw bad("bad exit rule address");
      if (r.portMin < 1 || r.portMin > 65535 || r.portMax < r.portMin || r.portMax > 65535) throw bad("bad exit rule ports");
    }
    if (d.family.length > 64 || d.family.some((f) => f.length !== 32)) throw bad("bad family");
    if (!d.published || !d.expires) throw bad("published and expires are required");
    const span = timestampMs(d.expires) - timestampMs(d.published);
    if (span <= 0 || span > 48 * 3600_000) throw bad("expires must be after published and at most 48 hours later");
    if (Buffer.byteLength(d.softwareVersion) > 64) throw bad("software_version above 64 bytes");
  }

  private heartbeat(bytes: Uint8Array, signature: Uint8Array) {
    let body;
    try {
      body = fromBinary(HeartbeatBodySchema, bytes);
    } catch {
      throw bad("heartbeat does not decode");
    }
    if (!verifyDomain(body.identityKey, DOMAIN.heartbeat, bytes, signature)) throw bad("heartbeat signature does not verify", Code.Unauthenticated);
    const e = this.entries.get(hex(body.identityKey));
    if (!e) throw bad("no descriptor for this relay", Code.NotFound);
    const now = Date.now();
    const sent = body.sentAt ? timestampMs(body.sentAt) : 0;
    if (Math.abs(now - sent) > HEARTBEAT_WINDOW_MS && !this.faults.acceptStaleHeartbeat) throw bad("sent_at outside 60 s of our clock", Code.OutOfRange);
    for (const [n, t] of e.nonces) if (now - t > 2 * HEARTBEAT_WINDOW_MS) e.nonces.delete(n);
    const nk = hex(body.nonce);
    if (e.nonces.has(nk) && !this.faults.acceptReplayedHeartbeat) throw bad("replayed heartbeat nonce", Code.AlreadyExists);
    e.beats = e.beats.filter((t) => now - t < 60_000);
    if (e.beats.length >= 10) throw bad("more than 10 heartbeats a minute", Code.ResourceExhausted);
    e.beats.push(now);
    e.nonces.set(nk, now);
    e.lastHeartbeat = now;
    return { running: this.isRunning(e) };
  }

  private isRunning(e: Entry): boolean {
    const now = Date.now();
    if (timestampMs(e.desc.expires!) <= now) return false;
    if (now - e.lastHeartbeat > this.heartbeatTimeout * 1000) return false;
    return this.faults.listUnreachable || e.reachable;
  }

  private async check(e: Entry): Promise<void> {
    if (e.checking || this.faults.listUnreachable) return;
    e.checking = true;
    try {
      const link = await connectLink(e.desc.ipv4Address || e.desc.ipv6Address, e.desc.orPort, { expectIdentity: e.desc.identityKey, timeoutMs: 3000 });
      link.close("reachability test done");
      if (!e.reachable) e.reachableSince = Date.now();
      e.reachable = true;
    } catch {
      e.reachable = false;
    } finally {
      e.checking = false;
    }
  }

  private rebuild(): void {
    const now = Date.now();
    const period = Math.floor(now / 1000 / this.interval) * this.interval;
    const running = [...this.entries.values()].filter((e) => this.isRunning(e));
    const weight = (d: RelayDescriptor) => {
      const avg = d.bandwidth?.averageBytesPerSecond ?? 0n;
      const obs = d.bandwidth?.observedBytesPerSecond ?? 0n;
      const w = obs > 0n && obs < avg ? obs : avg;
      return w > 10_000_000_000n ? 10_000_000_000n : w;
    };
    const weights = running.map((e) => weight(e.desc)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const fastCut = weights[Math.floor(weights.length / 8)] ?? 0n;
    const relays: ConsensusRelay[] = running.map((e) => {
      const d = e.desc;
      const w = weight(d);
      const flags = [RelayFlag.RUNNING, RelayFlag.VALID];
      const fast = w >= 100_000n || w >= fastCut;
      if (fast) flags.push(RelayFlag.FAST);
      if (now - e.reachableSince >= 600_000) flags.push(RelayFlag.STABLE);
      if (hasAccept(d.exitPolicy)) flags.push(RelayFlag.EXIT);
      // A test network's HSDir uptime of 0: no Stable needed either (consensus.proto RELAY_FLAG_HSDIR).
      if (d.features.includes(RelayFeature.HSDIR) || this.faults.hsDirFlagWithoutFeature) flags.push(RelayFlag.HSDIR);
      return {
        $typeName: "meowonion.v1.ConsensusRelay",
        nickname: d.nickname,
        identityKey: d.identityKey,
        ntorOnionKey: d.ntorOnionKey,
        ipv4Address: d.ipv4Address,
        ipv6Address: d.ipv6Address,
        orPort: d.orPort,
        flags,
        bandwidthWeight: w,
        exitPolicy: d.exitPolicy,
        family: d.family,
        descriptorDigest: sha256(e.signed.descriptor),
        published: d.published,
        features: d.features,
      };
    });
    relays.sort((a, b) => compare(a.identityKey, b.identityKey));
    if (this.faults.unsortedConsensus) relays.reverse();
    const total = relays.reduce((s, r) => s + r.bandwidthWeight, 0n);
    const c = create(ConsensusSchema, {
      validAfter: timestampFromMs(period * 1000),
      freshUntil: timestampFromMs((period + this.interval) * 1000),
      validUntil: timestampFromMs((period + (this.faults.badValidity ? 1 : 3) * this.interval) * 1000),
      relays,
      authorityKeys: [this.key.publicKey],
      totals: {
        total,
        guard: relays.filter((r) => r.flags.includes(RelayFlag.GUARD)).reduce((s, r) => s + r.bandwidthWeight, 0n),
        exit: relays.filter((r) => r.flags.includes(RelayFlag.EXIT)).reduce((s, r) => s + r.bandwidthWeight, 0n),
      },
      onionServiceParams: HS_PERIODS,
      sharedRandom: this.sharedRandom(periodAt(period * 1000, HS_PERIODS.periodLengthMinutes, HS_PERIODS.rotationOffsetMinutes).num),
    });
    const bytes = toBinary(ConsensusSchema, c);
    if (this.currentBytes && equal(bytes, this.currentBytes)) return;
    this.currentBytes = bytes;
    this.current = create(SignedConsensusSchema, {
      consensus: bytes,
      signatures: [{ authorityKey: this.key.publicKey, signature: signDomain(this.signingKey, DOMAIN.consensus, bytes) }],
    });
    for (const w of this.watchers) w(this.current);
  }

  /**
   * consensus.proto SHARED RANDOMNESS with this single authority: its reveal for `p` counts when
   * the last consensus of p-1 listed the matching commit; with none, the disaster value.
   */
  private sharedRandom(p: bigint) {
    const reveal = (q: bigint) => hsMac(this.key.seed, "meowonion-shared-random-reveal", int8(q));
    const before = this.sharedRandomSeen.get(p - 1n);
    const previous = before?.value ?? new Uint8Array(32);
    const counted = before && equal(before.nextCommit, sha3(reveal(p)));
    const current = counted
      ? sha3("meowonion-shared-random", int8(p), new Uint8Array([1]), this.key.publicKey, reveal(p), previous)
      : sha3("meowonion-shared-random-disaster", int8(p), previous);
    const nextCommit = sha3(reveal(p + 1n));
    this.sharedRandomSeen.set(p, { value: current, nextCommit });
    this.sharedRandomSeen.delete(p - 2n);
    return {
      period: this.faults.wrongSharedRandomPeriod ? p + 1n : p,
      current,
      previous,
      nextCommits: [{ authorityKey: this.key.publicKey, commit: nextCommit }],
    };
  }

  async start(): Promise<void> {
    this.served = await serveConnect(this.routes, this.opts.host ?? "127.0.0.1", this.opts.port ?? 0);
    this.url = this.served.url;
    this.rebuild();
    let lastCheck = 0;
    this.timer = setInterval(() => {
      if (Date.now() - lastCheck > this.interval * 1000) {
        lastCheck = Date.now();
        for (const e of this.entries.values()) void this.check(e);
      }
      this.rebuild();
    }, 250);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.served?.stop();
  }
}
