/**
 * An onion service run by a proxy (onion_service.proto): it keeps its introduction points,
 * publishes its descriptor to the HSDirs of the current period (and of the previous one early
 * in a period), answers introductions by joining the client at its rendezvous point, and
 * serves the client's streams from its port map. The descriptor is uploaded again when the
 * intro points change, when the HSDirs responsible for it change (a new consensus, a new
 * period), to HSDirs that refused or failed it (with backoff), and every hour in any case.
 */
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import type { Consensus, ConsensusRelay } from "../../../gen/meowonion/v1/consensus_pb.js";
import { CircuitPurpose } from "../../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../../gen/meowonion/v1/link_pb.js";
import { HsDirRequestSchema, HsDirStatus, type Introduce1, OnionDescriptorInnerSchema, type SignedOnionDescriptor } from "../../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../../gen/meowonion/v1/relay_pb.js";
import { Backoff } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { MAX_ONION_DESCRIPTOR_LIFETIME_S, ONION_DESCRIPTOR_VERSION, sealOnionDescriptor } from "../../netdoc/onion-descriptor.js";
import { MeowOnionError } from "../../onion/errors.js";
import { meowHostName } from "../../onion/hs/address.js";
import { blindPublicKey, blindSecretKey, expandEd25519Seed, type ExpandedSecretKey, subcredential } from "../../onion/hs/blinding.js";
import { HSDIR_SPREAD_STORE } from "../../onion/hs/hsdir-ring.js";
import { hsNtorKeyMaterial, hsNtorServiceRespond } from "../../onion/hs/hs-ntor.js";
import { timePeriodBounds, type TimePeriodId } from "../../onion/hs/time-period.js";
import { ed25519PublicFromPrivate } from "../../onion/signing.js";
import type { ConsensusFollower } from "../consensus.js";
import { PathError, conflicts, isOnionServicePoint, sameKey, secureRandom } from "../path.js";
import type { PooledCircuit } from "../pool-view.js";
import type { CircuitPool } from "../pool.js";
import { hsDirRequest, hsDirRings, type PeriodRing } from "./hsdir.js";
import { type OpenedIntroduction, ServiceIntroPoint } from "./service-intro.js";
import { OnionServiceCounters, type OnionServicePort, checkOnionServicePorts, onionServiceTargets } from "./service-targets.js";

/** The onion service limits and timing (Tor's, or of the same order). */
export interface OnionServiceOptions {
  /** The Ed25519 identity seed, 32 bytes: the address is its public key. */
  identitySeed: Uint8Array;
  ports: OnionServicePort[];
  /** Introduction points kept (1..6). Default 3. */
  introPoints?: number;
  /** Streams one client's rendezvous circuit may have open at once. Default 256. */
  maxStreamsPerCircuit?: number;
  /** An intro point is replaced after this many introductions. Default 16384. */
  maxIntroductionsPerPoint?: number;
  /** An intro point is replaced after a random time in [min, max] ms. Default 18–24 hours (Tor's). */
  introPointLifetimeMs?: { min: number; max: number };
  /** Upload the descriptor again after this long even if nothing changed. Default 1 hour. */
  republishMs?: number;
  log: Logger;
}

/** How long the service waits for an HSDir's answer, an intro point's confirmation, a target's connect. */
const HSDIR_TIMEOUT_MS = 10_000;
const ESTABLISH_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 15_000;
/** After the first intro point is up, the first upload waits this long at most for the others. */
const FIRST_PUBLISH_GRACE_MS = 3_000;
/** The previous period's descriptor stays up this long into a period (or half the period, if shorter). */
const PREVIOUS_PERIOD_OVERLAP_MS = 3 * 3600_000;
/** Rendezvous cookies remembered, so that each is answered once. */
const MAX_COOKIES = 4096;

/** What an upload is for: one period's descriptor and the HSDirs responsible for it. */
interface PeriodUpload {
  period: TimePeriodId;
  blindedKey: Uint8Array;
  ring: PeriodRing["ring"];
}

export interface OnionServiceStatus {
  address: string;
  introPoints: string[];
  /** HSDirs holding the current descriptor, per period number. */
  storedAt: Record<number, string[]>;
  introductions: number;
  rendezvous: number;
  streams: number;
}

export class OnionService {
  readonly address: string;
  /** The identity seed: the service's one secret, kept to run it again. */
  readonly identitySeed: Uint8Array;
  readonly counters = new OnionServiceCounters();
  readonly #identityKey: Uint8Array;
  readonly #secret: ExpandedSecretKey;
  readonly #options: Required<Omit<OnionServiceOptions, "identitySeed">>;
  readonly #points = new Set<ServiceIntroPoint>();
  #pendingPoints = 0;
  /** Bumped whenever the intro points change: a new descriptor is due. */
  #introVersion = 0;
  /** Per period: the intro version uploaded and the HSDirs (hex identity) holding it. */
  readonly #uploaded = new Map<number, { introVersion: number; hsDirs: Set<string>; lastFullMs: number }>();
  #revision = 0;
  readonly #cookies = new Set<string>();
  readonly #rendezvous = new Set<PooledCircuit>();
  #introductions = 0;
  #publishing: Promise<void> | undefined;
  #publishAgain = false;
  #publishTimer: NodeJS.Timeout | undefined;
  #introTimer: NodeJS.Timeout | undefined;
  readonly #introBackoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  readonly #publishBackoff = new Backoff({ initialMs: 1_000, maxMs: 60_000 });
  #closed = false;
  #resolvePublished!: () => void;
  #rejectPublished!: (error: Error) => void;
  /** Resolves once a descriptor is on at least one HSDir; rejects if the service closes first. */
  readonly published = new Promise<void>((resolve, reject) => {
    this.#resolvePublished = resolve;
    this.#rejectPublished = reject;
  });

  constructor(
    private readonly pool: CircuitPool,
    private readonly consensus: ConsensusFollower,
    options: OnionServiceOptions,
  ) {
    checkOnionServicePorts(options.ports);
    const introPoints = options.introPoints ?? 3;
    if (!Number.isInteger(introPoints) || introPoints < 1 || introPoints > 6) throw new MeowOnionError("invalid-argument", "an onion service keeps 1..6 intro points");
    if (options.identitySeed.length !== 32) throw new MeowOnionError("invalid-argument", "an onion service's identity seed is 32 bytes");
    this.identitySeed = Uint8Array.from(options.identitySeed);
    this.#identityKey = ed25519PublicFromPrivate(options.identitySeed);
    this.#secret = expandEd25519Seed(options.identitySeed);
    this.address = meowHostName(this.#identityKey);
    this.#options = {
      ports: options.ports,
      introPoints,
      maxStreamsPerCircuit: options.maxStreamsPerCircuit ?? 256,
      maxIntroductionsPerPoint: options.maxIntroductionsPerPoint ?? 16384,
      introPointLifetimeMs: options.introPointLifetimeMs ?? { min: 18 * 3600_000, max: 24 * 3600_000 },
      republishMs: options.republishMs ?? 3600_000,
      log: options.log.child({ service: this.address.slice(0, 16) }),
    };
  }

  /** Start keeping intro points and publishing. */
  start(): void {
    this.published.catch(() => undefined); // waiting for it is the caller's choice
    this.consensus.on("consensus", this.#onConsensus);
    this.#maintainIntroPoints();
  }

  status(): OnionServiceStatus {
    const storedAt: Record<number, string[]> = {};
    for (const [period, upload] of this.#uploaded) storedAt[period] = [...upload.hsDirs];
    return {
      address: this.address,
      introPoints: [...this.#points].map((p) => p.relay.nickname),
      storedAt,
      introductions: this.#introductions,
      rendezvous: this.#rendezvous.size,
      streams: this.counters.streams,
    };
  }

  /** The auth keys (hex) of the intro points in use: they change when a point is replaced. */
  introPointKeys(): string[] {
    return [...this.#points].map((p) => Buffer.from(p.authKey.publicKey).toString("hex"));
  }

  /** Close the intro and rendezvous circuits; the descriptors expire on the HSDirs. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectPublished(new MeowOnionError("shutting-down", `${this.address} closed before its descriptor was published`));
    this.consensus.off("consensus", this.#onConsensus);
    clearTimeout(this.#publishTimer);
    clearTimeout(this.#introTimer);
    for (const point of this.#points) point.close();
    this.#points.clear();
    for (const pooled of this.#rendezvous) pooled.circuit?.destroy(DestroyReason.FINISHED);
    this.#rendezvous.clear();
  }

  readonly #onConsensus = () => {
    this.#maintainIntroPoints();
    this.#schedulePublish(0);
  };

  // ------------------------------------------------------------------ intro points

  #maintainIntroPoints(): void {
    if (this.#closed) return;
    const consensus = this.consensus.current;
    if (consensus === undefined) return;
    while (this.#points.size + this.#pendingPoints < this.#options.introPoints) {
      const relay = this.#chooseIntroPoint(consensus);
      if (relay === undefined) return;
      this.#pendingPoints++;
      void this.#establish(new ServiceIntroPoint(relay));
    }
  }

  /**
   * A new intro point, chosen as an exit is (it must fit in a path with our guard), never one
   * we have, and while possible none of a family or subnet of one we have: one operator
   * should not hold every way in to the service.
   */
  #chooseIntroPoint(consensus: Consensus): ConsensusRelay | undefined {
    const taken = [...this.#points].map((p) => p.relay);
    const { enforceDistinctSubnets } = this.pool;
    const unrelated = (r: ConsensusRelay) => taken.every((t) => !conflicts(r, t, enforceDistinctSubnets));
    const fresh = (r: ConsensusRelay) => taken.every((t) => !sameKey(r.identityKey, t.identityKey));
    for (const accept of [unrelated, fresh]) {
      try {
        return this.pool.chooseLastHop((r) => isOnionServicePoint(r) && accept(r));
      } catch (error) {
        if (!(error instanceof PathError)) throw error;
      }
    }
    return undefined;
  }

  async #establish(point: ServiceIntroPoint): Promise<void> {
    try {
      await point.establish(this.pool, this.address, ESTABLISH_TIMEOUT_MS, (message) => this.#onIntroduce2(point, message));
    } catch (error) {
      this.#pendingPoints--;
      if (this.#closed) return;
      const wait = this.#introBackoff.fail();
      this.#options.log.info({ relay: point.relay.nickname, why: (error as Error).message, retryMs: Math.round(wait) }, "intro point failed");
      this.#introTimer ??= setTimeout(() => {
        this.#introTimer = undefined;
        this.#maintainIntroPoints();
      }, wait);
      return;
    }
    this.#pendingPoints--;
    if (this.#closed) {
      point.close();
      return;
    }
    this.#introBackoff.reset();
    this.#points.add(point);
    point.pooled!.circuit!.once("close", () => this.#lose(point, "its circuit closed"));
    const { min, max } = this.#options.introPointLifetimeMs;
    point.retireAfter(min + secureRandom() * (max - min), () => this.#lose(point, "its lifetime is over"));
    this.#options.log.info({ relay: point.relay.nickname }, "intro point established");
    this.#introVersion++;
    // The first descriptor waits a moment for the other points, so it lists them all.
    const complete = this.#points.size >= this.#options.introPoints;
    this.#schedulePublish(complete || this.#uploaded.size > 0 ? 0 : FIRST_PUBLISH_GRACE_MS);
  }

  #lose(point: ServiceIntroPoint, why: string): void {
    if (!this.#points.delete(point) || this.#closed) return;
    this.#options.log.info({ relay: point.relay.nickname, why }, "intro point replaced");
    point.close();
    this.#introVersion++;
    this.#maintainIntroPoints();
  }

  // ------------------------------------------------------------------ introductions

  #onIntroduce2(point: ServiceIntroPoint, message: Introduce1): void {
    if (this.#closed) return;
    let opened;
    try {
      opened = point.open(message, this.#subcredentials());
    } catch (error) {
      this.#options.log.warn({ relay: point.relay.nickname, why: (error as Error).message }, "introduction refused");
      return;
    }
    this.#introductions++;
    if (point.introductions >= this.#options.maxIntroductionsPerPoint) this.#lose(point, "it relayed its share of introductions");
    const cookie = Buffer.from(opened.plaintext.cookie).toString("hex");
    if (this.#cookies.has(cookie)) {
      this.#options.log.warn("introduction for a rendezvous cookie already answered");
      return;
    }
    if (this.#cookies.size >= MAX_COOKIES) this.#cookies.clear();
    this.#cookies.add(cookie);
    this.#rendezvousWith(opened).catch((error: unknown) =>
      this.#options.log.info({ why: (error as Error).message }, "rendezvous failed"),
    );
  }

  async #rendezvousWith({ plaintext, state }: OpenedIntroduction): Promise<void> {
    const consensus = this.#requireConsensus();
    const identity = plaintext.linkSpecifiers.find((s) => s.specifier.case === "identityKey")?.specifier.value;
    const point = identity instanceof Uint8Array ? consensus.relays.find((r) => isOnionServicePoint(r) && sameKey(r.identityKey, identity)) : undefined;
    if (point === undefined) throw new MeowOnionError("not-found", "the rendezvous point is not a rendezvous-capable relay of the consensus");
    const pooled = await this.pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.SERVICE_RENDEZVOUS, lastHop: point, chosenByPeer: true, onionService: this.address });
    const circuit = pooled.circuit!;
    if (this.#closed) {
      circuit.destroy(DestroyReason.FINISHED);
      return;
    }
    const { handshakeInfo, ntorKeySeed } = hsNtorServiceRespond(state);
    circuit.sendOnionServiceMessage({ command: RelayCommand.RENDEZVOUS1, streamId: 0, body: { cookie: plaintext.cookie, handshakeInfo } });
    // Before anything can come back: the client's BEGINs follow its RENDEZVOUS2 at once.
    circuit.addOnionServiceHop(hsNtorKeyMaterial(ntorKeySeed), "service", "client");
    circuit.serveStreams({
      targets: onionServiceTargets(this.#options.ports),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      maxStreamsPerCircuit: this.#options.maxStreamsPerCircuit,
      counters: this.counters,
      log: this.#options.log,
    });
    this.#rendezvous.add(pooled);
    circuit.once("close", () => this.#rendezvous.delete(pooled));
    this.pool.onionServiceCircuitChanged(pooled);
  }

  /** The subcredentials of the periods clients may have descriptors for: the consensus's and the one before. */
  #subcredentials(): Uint8Array[] {
    const consensus = this.consensus.current;
    if (consensus === undefined) return [];
    const { current, previous } = hsDirRings(consensus);
    return [current, previous].filter((r) => r !== undefined).map((r) => subcredential(this.#identityKey, blindPublicKey(this.#identityKey, r.period)));
  }

  // ------------------------------------------------------------------ publishing

  #schedulePublish(delayMs: number): void {
    if (this.#closed || this.#points.size === 0) return;
    if (this.#publishTimer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.#publishTimer);
    }
    this.#publishTimer = setTimeout(() => {
      this.#publishTimer = undefined;
      this.#publish();
    }, delayMs);
  }

  #publish(): void {
    if (this.#publishing !== undefined) {
      this.#publishAgain = true;
      return;
    }
    this.#publishing = this.#publishOnce()
      .catch((error: unknown) => {
        this.#options.log.warn({ why: (error as Error).message }, "descriptor upload failed");
        return false;
      })
      .then((complete) => {
        this.#publishing = undefined;
        if (this.#closed) return;
        if (this.#publishAgain) {
          this.#publishAgain = false;
          this.#schedulePublish(0);
        } else if (complete === false) {
          this.#schedulePublish(this.#publishBackoff.fail());
        } else {
          this.#publishBackoff.reset();
          this.#schedulePublish(this.#options.republishMs);
        }
      });
  }

  /** One round of uploads; true when every responsible HSDir holds the current descriptor. */
  async #publishOnce(): Promise<boolean> {
    const consensus = this.#requireConsensus();
    const now = Date.now();
    const uploads = this.#periodsToServe(consensus, now);
    let complete = true;
    for (const upload of uploads) {
      const number = upload.period.number;
      const held = this.#uploaded.get(number);
      const fresh = held !== undefined && held.introVersion === this.#introVersion && now - held.lastFullMs < this.#options.republishMs;
      const responsible = upload.ring.responsibleFor(upload.blindedKey, HSDIR_SPREAD_STORE);
      const hex = (r: ConsensusRelay) => Buffer.from(r.identityKey).toString("hex");
      const due = fresh ? responsible.filter((r) => !held.hsDirs.has(hex(r))) : responsible;
      if (due.length === 0) continue;
      const introVersion = this.#introVersion;
      const signed = this.#descriptorFor(upload, now);
      const results = await Promise.all(due.map((hsDir) => this.#store(hsDir, signed)));
      // Only the responsible HSDirs count: one that left the ring holds nothing a client asks for.
      const holding = fresh ? responsible.map(hex).filter((h) => held.hsDirs.has(h)) : [];
      const record = { introVersion, hsDirs: new Set(holding), lastFullMs: fresh ? held.lastFullMs : now };
      results.forEach((ok, i) => ok && record.hsDirs.add(hex(due[i])));
      this.#uploaded.set(number, record);
      const stored = results.filter(Boolean).length;
      this.#options.log.info({ period: number, stored, of: due.length }, "descriptor uploaded");
      if (stored > 0) this.#resolvePublished();
      if (stored < due.length) complete = false;
    }
    for (const number of this.#uploaded.keys()) if (!uploads.some((u) => u.period.number === number)) this.#uploaded.delete(number);
    return complete;
  }

  /** The consensus's period, and the previous one while the period is young (clients may hold an older consensus). */
  #periodsToServe(consensus: Consensus, now: number): PeriodUpload[] {
    const { current, previous } = hsDirRings(consensus);
    const rotationOffsetMinutes = consensus.onionServiceParams?.rotationOffsetMinutes ?? 0;
    const { startMs, endMs } = timePeriodBounds({ ...current.period, rotationOffsetMinutes });
    const overlap = Math.min(PREVIOUS_PERIOD_OVERLAP_MS, (endMs - startMs) / 2);
    const rings = previous !== undefined && now - startMs < overlap ? [current, previous] : [current];
    return rings.map(({ period, ring }) => ({ period, ring, blindedKey: blindPublicKey(this.#identityKey, period) }));
  }

  #descriptorFor(upload: PeriodUpload, now: number): SignedOnionDescriptor {
    // Strictly increasing, also across restarts (the clock moves on).
    this.#revision = Math.max(this.#revision + 1, now);
    const inner = create(OnionDescriptorInnerSchema, { introPoints: [...this.#points].map((p) => p.descriptorEntry()) });
    return sealOnionDescriptor(
      {
        version: ONION_DESCRIPTOR_VERSION,
        blindedKey: upload.blindedKey,
        periodNum: BigInt(upload.period.number),
        revisionCounter: BigInt(this.#revision),
        published: timestampNow(),
        lifetimeSeconds: MAX_ONION_DESCRIPTOR_LIFETIME_S,
      },
      inner,
      subcredential(this.#identityKey, upload.blindedKey),
      blindSecretKey(this.#secret, upload.period),
    );
  }

  async #store(hsDir: ConsensusRelay, signed: SignedOnionDescriptor): Promise<boolean> {
    let pooled: PooledCircuit | undefined;
    try {
      pooled = await this.pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.HSDIR, lastHop: hsDir, chosenByPeer: false, onionService: this.address });
      const response = await hsDirRequest(pooled.circuit!, create(HsDirRequestSchema, { request: { case: "store", value: signed } }), HSDIR_TIMEOUT_MS);
      if (response.status === HsDirStatus.OK) return true;
      this.#options.log.warn({ hsDir: hsDir.nickname, status: HsDirStatus[response.status], why: response.message }, "HSDir refused the descriptor");
      return false;
    } catch (error) {
      this.#options.log.info({ hsDir: hsDir.nickname, why: (error as Error).message }, "descriptor upload to an HSDir failed");
      return false;
    } finally {
      pooled?.circuit?.destroy(DestroyReason.FINISHED);
    }
  }

  #requireConsensus(): Consensus {
    const consensus = this.consensus.current;
    if (consensus === undefined) throw new MeowOnionError("no-consensus", "no valid consensus yet");
    return consensus;
  }
}
