/**
 * The reference relay's onion-service roles (onion_service.proto), written from the spec: the
 * HSDir store answered over BEGIN_DIR, introduction points and rendezvous points. Each fault
 * breaks one rule, for the self-test's mutants.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  EstablishIntroSchema,
  EstablishRendezvousSchema,
  type HsDirResponse,
  HsDirRequestSchema,
  HsDirResponseSchema,
  HsDirStatus,
  Introduce1Schema,
  IntroduceAckSchema,
  IntroduceAckStatus,
  OnionDescriptorSchema,
  Rendezvous1Schema,
  Rendezvous2Schema,
  type SignedOnionDescriptor,
  SignedOnionDescriptorSchema,
} from "../../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../../gen/meowonion/v1/relay_pb.js";
import { equal, hex } from "../bytes.js";
import { parse, pb } from "../circuit.js";
import { DOMAIN, verifyDomain } from "../crypto.js";
import { MAX_DESCRIPTOR_BYTES, MAX_LIFETIME_SECONDS } from "../onion-descriptor.js";
import { hsMac } from "../onion-keys.js";

export interface OnionRoleFaults {
  /** HSDir: a lower or equal revision replaces the stored descriptor. */
  hsDirAcceptsLowerRevision?: boolean;
  /** HSDir: a higher revision is answered OK, but the first descriptor stays the one served. */
  hsDirServesFirstRevision?: boolean;
  /** HSDir: the blinded key's signature is not checked. */
  hsDirSkipsSignature?: boolean;
  /** HSDir: expired descriptors are stored. */
  hsDirAcceptsExpired?: boolean;
  /** Intro point: ESTABLISH_INTRO's handshake_auth (its binding to the circuit) is not checked. */
  introSkipsCircuitMac?: boolean;
  /** Intro point: ESTABLISH_INTRO's signature is not checked. */
  introSkipsSignature?: boolean;
  /** Intro point: INTRODUCE1 for an unknown auth key goes to the latest intro circuit, SUCCESS. */
  introForwardsUnknownKey?: boolean;
  /** Intro point: no introduction rate limit. */
  introNoRateLimit?: boolean;
  /** Rendezvous point: a second ESTABLISH_RENDEZVOUS with a waiting cookie replaces the first. */
  rendAcceptsDuplicateCookie?: boolean;
  /** Rendezvous point: a joined cookie stays waiting, so a second RENDEZVOUS1 joins again. */
  rendJoinsCookieTwice?: boolean;
  /** Rendezvous point: RENDEZVOUS2 carries the handshake_info with one byte changed. */
  rendAltersHandshakeInfo?: boolean;
  /** Rendezvous point: when one joined circuit dies, the other stays. */
  rendKeepsOtherHalf?: boolean;
}

const MAX_DESCRIPTORS = 1000;
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const DEFAULT_RATE = 25;
const DEFAULT_BURST = 200;
const RENDEZVOUS_WAIT_MS = 120_000;

// ---------------------------------------------------------------------------- HSDir

function response(status: HsDirStatus, message = "", descriptor?: SignedOnionDescriptor): HsDirResponse {
  return create(HsDirResponseSchema, { status, message, descriptor });
}

export class HsDirStore {
  private held = new Map<string, { signed: SignedOnionDescriptor; revision: bigint; expiresMs: number }>();

  constructor(private readonly faults: OnionRoleFaults) {}

  /** One HsDirRequest (serialized) in, its HsDirResponse (serialized) out. */
  answer(request: Uint8Array): Uint8Array {
    let r;
    try {
      r = fromBinary(HsDirRequestSchema, request).request;
    } catch {
      return toBinary(HsDirResponseSchema, response(HsDirStatus.INVALID, "the request does not decode"));
    }
    const res =
      r.case === "store" ? this.store(r.value) : r.case === "fetchBlindedKey" ? this.fetch(r.value) : response(HsDirStatus.INVALID, "empty request");
    return toBinary(HsDirResponseSchema, res);
  }

  private live(key: string) {
    const h = this.held.get(key);
    if (h && h.expiresMs <= Date.now() && !this.faults.hsDirAcceptsExpired) {
      this.held.delete(key);
      return undefined;
    }
    return h;
  }

  private fetch(key: Uint8Array): HsDirResponse {
    if (key.length !== 32) return response(HsDirStatus.INVALID, "a blinded key is 32 bytes");
    const h = this.live(hex(key));
    return h ? response(HsDirStatus.OK, "", h.signed) : response(HsDirStatus.NOT_FOUND);
  }

  private store(signed: SignedOnionDescriptor): HsDirResponse {
    const now = Date.now();
    if (toBinary(SignedOnionDescriptorSchema, signed).length > MAX_DESCRIPTOR_BYTES) return response(HsDirStatus.INVALID, "above 16 KiB");
    let d;
    try {
      d = fromBinary(OnionDescriptorSchema, signed.descriptor);
    } catch {
      return response(HsDirStatus.INVALID, "the descriptor does not decode");
    }
    if (d.version !== 3 || d.blindedKey.length !== 32 || !d.published) return response(HsDirStatus.INVALID, "version, blinded key or published");
    if (!this.faults.hsDirSkipsSignature && !verifyDomain(d.blindedKey, DOMAIN.onionDescriptor, signed.descriptor, signed.signature)) return response(HsDirStatus.INVALID, "signature");
    if (d.lifetimeSeconds < 1 || d.lifetimeSeconds > MAX_LIFETIME_SECONDS) return response(HsDirStatus.INVALID, "lifetime");
    const published = timestampMs(d.published);
    const expiresMs = published + d.lifetimeSeconds * 1000;
    if (published > now + MAX_CLOCK_SKEW_MS) return response(HsDirStatus.INVALID, "published in the future");
    if (expiresMs <= now && !this.faults.hsDirAcceptsExpired) return response(HsDirStatus.INVALID, "expired");
    const key = hex(d.blindedKey);
    const h = this.live(key);
    if (h && h.revision >= d.revisionCounter && !this.faults.hsDirAcceptsLowerRevision) return response(HsDirStatus.STALE, `revision ${h.revision} held`);
    if (h && this.faults.hsDirServesFirstRevision) return response(HsDirStatus.OK);
    if (!h && this.held.size >= MAX_DESCRIPTORS) return response(HsDirStatus.REFUSED, "full");
    this.held.set(key, { signed, revision: d.revisionCounter, expiresMs });
    return response(HsDirStatus.OK);
  }
}

// ---------------------------------------------------------------------------- intro and rendezvous

class TokenBucket {
  private tokens: number;
  private at = Date.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export type OnionRole =
  | { kind: "intro"; authKey: string; bucket: TokenBucket }
  | { kind: "rendezvous"; cookie: string; timer: NodeJS.Timeout }
  | { kind: "joined"; other: RoleCircuit };

/** What the roles need of a circuit at this relay. */
export interface RoleCircuit {
  /** The last 20 bytes of the circuit's ntor key material here (Tor's KH). */
  nonce: Uint8Array;
  role?: OnionRole;
}

export interface RoleHost<C extends RoleCircuit> {
  /** No next hop, none being added: the circuit ends here. */
  endsHere(c: C): boolean;
  /** Send a relay message from this hop towards the circuit's originator. */
  originate(c: C, command: RelayCommand, data: Uint8Array): void;
  /** DESTROY PROTOCOL. */
  destroy(c: C): void;
}

const ROLE_COMMANDS = new Set([RelayCommand.ESTABLISH_INTRO, RelayCommand.INTRODUCE1, RelayCommand.ESTABLISH_RENDEZVOUS, RelayCommand.RENDEZVOUS1]);

export class OnionRoles<C extends RoleCircuit> {
  private intro = new Map<string, C>();
  private waiting = new Map<string, C>();

  constructor(
    private readonly host: RoleHost<C>,
    private readonly faults: OnionRoleFaults,
  ) {}

  static handles(command: number): boolean {
    return ROLE_COMMANDS.has(command);
  }

  /** An onion-service command recognized at circuit `c` (stream_id 0). Throws on a body that does not decode. */
  handle(c: C, command: number, data: Uint8Array): void {
    // One role per circuit, only at its last hop.
    if (!this.host.endsHere(c) || c.role) return this.host.destroy(c);
    switch (command) {
      case RelayCommand.ESTABLISH_INTRO:
        return this.establishIntro(c, data);
      case RelayCommand.INTRODUCE1:
        return this.introduce1(c, data);
      case RelayCommand.ESTABLISH_RENDEZVOUS:
        return this.establishRendezvous(c, parse(EstablishRendezvousSchema, data).cookie);
      case RelayCommand.RENDEZVOUS1:
        return this.rendezvous1(c, data);
    }
  }

  private establishIntro(c: C, data: Uint8Array): void {
    const m = parse(EstablishIntroSchema, data);
    const bytes = toBinary(EstablishIntroSchema, create(EstablishIntroSchema, { ...m, handshakeAuth: new Uint8Array(0), signature: new Uint8Array(0) }));
    const macOk = this.faults.introSkipsCircuitMac || equal(hsMac(c.nonce, bytes), m.handshakeAuth);
    const sigOk = this.faults.introSkipsSignature || verifyDomain(m.authKey, DOMAIN.establishIntro, bytes, m.signature);
    if (m.authKey.length !== 32 || !macOk || !sigOk) return this.host.destroy(c);
    const authKey = hex(m.authKey);
    const older = this.intro.get(authKey);
    if (older) older.role = undefined;
    c.role = { kind: "intro", authKey, bucket: new TokenBucket(m.introduceRate || DEFAULT_RATE, m.introduceBurst || DEFAULT_BURST) };
    this.intro.set(authKey, c);
    this.host.originate(c, RelayCommand.INTRO_ESTABLISHED, new Uint8Array(0));
  }

  private introduce1(c: C, data: Uint8Array): void {
    const m = parse(Introduce1Schema, data);
    const ack = (status: IntroduceAckStatus) => this.host.originate(c, RelayCommand.INTRODUCE_ACK, pb(IntroduceAckSchema, { status }));
    if (m.authKey.length !== 32 || m.clientPublicKey.length !== 32 || m.mac.length !== 32) return ack(IntroduceAckStatus.BAD_FORMAT);
    let service = this.intro.get(hex(m.authKey));
    if (!service && this.faults.introForwardsUnknownKey) service = [...this.intro.values()].pop();
    if (!service || service.role?.kind !== "intro") return ack(IntroduceAckStatus.UNKNOWN_SERVICE);
    if (!this.faults.introNoRateLimit && !service.role.bucket.take()) return ack(IntroduceAckStatus.RATE_LIMITED);
    this.host.originate(service, RelayCommand.INTRODUCE2, data);
    ack(IntroduceAckStatus.SUCCESS);
  }

  private establishRendezvous(c: C, cookie: Uint8Array): void {
    const key = hex(cookie);
    const already = this.waiting.get(key);
    if (cookie.length !== 20 || (already && !this.faults.rendAcceptsDuplicateCookie)) return this.host.destroy(c);
    if (already) {
      this.forget(already);
      already.role = undefined;
    }
    c.role = { kind: "rendezvous", cookie: key, timer: setTimeout(() => this.host.destroy(c), RENDEZVOUS_WAIT_MS).unref() };
    this.waiting.set(key, c);
    this.host.originate(c, RelayCommand.RENDEZVOUS_ESTABLISHED, new Uint8Array(0));
  }

  private rendezvous1(s: C, data: Uint8Array): void {
    const m = parse(Rendezvous1Schema, data);
    const client = this.waiting.get(hex(m.cookie));
    if (!client || m.handshakeInfo.length !== 64) return this.host.destroy(s);
    if (!this.faults.rendJoinsCookieTwice) this.forget(client);
    const info = Uint8Array.from(m.handshakeInfo);
    if (this.faults.rendAltersHandshakeInfo) info[63] ^= 0x01;
    this.host.originate(client, RelayCommand.RENDEZVOUS2, pb(Rendezvous2Schema, { handshakeInfo: info }));
    client.role = { kind: "joined", other: s };
    s.role = { kind: "joined", other: client };
  }

  /** The circuit is gone (or leaves its role): drop what refers to it. */
  forget(c: C): void {
    const role = c.role;
    if (role?.kind === "intro" && this.intro.get(role.authKey) === c) this.intro.delete(role.authKey);
    if (role?.kind === "rendezvous") {
      clearTimeout(role.timer);
      if (this.waiting.get(role.cookie) === c) this.waiting.delete(role.cookie);
    }
  }
}
