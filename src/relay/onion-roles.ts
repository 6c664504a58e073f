/**
 * What a relay does for onion services besides storing descriptors (onion_service.proto
 * INTRODUCTION AND RENDEZVOUS): as an introduction point it keeps services' intro circuits by
 * auth key and relays INTRODUCE1 to them as INTRODUCE2; as a rendezvous point it keeps clients'
 * circuits by cookie until the service's RENDEZVOUS1 arrives, then joins the two circuits.
 */
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import {
  type EstablishIntro,
  type EstablishRendezvous,
  type Introduce1,
  IntroduceAckStatus,
  type Rendezvous1,
} from "../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { TokenBucket } from "../common/token-bucket.js";
import { establishIntroAuthentic } from "../netdoc/establish-intro.js";
import { HS_NTOR_HANDSHAKE_INFO_LEN } from "../onion/hs/hs-ntor.js";
import type { RelayMessageInit } from "../onion/relay-cell.js";
import { ED25519_KEY_LEN } from "../onion/signing.js";
import type { RelayCircuit } from "./circuit.js";
import type { RelayLimits } from "./limits.js";

export const RENDEZVOUS_COOKIE_LEN = 20;
/** Introductions per second and burst an intro point allows by default (EstablishIntro). */
export const DEFAULT_INTRODUCE_RATE = 25;
export const DEFAULT_INTRODUCE_BURST = 200;
/** A rendezvous circuit nobody joins closes after this long. */
export const RENDEZVOUS_WAIT_MS = 120_000;

/** A circuit's part in an onion service, if it has one (kept on the circuit). */
export type OnionServicePart =
  | { kind: "intro"; authKey: string; introductions: TokenBucket }
  | { kind: "rendezvous"; cookie: string; timer: NodeJS.Timeout }
  | { kind: "joined"; other: RelayCircuit };

/** What the roles need from the circuit switch. */
export interface RoleHost {
  /** Send a relay message from this hop towards the circuit's originator. */
  originate(c: RelayCircuit, message: RelayMessageInit): void;
  fail(c: RelayCircuit, reason: DestroyReason, why: string): void;
  /** The circuit's ntor nonce at this hop (Tor's KH), for ESTABLISH_INTRO's handshake_auth. */
  nonceOf(c: RelayCircuit): Uint8Array;
}

const hexOf = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

export class OnionServiceRoles {
  readonly #intro = new Map<string, RelayCircuit>();
  readonly #rendezvous = new Map<string, RelayCircuit>();

  constructor(
    private readonly host: RoleHost,
    private readonly limits: Pick<RelayLimits, "maxIntroPoints" | "maxPendingRendezvous">,
  ) {}

  /** A circuit may take one role, and only at its last hop. */
  #free(c: RelayCircuit, what: string): boolean {
    if (c.toNext === undefined && !c.extending && c.onionService === undefined) return true;
    this.host.fail(c, DestroyReason.PROTOCOL, `${what} on a circuit with a next hop or a role already`);
    return false;
  }

  establishIntro(c: RelayCircuit, message: EstablishIntro): void {
    if (!this.#free(c, "ESTABLISH_INTRO")) return;
    if (!establishIntroAuthentic(message, this.host.nonceOf(c))) {
      this.host.fail(c, DestroyReason.PROTOCOL, "ESTABLISH_INTRO does not authenticate for this circuit");
      return;
    }
    const authKey = hexOf(message.authKey);
    const older = this.#intro.get(authKey);
    if (older === undefined && this.#intro.size >= this.limits.maxIntroPoints) {
      this.host.fail(c, DestroyReason.RESOURCELIMIT, "too many introduction points");
      return;
    }
    const rate = message.introduceRate || DEFAULT_INTRODUCE_RATE;
    const burst = message.introduceBurst || DEFAULT_INTRODUCE_BURST;
    c.onionService = { kind: "intro", authKey, introductions: new TokenBucket(rate, burst) };
    this.#intro.set(authKey, c);
    // A newer circuit for the same auth key replaces the older one (the service rebuilt it).
    if (older !== undefined && older !== c) this.host.fail(older, DestroyReason.FINISHED, "replaced by a newer intro circuit");
    this.host.originate(c, { command: RelayCommand.INTRO_ESTABLISHED, streamId: 0, body: {} });
  }

  introduce1(c: RelayCircuit, message: Introduce1): void {
    if (!this.#free(c, "INTRODUCE1")) return;
    const ack = (status: IntroduceAckStatus) => this.host.originate(c, { command: RelayCommand.INTRODUCE_ACK, streamId: 0, body: { status } });
    if (message.authKey.length !== ED25519_KEY_LEN || message.clientPublicKey.length !== 32 || message.mac.length !== 32) {
      ack(IntroduceAckStatus.BAD_FORMAT);
      return;
    }
    const service = this.#intro.get(hexOf(message.authKey));
    if (service === undefined || service.onionService?.kind !== "intro") {
      ack(IntroduceAckStatus.UNKNOWN_SERVICE);
      return;
    }
    if (!service.onionService.introductions.take()) {
      ack(IntroduceAckStatus.RATE_LIMITED);
      return;
    }
    this.host.originate(service, { command: RelayCommand.INTRODUCE2, streamId: 0, body: message });
    ack(IntroduceAckStatus.SUCCESS);
  }

  establishRendezvous(c: RelayCircuit, message: EstablishRendezvous): void {
    if (!this.#free(c, "ESTABLISH_RENDEZVOUS")) return;
    const cookie = hexOf(message.cookie);
    if (message.cookie.length !== RENDEZVOUS_COOKIE_LEN || this.#rendezvous.has(cookie)) {
      this.host.fail(c, DestroyReason.PROTOCOL, "rendezvous cookie malformed or already waiting");
      return;
    }
    if (this.#rendezvous.size >= this.limits.maxPendingRendezvous) {
      this.host.fail(c, DestroyReason.RESOURCELIMIT, "too many rendezvous circuits waiting");
      return;
    }
    const timer = setTimeout(() => this.host.fail(c, DestroyReason.FINISHED, "nobody came to the rendezvous"), RENDEZVOUS_WAIT_MS).unref();
    c.onionService = { kind: "rendezvous", cookie, timer };
    this.#rendezvous.set(cookie, c);
    this.host.originate(c, { command: RelayCommand.RENDEZVOUS_ESTABLISHED, streamId: 0, body: {} });
  }

  /** RENDEZVOUS1 from a service: RENDEZVOUS2 to the waiting client, then the circuits are one. */
  rendezvous1(s: RelayCircuit, message: Rendezvous1): void {
    if (!this.#free(s, "RENDEZVOUS1")) return;
    const client = this.#rendezvous.get(hexOf(message.cookie));
    if (client === undefined || client.onionService?.kind !== "rendezvous" || message.handshakeInfo.length !== HS_NTOR_HANDSHAKE_INFO_LEN) {
      this.host.fail(s, DestroyReason.PROTOCOL, "RENDEZVOUS1 for no waiting cookie, or malformed");
      return;
    }
    this.#rendezvous.delete(client.onionService.cookie);
    clearTimeout(client.onionService.timer);
    this.host.originate(client, { command: RelayCommand.RENDEZVOUS2, streamId: 0, body: { handshakeInfo: message.handshakeInfo } });
    client.onionService = { kind: "joined", other: s };
    s.onionService = { kind: "joined", other: client };
  }

  /** The circuit is closing: forget its role (a joined partner is the switch's to close). */
  forget(c: RelayCircuit): void {
    const part = c.onionService;
    if (part?.kind === "intro" && this.#intro.get(part.authKey) === c) this.#intro.delete(part.authKey);
    else if (part?.kind === "rendezvous") {
      clearTimeout(part.timer);
      if (this.#rendezvous.get(part.cookie) === c) this.#rendezvous.delete(part.cookie);
    }
  }
}
