/**
 * The client side of onion services (onion_service.proto INTRODUCTION AND RENDEZVOUS): from a
 * `.meow` name to a circuit whose last hop is the service. The descriptor comes from the
 * HSDirs of the current period (then the previous one) over BEGIN_DIR and is cached until it
 * expires; the rendezvous circuit is set up while the descriptor is fetched; then the
 * introduction is tried at each intro point in random order until one relays it, and the
 * service's hs-ntor answer arrives at the rendezvous point. One rendezvous circuit per service
 * and isolation key carries any number of streams, as in Tor.
 */
import { randomBytes, randomInt } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Consensus, ConsensusRelay } from "../../../gen/meowonion/v1/consensus_pb.js";
import { CircuitPurpose } from "../../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../../gen/meowonion/v1/link_pb.js";
import {
  HsDirStatus,
  Introduce1Schema,
  IntroduceAckStatus,
  IntroducePlaintextSchema,
  type IntroPoint,
  type OnionDescriptorInner,
} from "../../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../../gen/meowonion/v1/relay_pb.js";
import { formatHostPort } from "../../common/host-port.js";
import type { Logger } from "../../common/log.js";
import { checkSignedOnionDescriptor, onionDescriptorExpiresMs, openOnionDescriptor } from "../../netdoc/onion-descriptor.js";
import { MeowOnionError, type ErrorKind } from "../../onion/errors.js";
import { meowHostName, parseMeowHostName } from "../../onion/hs/address.js";
import { blindPublicKey, subcredential } from "../../onion/hs/blinding.js";
import { HSDIR_SPREAD_FETCH } from "../../onion/hs/hsdir-ring.js";
import { hsNtorClientFinish, hsNtorClientIntroduce, hsNtorKeyMaterial } from "../../onion/hs/hs-ntor.js";
import { destroyReasonName } from "../../onion/reasons.js";
import type { ConsensusFollower } from "../consensus.js";
import { isOnionServicePoint, sameKey } from "../path.js";
import type { PooledCircuit } from "../pool-view.js";
import type { CircuitPool } from "../pool.js";
import { fetchRequest, hsDirRequest, hsDirRings, type PeriodRing } from "./hsdir.js";
import { nextOnionServiceMessage } from "./messages.js";

/** Waits of the protocol's steps (Tor's are of the same order). */
export interface OnionClientTimeouts {
  /** One HSDir's answer to a fetch. */
  hsDirMs: number;
  /** INTRODUCE_ACK from an intro point. */
  introduceAckMs: number;
  /** RENDEZVOUS2 after the intro point relayed the introduction. */
  rendezvousMs: number;
}

export const DEFAULT_ONION_CLIENT_TIMEOUTS: OnionClientTimeouts = { hsDirMs: 10_000, introduceAckMs: 10_000, rendezvousMs: 20_000 };

/** Every IntroducePlaintext is padded to this many bytes, so its length says nothing. */
export const INTRODUCE_PLAINTEXT_LEN = 320;
const COOKIE_LEN = 20;
/** Rendezvous points tried before giving up (one may have gone since the consensus). */
const RENDEZVOUS_ATTEMPTS = 3;

/** A rendezvous circuit waiting for the service, with its cookie and point. */
interface Rendezvous {
  pooled: PooledCircuit;
  cookie: Uint8Array;
  point: ConsensusRelay;
}

interface CachedDescriptor {
  inner: OnionDescriptorInner;
  subcredential: Uint8Array;
  expiresMs: number;
}

const fail = (kind: ErrorKind, message: string, cause?: unknown) => new MeowOnionError(kind, message, { cause });

/** A random order (Fisher–Yates, CSPRNG). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** IntroducePlaintext with random padding up to INTRODUCE_PLAINTEXT_LEN bytes. */
export function paddedIntroducePlaintext(cookie: Uint8Array, rendezvous: ConsensusRelay): Uint8Array {
  const fields = {
    cookie,
    linkSpecifiers: [
      { specifier: { case: "address" as const, value: formatHostPort(rendezvous.ipv4Address || rendezvous.ipv6Address, rendezvous.orPort) } },
      { specifier: { case: "identityKey" as const, value: rendezvous.identityKey } },
    ],
    ntorOnionKey: rendezvous.ntorOnionKey,
  };
  const bare = toBinary(IntroducePlaintextSchema, create(IntroducePlaintextSchema, fields)).length;
  // Tag (1 byte) and length (1 or 2 bytes) of the padding field come off the room left.
  for (const prefix of [3, 2]) {
    const padding = INTRODUCE_PLAINTEXT_LEN - bare - prefix;
    if (padding < 0) break;
    const bytes = toBinary(IntroducePlaintextSchema, create(IntroducePlaintextSchema, { ...fields, padding: randomBytes(padding) }));
    if (bytes.length === INTRODUCE_PLAINTEXT_LEN) return bytes;
  }
  throw fail("internal", `an introduction of ${bare} bytes does not pad to ${INTRODUCE_PLAINTEXT_LEN}`);
}

export class OnionServiceClient {
  readonly #descriptors = new Map<string, CachedDescriptor>();
  /** Rendezvous circuits being made or open, per service and isolation key. */
  readonly #rendezvous = new Map<string, Promise<PooledCircuit>>();

  constructor(
    private readonly pool: CircuitPool,
    private readonly consensus: ConsensusFollower,
    private readonly log: Logger,
    private readonly options: { congestionControl: boolean; timeouts: OnionClientTimeouts },
  ) {}

  private get timeouts(): OnionClientTimeouts {
    return this.options.timeouts;
  }

  /**
   * An open circuit to the service `host` names, for streams of `isolationKey`: one already
   * joined, or a new one. Rejects with a MeowOnionError of an onion-service kind (or
   * no-consensus, no-path, shutting-down).
   */
  async circuitFor(host: string, isolationKey: string): Promise<PooledCircuit> {
    const identityKey = parseMeowHostName(host);
    const address = meowHostName(identityKey);
    const key = `${address}\u0000${isolationKey}`;
    const held = this.#rendezvous.get(key);
    if (held !== undefined) {
      const pooled = await held.catch(() => undefined);
      if (pooled !== undefined && this.pool.takesNewStreams(pooled)) return pooled;
      if (this.#rendezvous.get(key) === held) this.#rendezvous.delete(key);
    }
    const pending = this.#connect(address, identityKey, isolationKey);
    this.#rendezvous.set(key, pending);
    pending.catch(() => {
      if (this.#rendezvous.get(key) === pending) this.#rendezvous.delete(key);
    });
    return pending;
  }

  async #connect(address: string, identityKey: Uint8Array, isolationKey: string): Promise<PooledCircuit> {
    const started = performance.now();
    const rendezvous = this.#establishRendezvous(address, isolationKey);
    // Awaited only after the descriptor: meanwhile its failure is not "unhandled".
    rendezvous.catch(() => undefined);
    try {
      let descriptor = await this.#descriptor(address, identityKey);
      const waiting = await rendezvous;
      try {
        await this.#introduce(address, descriptor, waiting);
      } catch (error) {
        // The intro points may have changed since the descriptor was fetched: fetch it anew once.
        if (!(error instanceof MeowOnionError) || error.kind !== "onion-service-introduction-failed" || waiting.pooled.circuit!.isClosed) throw error;
        this.#descriptors.delete(address);
        descriptor = await this.#descriptor(address, identityKey);
        await this.#introduce(address, descriptor, waiting);
      }
      this.log.info({ service: address.slice(0, 16), ms: Math.round(performance.now() - started) }, "onion service reached");
      return waiting.pooled;
    } catch (error) {
      rendezvous.then((r) => r.pooled.circuit?.destroy(DestroyReason.FINISHED), () => undefined);
      throw error;
    }
  }

  // ------------------------------------------------------------------ descriptor

  async #descriptor(address: string, identityKey: Uint8Array): Promise<CachedDescriptor> {
    const cached = this.#descriptors.get(address);
    if (cached !== undefined && cached.expiresMs > Date.now()) return cached;
    const consensus = await this.#consensus();
    const rings = hsDirRings(consensus);
    const failures: MeowOnionError[] = [];
    for (const ring of [rings.current, rings.previous]) {
      if (ring === undefined) continue;
      const found = await this.#fetchFromRing(address, identityKey, ring, failures);
      if (found !== undefined) {
        this.#descriptors.set(address, found);
        return found;
      }
    }
    const invalid = failures.find((f) => f.kind === "onion-service-descriptor-invalid");
    if (invalid !== undefined) throw invalid;
    const why = failures.length > 0 ? `; ${failures.map((f) => f.message).join("; ")}` : "";
    throw fail("onion-service-not-found", `no HSDir has a descriptor for ${address}${why}`);
  }

  async #fetchFromRing(address: string, identityKey: Uint8Array, { ring, period }: PeriodRing, failures: MeowOnionError[]): Promise<CachedDescriptor | undefined> {
    const blindedKey = blindPublicKey(identityKey, period);
    for (const hsDir of shuffled(ring.responsibleFor(blindedKey, HSDIR_SPREAD_FETCH))) {
      let pooled: PooledCircuit | undefined;
      try {
        pooled = await this.pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.HSDIR, lastHop: hsDir, chosenByPeer: false, onionService: address });
        const response = await hsDirRequest(pooled.circuit!, fetchRequest(blindedKey), this.timeouts.hsDirMs);
        if (response.status === HsDirStatus.NOT_FOUND) continue;
        if (response.status !== HsDirStatus.OK || response.descriptor === undefined) {
          failures.push(fail("onion-service-not-found", `${hsDir.nickname}: ${HsDirStatus[response.status]} ${response.message}`));
          continue;
        }
        const now = Date.now();
        const descriptor = checkSignedOnionDescriptor(response.descriptor, now);
        if (!sameKey(descriptor.blindedKey, blindedKey)) throw fail("onion-service-descriptor-invalid", `${hsDir.nickname} answered with another service's descriptor`);
        const credential = subcredential(identityKey, blindedKey);
        const inner = openOnionDescriptor(descriptor, credential);
        return { inner, subcredential: credential, expiresMs: onionDescriptorExpiresMs(descriptor) };
      } catch (error) {
        const wrapped = MeowOnionError.from(error);
        const kind = wrapped.kind === "protocol-violation" && (error as { reason?: string }).reason === "bad-descriptor" ? "onion-service-descriptor-invalid" : wrapped.kind;
        failures.push(kind === wrapped.kind ? wrapped : fail(kind, `${hsDir.nickname}: ${wrapped.message}`, error));
        this.log.debug({ hsDir: hsDir.nickname, why: wrapped.message }, "descriptor fetch failed");
      } finally {
        pooled?.circuit?.destroy(DestroyReason.FINISHED);
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ rendezvous and introduction

  /** A rendezvous point waiting with our cookie; another point is tried when one cannot be reached. */
  async #establishRendezvous(address: string, isolationKey: string): Promise<Rendezvous> {
    const failed: Uint8Array[] = [];
    for (let attempt = 1; ; attempt++) {
      await this.#consensus();
      let point: ConsensusRelay;
      try {
        point = this.pool.chooseLastHop((r) => isOnionServicePoint(r) && !failed.some((k) => sameKey(k, r.identityKey)));
      } catch (error) {
        throw fail("no-path", `no relay to be a rendezvous point: ${(error as Error).message}`, error);
      }
      try {
        return await this.#rendezvousAt(point, address, isolationKey);
      } catch (error) {
        if (attempt >= RENDEZVOUS_ATTEMPTS) throw error;
        failed.push(point.identityKey);
        this.log.debug({ point: point.nickname, why: (error as Error).message }, "rendezvous point failed");
      }
    }
  }

  async #rendezvousAt(point: ConsensusRelay, address: string, isolationKey: string): Promise<Rendezvous> {
    const pooled = await this.pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.CLIENT_RENDEZVOUS, lastHop: point, chosenByPeer: false, onionService: address, isolationKey });
    const circuit = pooled.circuit!;
    const cookie = randomBytes(COOKIE_LEN);
    const established = nextOnionServiceMessage(circuit, RelayCommand.RENDEZVOUS_ESTABLISHED, this.timeouts.introduceAckMs, {
      late: () => fail("onion-service-rendezvous-failed", `${point.nickname} did not confirm the rendezvous`),
      gone: (reason) => fail("onion-service-rendezvous-failed", `rendezvous circuit closed: ${destroyReasonName(reason)}`),
    });
    circuit.sendOnionServiceMessage({ command: RelayCommand.ESTABLISH_RENDEZVOUS, streamId: 0, body: { cookie } });
    try {
      await established;
    } catch (error) {
      circuit.destroy(DestroyReason.FINISHED);
      throw error;
    }
    return { pooled, cookie, point };
  }

  /** Introduce ourselves at the intro points in turn until one relays it and the service joins us. */
  async #introduce(address: string, descriptor: CachedDescriptor, { pooled: rendezvous, cookie, point }: Rendezvous): Promise<void> {
    const consensus = await this.#consensus();
    const failures: string[] = [];
    for (const intro of shuffled(descriptor.inner.introPoints)) {
      const relay = relayOf(consensus, intro);
      if (relay === undefined) {
        failures.push("an intro point is not in the consensus");
        continue;
      }
      const header = toBinary(Introduce1Schema, create(Introduce1Schema, { authKey: intro.authKey }));
      const { state, introduction } = hsNtorClientIntroduce(
        { ntorKey: intro.encKey, authKey: intro.authKey, subcredential: descriptor.subcredential },
        header,
        paddedIntroducePlaintext(cookie, point),
      );
      let relayed: boolean;
      try {
        relayed = await this.#sendIntroduction(address, relay, { authKey: intro.authKey, ...introduction }, failures);
      } catch (error) {
        if (error instanceof MeowOnionError && error.kind === "onion-service-introduction-timeout") throw error;
        failures.push(`${relay.nickname}: ${(error as Error).message}`);
        continue;
      }
      if (!relayed) continue;
      const joined = await nextOnionServiceMessage(rendezvous.circuit!, RelayCommand.RENDEZVOUS2, this.timeouts.rendezvousMs, {
        late: () => fail("onion-service-rendezvous-failed", `the service did not come to the rendezvous within ${this.timeouts.rendezvousMs} ms`),
        gone: (reason) => fail("onion-service-rendezvous-failed", `rendezvous circuit closed: ${destroyReasonName(reason)}`),
      });
      let seed: Uint8Array;
      try {
        seed = hsNtorClientFinish(state, joined.body.handshakeInfo);
      } catch (error) {
        rendezvous.circuit!.destroy(DestroyReason.PROTOCOL);
        throw fail("onion-service-rendezvous-failed", `the service's handshake does not check: ${(error as Error).message}`, error);
      }
      const circuit = rendezvous.circuit!;
      circuit.addOnionServiceHop(hsNtorKeyMaterial(seed), "client", address);
      if (this.options.congestionControl) circuit.requestCongestionControl();
      this.pool.onionServiceCircuitChanged(rendezvous);
      return;
    }
    throw fail("onion-service-introduction-failed", `no intro point of ${address} relayed the introduction: ${failures.join("; ")}`);
  }

  /** INTRODUCE1 over a new circuit to `relay`; true when the intro point relayed it (INTRODUCE_ACK SUCCESS). */
  async #sendIntroduction(
    address: string,
    relay: ConsensusRelay,
    introduce1: { authKey: Uint8Array; clientPublicKey: Uint8Array; encrypted: Uint8Array; mac: Uint8Array },
    failures: string[],
  ): Promise<boolean> {
    const pooled = await this.pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.CLIENT_INTRO, lastHop: relay, chosenByPeer: true, onionService: address });
    const circuit = pooled.circuit!;
    try {
      const ack = nextOnionServiceMessage(circuit, RelayCommand.INTRODUCE_ACK, this.timeouts.introduceAckMs, {
        late: () => fail("onion-service-introduction-timeout", `${relay.nickname} did not acknowledge the introduction within ${this.timeouts.introduceAckMs} ms`),
        gone: (reason) => fail("onion-service-introduction-failed", `intro circuit closed: ${destroyReasonName(reason)}`),
      });
      circuit.sendOnionServiceMessage({ command: RelayCommand.INTRODUCE1, streamId: 0, body: introduce1 });
      const status = (await ack).body.status;
      if (status === IntroduceAckStatus.SUCCESS) return true;
      failures.push(`${relay.nickname}: ${IntroduceAckStatus[status] ?? status}`);
      return false;
    } finally {
      circuit.destroy(DestroyReason.FINISHED);
    }
  }

  async #consensus(): Promise<Consensus> {
    const held = this.consensus.current;
    if (held !== undefined) return held;
    throw fail("no-consensus", "no valid consensus yet");
  }
}

/** The consensus entry of an intro point, by the identity key of its link specifiers. */
function relayOf(consensus: Consensus, intro: IntroPoint): ConsensusRelay | undefined {
  const identity = intro.linkSpecifiers.find((s) => s.specifier.case === "identityKey")?.specifier.value;
  if (!(identity instanceof Uint8Array)) return undefined;
  return consensus.relays.find((r) => isOnionServicePoint(r) && sameKey(r.identityKey, identity));
}
