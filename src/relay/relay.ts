/**
 * A relay process in one object: keys from the data directory, the link listener, the circuit
 * switch, the optional metrics endpoint, descriptor publishing with heartbeats, and onion key
 * rotation. `startRelay` is the library entry (used in-process by `meowonion network` and the
 * tests); src/relay/main.ts wraps it for the command line.
 */
import net from "node:net";
import type { ExitPolicy } from "../../gen/meowonion/v1/descriptor_pb.js";
import { componentLogger, type Logger } from "../common/log.js";
import { listenLinks } from "../link/link.js";
import { exitPolicyAcceptsAny, parseExitPolicy } from "../netdoc/exit-policy.js";
import { fingerprintHex } from "../onion/keys.js";
import type { Ed25519KeyPair } from "../onion/signing.js";
import { exitTargets } from "./exit-targets.js";
import { HsDirStore } from "./hsdir.js";
import { OnionKeyRing, loadIdentity } from "./keys.js";
import { DEFAULT_LIMITS, type RelayLimits } from "./limits.js";
import { RelayMetrics, serveMetrics } from "./metrics.js";
import { type DirectoryPin, Publisher } from "./publisher.js";
import { CircuitSwitch } from "./switch.js";
import { BandwidthHistory } from "./bandwidth-history.js";
import { LinkThrottle } from "../link/throttle.js";

export type { DirectoryPin } from "./publisher.js";
export type { RelayLimits } from "./limits.js";

export const DEFAULT_NICKNAME = "Unnamed";
export const DEFAULT_EXIT_POLICY = "reject *:*";
/** Bandwidth rate (enforced and advertised) when none is given: Tor's default BandwidthRate, 1 GiB/s. */
export const DEFAULT_BANDWIDTH = 1024 * 1024 * 1024;
/** A bandwidth change of this factor (or the first observation) is republished... */
const OBSERVED_CHANGE_FACTOR = 2;
/** ...once the descriptor is this old (Tor republishes for bandwidth at most every 20 minutes). */
export const DEFAULT_OBSERVED_REPUBLISH_S = 20 * 60;
/** Tor's onion key lifetime (28 days). */
export const DEFAULT_ONION_KEY_ROTATION_S = 28 * 24 * 3600;
export const DEFAULT_HEARTBEAT_S = 30;

export interface RelayOptions {
  /** Address and port to listen on for links (port 0: any free port). */
  host: string;
  port: number;
  /** Address published in the descriptor; defaults to `host` (which must then be a specific address). */
  advertiseHost?: string;
  /**
   * Source address of its connections to other relays and to the authorities (Tor's
   * OutboundBindAddress): on a host with several addresses, what peers see as this relay's
   * address (per-address limits). Default: the system's choice.
   */
  outboundAddress?: string;
  /** Where the identity and onion keys live (created on first start). */
  dataDir: string;
  /** Directory authorities to publish to (URL and pinned Ed25519 key). */
  directories?: DirectoryPin[];
  nickname?: string;
  /** Text form, e.g. "accept 127.0.0.0/8:*,reject *:*" (default: reject everything). */
  exitPolicy?: string;
  /**
   * Bandwidth rate, bytes per second, enforced on everything the relay reads from and writes
   * to its links (one bucket each way, Tor's BandwidthRate) and advertised in the descriptor
   * as its average (default DEFAULT_BANDWIDTH).
   */
  bandwidthBytesPerSecond?: number;
  /** Bucket size, bytes (Tor's BandwidthBurst); default: one second at the rate. */
  bandwidthBurstBytes?: number;
  /** A descriptor whose observed bandwidth changed by 2× is replaced once it is this old (default 1200). */
  observedRepublishSeconds?: number;
  /** Serve Prometheus metrics at http://host:port/metrics (off when undefined). */
  metrics?: { host: string; port: number };
  onionKeyRotationSeconds?: number;
  heartbeatSeconds?: number;
  /** The first publication waits a random 0..publishSpreadMs (default 0; local networks). */
  publishSpreadMs?: number;
  limits?: Partial<RelayLimits>;
  /** Store onion-service descriptors as an HSDir (default true). */
  hsDir?: boolean;
  /** Where the relay logs (default: the process's root logger). */
  logger?: Logger;
}

export interface RelayHandle {
  readonly identity: Ed25519KeyPair;
  /** The Ed25519 identity public key (32 bytes). */
  readonly identityKey: Uint8Array;
  readonly nickname: string;
  /** Advertised address and the port links are accepted on. */
  readonly host: string;
  readonly port: number;
  /** Port of the metrics endpoint, if enabled. */
  readonly metricsPort: number | undefined;
  readonly exitPolicy: ExitPolicy;
  /** The current ntor onion key (32 bytes). */
  readonly ntorOnionKey: Uint8Array;
  readonly circuitCount: number;
  /** Open links (to clients and relays). */
  readonly linkCount: number;
  /** A consensus verified against the pinned directory keys lists the current descriptor. */
  readonly listed: boolean;
  readonly metrics: RelayMetrics;
  /** Bytes read from and written to links since the start (what the bandwidth buckets counted). */
  readonly linkBytes: { read: number; written: number };
  /** The observed bandwidth it publishes: highest 10-second average of the last day, bytes/s. */
  readonly observedBandwidth: number;
  /** Replace the onion key now (the previous one stays valid for the grace period) and republish. */
  rotateOnionKey(): Promise<void>;
  /** DESTROY every circuit, close every link and server, stop publishing. */
  close(): Promise<void>;
}

export async function startRelay(options: RelayOptions): Promise<RelayHandle> {
  const nickname = options.nickname ?? DEFAULT_NICKNAME;
  if (!/^[A-Za-z0-9]{1,19}$/.test(nickname)) throw new Error(`nickname must be 1..19 letters or digits, got '${nickname}'`);
  const advertiseHost = options.advertiseHost ?? options.host;
  if (net.isIP(advertiseHost) === 0 || advertiseHost === "0.0.0.0" || advertiseHost === "::") {
    throw new Error(`cannot advertise '${advertiseHost}': give a specific IP address (--advertise)`);
  }
  if (options.outboundAddress !== undefined && net.isIP(options.outboundAddress) === 0) {
    throw new Error(`outbound address '${options.outboundAddress}' is not an IP address`);
  }
  const exitPolicy = parseExitPolicy(options.exitPolicy ?? DEFAULT_EXIT_POLICY);
  const limits: RelayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const rotationMs = (options.onionKeyRotationSeconds ?? DEFAULT_ONION_KEY_ROTATION_S) * 1000;
  if (!(rotationMs > 0)) throw new Error("onion key rotation must be a positive number of seconds");

  const { identity } = await loadIdentity(options.dataDir);
  const onionKeys = await OnionKeyRing.load(options.dataDir, rotationMs);
  const log = componentLogger("relay", { relay: fingerprintHex(identity.publicKey).slice(0, 16) }, options.logger);
  const metrics = new RelayMetrics();
  const hsDir = (options.hsDir ?? true) ? new HsDirStore(limits.hsDirMaxDescriptors) : undefined;
  const rate = options.bandwidthBytesPerSecond ?? DEFAULT_BANDWIDTH;
  const burst = options.bandwidthBurstBytes ?? rate;
  const throttle = new LinkThrottle(rate, burst);
  const linkBytes = () => ({ read: throttle.read.total, written: throttle.write.total });
  const history = await BandwidthHistory.load(options.dataDir, linkBytes);
  let publisher: Publisher | undefined;
  const relaySwitch = new CircuitSwitch({
    identity,
    onionKeys: () => onionKeys.keys(),
    limits,
    metrics,
    targets: exitTargets(exitPolicy, () => hsDir?.openStream()),
    listedAddresses: (identityHex) => publisher?.listedAddresses(identityHex) ?? [],
    throttle,
    outboundAddress: options.outboundAddress,
    log,
  });
  metrics.links = () => relaySwitch.channels.size;
  const listener = await listenLinks({
    host: options.host,
    port: options.port,
    identity,
    onLink: (link) => relaySwitch.accept(link),
    log,
  });
  history.start();
  const cleanups: (() => Promise<void> | void)[] = [() => history.stop(), () => listener.close(), () => relaySwitch.close()];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  };
  try {
    let metricsPort: number | undefined;
    if (options.metrics !== undefined) {
      const server = await serveMetrics(metrics.registry, options.metrics.host, options.metrics.port);
      metricsPort = server.port;
      cleanups.push(() => server.close());
    }
    const pub = new Publisher({
      directories: options.directories ?? [],
      identity,
      localAddress: options.outboundAddress,
      startSpreadMs: options.publishSpreadMs,
      heartbeatMs: (options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_S) * 1000,
      log,
      onListed: (listed) => {
        metrics.listed = listed ? 1 : 0;
      },
      descriptor: () => ({
        nickname,
        ntorOnionKey: onionKeys.current.publicKey,
        address: advertiseHost,
        orPort: listener.port,
        exitPolicy,
        bandwidthBytesPerSecond: rate,
        bandwidthBurstBytes: burst,
        observedBytesPerSecond: history.observed(),
        hsDir: hsDir !== undefined,
      }),
      republishWhen: (published) => {
        const observed = history.observed();
        const before = published.observedBytesPerSecond;
        return before === 0 ? observed > 0 : observed >= before * OBSERVED_CHANGE_FACTOR || observed * OBSERVED_CHANGE_FACTOR <= before;
      },
      republishAfterMs: (options.observedRepublishSeconds ?? DEFAULT_OBSERVED_REPUBLISH_S) * 1000,
    });
    publisher = pub;
    cleanups.push(() => pub.close());
    pub.start();

    let rotationTimer: NodeJS.Timeout | undefined;
    const rotate = async () => {
      await onionKeys.rotate();
      log.info("onion key rotated");
      await pub.republish();
    };
    const scheduleRotation = () => {
      // setTimeout holds at most ~24.8 days; longer waits are re-armed on the way.
      const wait = Math.min(Math.max(0, onionKeys.nextRotationAt - Date.now()), 2 ** 31 - 1);
      rotationTimer = setTimeout(() => {
        const due = Date.now() >= onionKeys.nextRotationAt;
        void (due ? rotate() : Promise.resolve())
          .catch((error: unknown) => log.error({ err: error }, "onion key rotation failed"))
          .finally(scheduleRotation);
      }, wait).unref();
    };
    scheduleRotation();
    cleanups.push(() => clearTimeout(rotationTimer));

    log.info({ port: listener.port, nickname, exit: exitPolicyAcceptsAny(exitPolicy) }, "relay listening");
    let closing: Promise<void> | undefined;
    return {
      identity,
      identityKey: identity.publicKey,
      nickname,
      host: advertiseHost,
      port: listener.port,
      metricsPort,
      exitPolicy,
      get ntorOnionKey() {
        return onionKeys.current.publicKey;
      },
      get circuitCount() {
        return relaySwitch.circuitCount;
      },
      get linkCount() {
        return relaySwitch.channels.size;
      },
      get listed() {
        return pub.listed;
      },
      metrics,
      get linkBytes() {
        return linkBytes();
      },
      get observedBandwidth() {
        return history.observed();
      },
      rotateOnionKey: rotate,
      close: () => {
        closing ??= closeAll().then(() => log.info("relay stopped"));
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
