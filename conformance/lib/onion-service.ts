/**
 * The suite's own onion service (onion_service.proto INTRODUCTION AND RENDEZVOUS, steps 1, 4 and
 * 5): intro points on consensus relays, its descriptor on the HSDirs of the ring, RENDEZVOUS1 for
 * each valid INTRODUCE2, and its streams passed on to TCP targets by virtual port. It is what an
 * implementation's client reaches in the onion/client tests and what the reference's
 * AddOnionService runs; each of `faults` breaks one rule, for the self-test.
 */
import net from "node:net";
import type { Consensus } from "../../gen/meowonion/v1/consensus_pb.js";
import { RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { HsDirStatus, Introduce1Schema, IntroducePlaintextSchema, Rendezvous1Schema } from "../../gen/meowonion/v1/onion_service_pb.js";
import { BeginSchema, ConnectedSchema, EndReason, EndSchema, RelayCommand } from "../../gen/meowonion/v1/relay_pb.js";
import { equal, hex, u8 } from "./bytes.js";
import { type ClientCircuit, ClientStream, type InboundCell, type RelayInfo, parse, pb } from "./circuit.js";
import { type Ed25519Key, type X25519Key, ed25519FromSeed, ed25519Generate, ed25519Sign, x25519Generate } from "./crypto.js";
import { expandSeed } from "./ed25519-group.js";
import { endToEndKeys, serviceOpen, serviceRespond } from "./hs-ntor.js";
import { hsDirRequest } from "./hsdir-client.js";
import { LinkPool, linkSpecifiersOf, relayFromSpecifiers, relayInfoOf } from "./link-pool.js";
import { buildOnionDescriptor } from "./onion-descriptor.js";
import { STORE_SPREAD, blindPublicKey, blindSecretKey, onionAddress, type Period, responsibleHsDirs, sha3, subcredential } from "./onion-keys.js";
import { circuitNonce, establishIntroBody, introduceHeader } from "./onion-messages.js";

export interface OnionServiceFaults {
  /** RENDEZVOUS1 carries a wrong AUTH_INPUT_MAC. */
  badAuthMac?: boolean;
  /** The descriptor is signed with the identity key instead of the blinded key. */
  signWithIdentityKey?: boolean;
  /** A replayed INTRODUCE2 is answered again (no replay cache, no once-per-cookie rule). */
  noReplayCache?: boolean;
  /** The blinded key is that of the next period, not the consensus's (a self-consistent descriptor clients never find). */
  blindForNextPeriod?: boolean;
  /** No limit of streams per rendezvous circuit. */
  noStreamLimit?: boolean;
}

/** onion_service.proto LIMITS AND DEFENCES: streams open at once on one rendezvous circuit. */
export const MAX_STREAMS_PER_CIRCUIT = 256;

export interface OnionServicePort {
  virtualPort: number;
  host: string;
  port: number;
}

export interface OnionServiceOptions {
  /** A verified consensus: relays, shared random value and periods. */
  consensus: Consensus;
  ports: OnionServicePort[];
  /** The identity seed (32 bytes); a new one if absent. */
  seed?: Uint8Array;
  introPoints?: number;
  /** Where intro points may be (default: the consensus's Running relays). */
  introRelays?: RelayInfo[];
  timeoutMs?: number;
  faults?: OnionServiceFaults;
}

interface IntroPoint {
  relay: RelayInfo;
  circuit: ClientCircuit;
  authKey: Ed25519Key;
  encKey: X25519Key;
  /** H(encrypted) of every INTRODUCE2 answered through this point. */
  seen: Set<string>;
}

/** The consensus's period and shared random value (onion_service.proto HSDIRS AND THE RING: "Which period"). */
export function currentPeriod(c: Consensus): { period: Period; srv: Uint8Array } {
  const sr = c.sharedRandom;
  const params = c.onionServiceParams;
  if (!sr || sr.current.length !== 32 || !params?.periodLengthMinutes) throw new Error("the consensus has no shared random value or onion-service periods");
  return { period: { num: sr.period, lengthMinutes: params.periodLengthMinutes }, srv: sr.current };
}

export function hsDirsOf(c: Consensus) {
  return c.relays.filter((r) => r.flags.includes(RelayFlag.HSDIR));
}

export class SuiteOnionService {
  readonly identity: Ed25519Key;
  readonly address: string;
  /** INTRODUCE2 refused (MAC) and answered, for failure messages. */
  readonly counts = { refused: 0, answered: 0 };
  private readonly intros: IntroPoint[] = [];
  /** What each HSDir of the store set answered. */
  private readonly uploads: { relay: RelayInfo; status: string }[] = [];
  private readonly pool: LinkPool;
  private readonly faults: OnionServiceFaults;
  private readonly cookies = new Set<string>();
  private readonly circuits = new Set<ClientCircuit>();
  private readonly sockets = new Set<net.Socket>();
  private subcred: Uint8Array = new Uint8Array(0);
  private stopped = false;

  private constructor(private readonly opts: OnionServiceOptions) {
    this.identity = opts.seed ? ed25519FromSeed(opts.seed) : ed25519Generate();
    this.address = onionAddress(this.identity.publicKey);
    this.pool = new LinkPool(opts.timeoutMs ?? 10_000);
    this.faults = opts.faults ?? {};
  }

  /** Intro points established and the descriptor stored on at least one HSDir; throws otherwise. */
  static async start(opts: OnionServiceOptions): Promise<SuiteOnionService> {
    const s = new SuiteOnionService(opts);
    try {
      await s.establishIntroPoints();
      await s.publish();
    } catch (e) {
      s.stop();
      throw e;
    }
    return s;
  }

  private async establishIntroPoints(): Promise<void> {
    const candidates = this.opts.introRelays ?? this.opts.consensus.relays.filter((r) => r.flags.includes(RelayFlag.RUNNING)).map(relayInfoOf);
    for (const relay of [...candidates].sort(() => Math.random() - 0.5).slice(0, this.opts.introPoints ?? 2)) {
      const circuit = await this.pool.circuit([relay]);
      this.circuits.add(circuit);
      const ip: IntroPoint = { relay, circuit, authKey: ed25519Generate(), encKey: x25519Generate(), seen: new Set() };
      const since = circuit.mark();
      circuit.sendCell(0, RelayCommand.ESTABLISH_INTRO, 0, establishIntroBody(ip.authKey, circuitNonce(circuit.keyMaterial[0])));
      const ok = await circuit.waitCell((c) => c.cell.command === RelayCommand.INTRO_ESTABLISHED, this.opts.timeoutMs ?? 10_000, since);
      if (!ok) throw new Error(`no INTRO_ESTABLISHED from ${relay.nickname ?? relay.host}: ${circuit.describeState()}`);
      circuit.onInbound = (ic) => {
        if (ic.cell.command === RelayCommand.INTRODUCE2) void this.onIntroduce2(ip, ic.cell.data).catch(() => {});
      };
      this.intros.push(ip);
    }
    if (!this.intros.length) throw new Error("no Running relay to be an intro point");
  }

  private async publish(): Promise<void> {
    const current = currentPeriod(this.opts.consensus);
    const srv = current.srv;
    const period = this.faults.blindForNextPeriod ? { ...current.period, num: current.period.num + 1n } : current.period;
    const blinded = blindPublicKey(this.identity.publicKey, period);
    this.subcred = subcredential(this.identity.publicKey, blinded);
    const signed = buildOnionDescriptor({
      blindedKey: blinded,
      sign: this.faults.signWithIdentityKey ? (m) => ed25519Sign(this.identity, m) : blindSecretKey(expandSeed(this.identity.seed), period),
      subcredential: this.subcred,
      periodNum: period.num,
      revision: BigInt(Date.now()),
      inner: {
        introPoints: this.intros.map((ip) => ({ linkSpecifiers: linkSpecifiersOf(ip.relay), ntorOnionKey: ip.relay.onionKey, authKey: ip.authKey.publicKey, encKey: ip.encKey.publicKey })),
      },
    });
    const store = responsibleHsDirs(hsDirsOf(this.opts.consensus), blinded, srv, period, STORE_SPREAD).map(relayInfoOf);
    await Promise.all(
      store.map(async (relay) => {
        let status: string;
        try {
          const c = await this.pool.circuit([relay]);
          const out = await hsDirRequest(c, { request: { case: "store", value: signed } }, this.opts.timeoutMs ?? 10_000);
          c.destroy();
          status = out.kind === "response" ? (HsDirStatus[out.response.status] ?? String(out.response.status)) : out.kind === "refused" ? `END ${EndReason[out.reason]}` : out.why;
        } catch (e) {
          status = (e as Error).message;
        }
        this.uploads.push({ relay, status });
      }),
    );
    if (!this.uploads.some((u) => u.status === "OK")) throw new Error(`no HSDir stored the descriptor: ${this.uploads.map((u) => `${u.relay.nickname ?? u.relay.host}: ${u.status}`).join("; ") || "no HSDir in the consensus"}`);
  }

  private async onIntroduce2(ip: IntroPoint, data: Uint8Array): Promise<void> {
    const m = parse(Introduce1Schema, data);
    if (!equal(m.authKey, ip.authKey.publicKey)) return;
    const keys = { encKey: ip.encKey, authKey: ip.authKey.publicKey, subcredential: this.subcred };
    const opened = serviceOpen(keys, introduceHeader(m.authKey), m.clientPublicKey, m.encrypted, m.mac);
    if (!opened) {
      this.counts.refused++;
      return;
    }
    const plain = parse(IntroducePlaintextSchema, opened.plaintext);
    const tag = hex(sha3(m.encrypted));
    if (!this.faults.noReplayCache && (ip.seen.has(tag) || this.cookies.has(hex(plain.cookie)))) return;
    ip.seen.add(tag);
    this.cookies.add(hex(plain.cookie));
    const c = await this.pool.circuit([relayFromSpecifiers(plain.linkSpecifiers, plain.ntorOnionKey)]);
    if (this.stopped) return c.destroy();
    this.circuits.add(c);
    const { handshakeInfo, seed } = serviceRespond(keys, m.clientPublicKey, opened.xb);
    if (this.faults.badAuthMac) handshakeInfo[40] ^= 0x01;
    c.sendCell(0, RelayCommand.RENDEZVOUS1, 0, pb(Rendezvous1Schema, { cookie: plain.cookie, handshakeInfo }));
    c.addOnionHop(endToEndKeys(seed), "service");
    serveStreams(c, this.opts.ports, this.sockets, this.faults.noStreamLimit ? Infinity : MAX_STREAMS_PER_CIRCUIT);
    this.counts.answered++;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
    for (const c of this.circuits) c.destroy();
    this.pool.close();
  }
}

/**
 * The service's side of a joined rendezvous circuit: a BEGIN from the client hop opens a stream
 * to the target of its port (the host of BEGIN is ignored), and bytes flow both ways within the
 * stream's windows; an unknown port gets END, one stream above `maxStreams` END RESOURCELIMIT.
 * `sockets` collects the target connections.
 */
export function serveStreams(c: ClientCircuit, ports: OnionServicePort[], sockets: Set<net.Socket>, maxStreams = MAX_STREAMS_PER_CIRCUIT): void {
  let open = 0;
  c.onInbound = (ic: InboundCell) => {
    if (ic.hop !== c.lastHop || ic.cell.command !== RelayCommand.BEGIN) return;
    const id = ic.cell.streamId;
    const target = ports.find((p) => p.virtualPort === parse(BeginSchema, ic.cell.data).port);
    if (!target || id === 0 || c.streams.has(id) || open >= maxStreams) {
      c.sendCell(c.lastHop, RelayCommand.END, id, pb(EndSchema, { reason: open >= maxStreams ? EndReason.RESOURCELIMIT : EndReason.CONNECTREFUSED }));
      return;
    }
    open++;
    const s = new ClientStream(c, id, c.lastHop);
    c.streams.set(id, s);
    const socket = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    sockets.add(socket);
    let connected = false;
    let pending: Promise<void> = Promise.resolve();
    s.sink = { data: (d) => socket.write(d), end: () => socket.end() };
    socket.on("connect", () => {
      connected = true;
      c.sendCell(c.lastHop, RelayCommand.CONNECTED, id, pb(ConnectedSchema, {}));
    });
    socket.on("data", (d: Buffer) => {
      // One chunk at a time, within the stream's windows.
      socket.pause();
      pending = pending.then(() => s.write(u8(d))).then(
        () => void socket.resume(),
        () => void socket.destroy(),
      );
    });
    socket.on("end", () => {
      pending = pending.then(() => void (c.destroyed || s.end(EndReason.DONE)));
    });
    socket.on("error", () => {
      if (!connected && !c.destroyed) s.end(EndReason.CONNECTREFUSED);
    });
    socket.on("close", () => {
      open--;
      sockets.delete(socket);
    });
  };
}
