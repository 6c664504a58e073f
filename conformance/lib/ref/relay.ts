/**
 * The suite's reference relay: a minimal relay written only from the spec and conformance/lib.
 * It is (1) a real link listener for the directory tests, and (2) with `faults` set, the basis
 * of the self-test's faulty relays. It is not MeowOnion's relay and never imports src/.
 * It is an HSDir, an intro point and a rendezvous point (onion_service.proto; ./onion-roles.ts).
 */
import dns from "node:dns/promises";
import net from "node:net";
import type tls from "node:tls";
import { RelayFeature } from "../../../gen/meowonion/v1/descriptor_pb.js";
import { DestroyReason, HandshakeType } from "../../../gen/meowonion/v1/link_pb.js";
import {
  BeginSchema,
  CongestionControlRequestSchema,
  CongestionControlResponseSchema,
  ConnectedSchema,
  EndReason,
  EndSchema,
  Extend2Schema,
  Extended2Schema,
  RelayCommand,
  ResolveSchema,
  ResolvedSchema,
  SendmeSchema,
  TruncatedSchema,
} from "../../../gen/meowonion/v1/relay_pb.js";
import { equal, hex } from "../bytes.js";
import { parse, pb } from "../circuit.js";
import { type Ed25519Key, type X25519Key, ed25519Generate, relayId, x25519Generate } from "../crypto.js";
import { directoryClient } from "../directory-client.js";
import { buildDescriptor, buildHeartbeat } from "../documents.js";
import { parseExitPolicy, policyAllows } from "../exit-policy.js";
import { type Link, type LinkFaults, LinkHandshakeError, type ReceivedFrame, connectLink, createLinkServer, listen } from "../link.js";
import { varint } from "../frame.js";
import { RELAY_DATA_MAX, decodeRelayCell, encodeRelayCell } from "../relay-cell.js";
import { HopCrypto, recognize } from "../tor1.js";
import { ntorServer } from "../ntor.js";
import { HsDirStore, type OnionRole, type OnionRoleFaults, OnionRoles } from "./onion-roles.js";

export interface RelayFaults extends OnionRoleFaults {
  /** Recognition hashes the body WITHOUT zeroing the digest field. */
  noZeroDigest?: boolean;
  /** Never send SENDMEs as a DATA receiver. */
  neverSendSendme?: boolean;
  /** The exit sends DATA without regard to package windows. */
  ignoreWindows?: boolean;
  /** No RELAY_EARLY limit. */
  acceptNinthRelayEarly?: boolean;
  /** EXTEND2 to our own identity is carried out. */
  extendToSelf?: boolean;
  /** Responder proof signed over an exporter with the wrong label. */
  badLinkProof?: boolean;
  /** Streams are looked up by stream id across all circuits. */
  leakAcrossCircuits?: boolean;
  /** DESTROY from the client is ignored (streams stay open). */
  ignoreDestroy?: boolean;
  /** The next hop's identity proof is not checked against EXTEND2's identity. */
  noExtendIdentityCheck?: boolean;
  /** Any open link to EXTEND2's identity is reused, whatever address EXTEND2 names. */
  reuseAnyLinkToIdentity?: boolean;
  /** A failed extension destroys the whole circuit instead of answering TRUNCATED. */
  destroyOnExtensionFailure?: boolean;
  /** An initiator's link proof is not checked. */
  noInitiatorProofCheck?: boolean;
  /** No DESTROY for cells on unknown circuits. */
  silentUnknownCircuit?: boolean;
  /** Oversized / undecodable frames are skipped instead of closing the link. */
  tolerateBadFrames?: boolean;
  /** The last hop drops unrecognized cells instead of destroying the circuit. */
  dropUnrecognized?: boolean;
  /** SENDMEs that overflow the package window are accepted. */
  acceptWindowOverflow?: boolean;
  /** CREATE2 with any onion key B is answered (the relay "accepts" unknown onion keys with its own). */
  ignoreOnionKeyMismatch?: boolean;
  /** Under congestion control: XOFF from the client does not stop the stream. */
  ccIgnoresXoff?: boolean;
  /** Under congestion control: the exit keeps the fixed windows' 1000-cell start. */
  ccBigInitialWindow?: boolean;
  /** Under congestion control: circuit SENDMEs every 100 DATA cells, not 31. */
  ccSendmeEvery100?: boolean;
  /** Under congestion control: stream SENDMEs are still sent and accepted. */
  ccStreamSendmes?: boolean;
  /** A CONGESTION_CONTROL_REQUEST after a BEGIN is still adopted. */
  ccAcceptsLateRequest?: boolean;
}

export interface RefRelayOptions {
  host?: string;
  port?: number;
  nickname?: string;
  exitPolicy?: string;
  identity?: Ed25519Key;
  onionKey?: X25519Key;
  directoryUrl?: string;
  heartbeatSeconds?: number;
  /** Offer RELAY_FEATURE_HSDIR and store descriptors (default true). */
  hsDir?: boolean;
  faults?: RelayFaults;
  log?: (msg: string) => void;
}

const RELAY_EARLY_LIMIT = 8;
/** onion_service.proto HsDirRequest: at most 20 KiB. */
const HS_DIR_MESSAGE_MAX = 20 * 1024;
/** relay.proto CONGESTION CONTROL. The reference's congestion window stays at CWND_INIT: a sender may. */
const CC_SENDME_INC = 31;
const CC_WINDOW = 124;
const CC_XOFF_BYTES = 250_000;

type FrameCommandInit = NonNullable<Parameters<Link["sendFrame"]>[0]>["command"];

interface Side {
  link: Link;
  id: number;
}

interface Stream {
  id: number;
  circuit: Circuit;
  socket?: net.Socket;
  packageWindow: number;
  deliverWindow: number;
  deliveredCells: number;
  /** XOFF received (congestion control). */
  stopped: boolean;
  /** XOFF sent for this stream's data (congestion control). */
  xoffSent: boolean;
  queue: Uint8Array[];
  /** A directory stream (BEGIN_DIR): the request bytes so far. */
  dir?: Uint8Array;
  endSent: boolean;
  endReceived: boolean;
  pumpEnd?: () => void;
}

interface Circuit {
  prev: Side;
  next?: Side;
  crypto: HopCrypto;
  relayEarly: number;
  streams: Map<number, Stream>;
  packageWindow: number;
  deliverWindow: number;
  deliveredData: number;
  sentData: number;
  sendmeDigests: Uint8Array[];
  /** Congestion control adopted: SENDMEs every 31 cells, a window of CC_WINDOW, XOFF/XON. */
  cc: boolean;
  /** A request was answered or a stream opened: no (further) negotiation. */
  ccClosed: boolean;
  extending?: boolean;
  dead: boolean;
  /** The last 20 bytes of the ntor key material (Tor's KH): ESTABLISH_INTRO's MAC key. */
  nonce: Uint8Array;
  role?: OnionRole;
}

export class RefRelay {
  readonly identity: Ed25519Key;
  readonly onionKey: X25519Key;
  readonly nickname: string;
  readonly exitPolicyText: string;
  readonly faults: RelayFaults;
  host = "127.0.0.1";
  port = 0;
  private server: tls.Server | undefined;
  private links = new Set<Link>();
  private outLinks = new Map<string, Promise<Link>>();
  private circuits = new Map<string, Circuit>();
  private globalStreams = new Map<number, Stream>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private log: (msg: string) => void;
  private linkIds = new WeakMap<Link, number>();
  private nextLinkId = 1;
  private readonly hsDirStore: HsDirStore | undefined;
  private readonly roles: OnionRoles<Circuit>;

  constructor(private readonly opts: RefRelayOptions = {}) {
    this.identity = opts.identity ?? ed25519Generate();
    this.onionKey = opts.onionKey ?? x25519Generate();
    this.nickname = opts.nickname ?? "ref";
    this.exitPolicyText = opts.exitPolicy ?? "";
    this.faults = opts.faults ?? {};
    this.log = opts.log ?? (() => {});
    this.hsDirStore = (opts.hsDir ?? true) ? new HsDirStore(this.faults) : undefined;
    this.roles = new OnionRoles<Circuit>(
      {
        endsHere: (c) => !c.next && !c.extending,
        originate: (c, command, data) => void this.originate(c, command, 0, data),
        destroy: (c) => this.destroyBoth(c, DestroyReason.PROTOCOL),
      },
      this.faults,
    );
  }

  get exitPolicy() {
    return this.exitPolicyText ? parseExitPolicy(this.exitPolicyText) : undefined;
  }

  private linkFaults(): LinkFaults {
    return {
      proofLabel: this.faults.badLinkProof ? "EXPORTER-meowonion-link-v0" : undefined,
      skipPeerCheck: this.faults.noInitiatorProofCheck,
    };
  }

  async start(): Promise<void> {
    this.server = createLinkServer({ identity: this.identity, faults: this.linkFaults(), lenientFraming: this.faults.tolerateBadFrames }, (link) => this.adopt(link));
    const a = await listen(this.server, this.opts.host ?? "127.0.0.1", this.opts.port ?? 0);
    this.host = a.host;
    this.port = a.port;
    if (this.opts.directoryUrl) await this.publish();
  }

  private async publish(): Promise<void> {
    const dir = directoryClient(this.opts.directoryUrl!);
    const { signed } = buildDescriptor({
      identity: this.identity,
      onionKey: this.onionKey,
      host: this.host,
      port: this.port,
      nickname: this.nickname,
      exitPolicy: this.exitPolicyText || undefined,
      mutate: (d) => {
        d.features = this.hsDirStore ? [RelayFeature.CONGESTION_CONTROL, RelayFeature.HSDIR] : [RelayFeature.CONGESTION_CONTROL];
      },
    });
    await dir.publishDescriptor({ descriptor: signed });
    const beat = async () => {
      try {
        await dir.heartbeat(buildHeartbeat(this.identity));
      } catch (e) {
        this.log(`heartbeat failed: ${(e as Error).message}`);
      }
    };
    await beat();
    this.heartbeatTimer = setInterval(beat, (this.opts.heartbeatSeconds ?? 10) * 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    for (const l of this.links) l.close("relay stopping");
    for (const c of this.circuits.values()) for (const s of c.streams.values()) s.socket?.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private adopt(link: Link): void {
    this.links.add(link);
    this.linkIds.set(link, this.nextLinkId++);
    link.keepReceived = false;
    link.on("frame", (f) => this.onFrame(link, f));
    link.on("close", () => this.onLinkClosed(link));
  }

  private key(link: Link, id: number): string {
    return `${this.linkIds.get(link)}:${id}`;
  }

  private onLinkClosed(link: Link): void {
    this.links.delete(link);
    for (const [k, c] of [...this.circuits]) {
      if (c.prev.link === link) {
        this.circuits.delete(k);
        this.teardown(c, DestroyReason.CHANNEL_CLOSED, "prev");
      } else if (c.next?.link === link) {
        this.circuits.delete(k);
      }
    }
    for (const [k, p] of this.outLinks) p.then((l) => l === link && this.outLinks.delete(k), () => {});
  }

  private send(side: Side, command: FrameCommandInit): void {
    side.link.sendFrame({ circuitId: side.id, command });
  }

  private onFrame(link: Link, { frame }: ReceivedFrame): void {
    const id = frame.circuitId;
    const cmd = frame.command;
    if (cmd.case === "hello") return link.close("protocol: second hello");
    if (cmd.case === "padding") return;
    if (id === 0) return link.close("protocol: circuit frame with circuit id 0");
    const c = this.circuits.get(this.key(link, id));
    switch (cmd.case) {
      case "create2":
        return this.onCreate2(link, id, cmd.value.handshakeType, cmd.value.handshakeData, c);
      case "created2":
        if (!c || c.next?.link !== link || c.next.id !== id) return this.unknown(link, id);
        if (!c.extending) return this.destroyBoth(c, DestroyReason.PROTOCOL);
        c.extending = false;
        return void this.originate(c, RelayCommand.EXTENDED2, 0, pb(Extended2Schema, { handshakeData: cmd.value.handshakeData }));
      case "relay":
      case "relayEarly": {
        if (cmd.value.length !== 509) return link.close("protocol: relay payload not 509 bytes");
        if (!c) return this.unknown(link, id);
        const early = cmd.case === "relayEarly";
        if (c.prev.link === link && c.prev.id === id) return this.onOutbound(c, cmd.value, early);
        if (early) return this.destroyBoth(c, DestroyReason.PROTOCOL);
        // Inbound: add our layer and pass towards the client.
        return this.send(c.prev, { case: "relay", value: c.crypto.bwd.update(cmd.value) });
      }
      case "destroy":
        if (!c) return;
        if (c.prev.link === link && c.prev.id === id && this.faults.ignoreDestroy) return;
        this.circuits.delete(this.key(link, id));
        // The next relay refused our CREATE2: the extension failed, the circuit stays (EXTENSION FAILURE).
        if (c.extending && c.next?.link === link && c.next.id === id) return this.extensionFailed(c, cmd.value.reason);
        return this.teardown(c, DestroyReason.DESTROYED, c.prev.link === link && c.prev.id === id ? "prev" : "next");
    }
  }

  private unknown(link: Link, id: number): void {
    if (this.faults.silentUnknownCircuit) return;
    link.sendFrame({ circuitId: id, command: { case: "destroy", value: { reason: DestroyReason.PROTOCOL } } });
  }

  private onCreate2(link: Link, id: number, type: HandshakeType, data: Uint8Array, existing: Circuit | undefined): void {
    const destroy = () => link.sendFrame({ circuitId: id, command: { case: "destroy", value: { reason: DestroyReason.PROTOCOL } } });
    const top = (id & 0x80000000) !== 0;
    // The peer's ids have the top bit set iff the peer opened the connection.
    const peerIsInitiator = !link.initiator;
    if (top !== peerIsInitiator || existing) return destroy();
    if (type !== HandshakeType.NTOR || data.length !== 84) return destroy();
    let res;
    try {
      const onionskin = this.faults.ignoreOnionKeyMismatch ? Buffer.concat([data.subarray(0, 20), this.onionKey.publicKey, data.subarray(52)]) : data;
      res = ntorServer(onionskin, relayId(this.identity.publicKey), [this.onionKey]);
    } catch {
      return destroy();
    }
    const c: Circuit = {
      prev: { link, id },
      crypto: new HopCrypto(res.keys),
      relayEarly: 0,
      streams: new Map(),
      packageWindow: 1000,
      deliverWindow: 1000,
      deliveredData: 0,
      sentData: 0,
      sendmeDigests: [],
      cc: false,
      ccClosed: false,
      dead: false,
      nonce: res.keys.slice(72, 92),
    };
    this.circuits.set(this.key(link, id), c);
    link.sendFrame({ circuitId: id, command: { case: "created2", value: { handshakeData: res.reply } } });
  }

  private recognize(c: Circuit, body: Uint8Array): Uint8Array | undefined {
    // Faulty variant: hash the body as received, digest field included.
    return recognize(body, c.crypto.fwdDigest, !this.faults.noZeroDigest);
  }

  private onOutbound(c: Circuit, cell: Uint8Array, early: boolean): void {
    if (early && ++c.relayEarly > RELAY_EARLY_LIMIT && !this.faults.acceptNinthRelayEarly) return this.destroyBoth(c, DestroyReason.PROTOCOL);
    const body = c.crypto.fwd.update(cell);
    const digest = this.recognize(c, body);
    if (!digest) {
      if (c.next && !c.extending) return this.send(c.next, early ? { case: "relayEarly", value: body } : { case: "relay", value: body });
      // A rendezvous point: on into the joined circuit, towards its originator.
      if (c.role?.kind === "joined") {
        const other = c.role.other as Circuit;
        return this.send(other.prev, { case: "relay", value: other.crypto.bwd.update(body) });
      }
      if (this.faults.dropUnrecognized) return;
      return this.destroyBoth(c, DestroyReason.PROTOCOL);
    }
    let rc;
    try {
      rc = decodeRelayCell(body);
    } catch {
      return this.destroyBoth(c, DestroyReason.PROTOCOL);
    }
    try {
      this.onRecognized(c, rc.command, rc.streamId, rc.data, digest, early);
    } catch (e) {
      this.log(`protocol error: ${(e as Error).message}`);
      this.destroyBoth(c, DestroyReason.PROTOCOL);
    }
  }

  private onRecognized(c: Circuit, command: number, streamId: number, data: Uint8Array, digest: Uint8Array, early: boolean): void {
    if (OnionRoles.handles(command)) {
      if (streamId !== 0) throw new Error("onion-service command on a stream");
      return this.roles.handle(c, command, data);
    }
    switch (command) {
      case RelayCommand.DROP:
        return;
      case RelayCommand.EXTEND2:
        if (!early || streamId !== 0 || c.next || c.extending) throw new Error("bad EXTEND2");
        return void this.extend(c, parse(Extend2Schema, data));
      case RelayCommand.TRUNCATE:
        if (c.next) {
          this.circuits.delete(this.key(c.next.link, c.next.id));
          this.send(c.next, { case: "destroy", value: { reason: DestroyReason.REQUESTED } });
          c.next = undefined;
        }
        return void this.originate(c, RelayCommand.TRUNCATED, 0, pb(TruncatedSchema, { reason: DestroyReason.REQUESTED }));
      case RelayCommand.BEGIN:
        return void this.begin(c, streamId, parse(BeginSchema, data));
      case RelayCommand.BEGIN_DIR:
        return this.beginDir(c, streamId);
      case RelayCommand.RESOLVE:
        return void this.resolve(c, streamId, parse(ResolveSchema, data).host);
      case RelayCommand.DATA:
        return this.onData(c, streamId, data, digest);
      case RelayCommand.SENDME:
        return this.onSendme(c, streamId, parse(SendmeSchema, data));
      case RelayCommand.CONGESTION_CONTROL_REQUEST: {
        if (streamId !== 0 || c.next || (c.ccClosed && !(this.faults.ccAcceptsLateRequest && !c.cc))) throw new Error("late, second or misaddressed CONGESTION_CONTROL_REQUEST");
        c.ccClosed = true;
        const version = parse(CongestionControlRequestSchema, data).version === 1 ? 1 : 0;
        this.originate(c, RelayCommand.CONGESTION_CONTROL_RESPONSE, 0, pb(CongestionControlResponseSchema, { version }));
        if (version === 1) {
          c.cc = true;
          c.packageWindow = this.faults.ccBigInitialWindow ? 1000 : CC_WINDOW;
        }
        return;
      }
      case RelayCommand.XOFF:
      case RelayCommand.XON: {
        if (!c.cc || streamId === 0) throw new Error("XOFF/XON without congestion control");
        const s = this.streamOf(c, streamId);
        if (!s) return;
        const on = command === RelayCommand.XON;
        if (s.stopped !== on) throw new Error("XOFF twice or XON without XOFF");
        s.stopped = !on;
        if (on) this.pump(s);
        return;
      }
      case RelayCommand.END: {
        const s = this.streamOf(c, streamId);
        if (!s) return;
        s.endReceived = true;
        const reason = parse(EndSchema, data).reason;
        if (reason === EndReason.DONE) s.socket?.end();
        else s.socket?.destroy();
        if (s.endSent || reason !== EndReason.DONE) this.dropStream(c, s);
        return;
      }
      default:
        throw new Error(`unexpected relay command ${command}`);
    }
  }

  private streamOf(c: Circuit, id: number): Stream | undefined {
    return this.faults.leakAcrossCircuits ? this.globalStreams.get(id) : c.streams.get(id);
  }

  private dropStream(c: Circuit, s: Stream): void {
    if (c.streams.get(s.id) === s) c.streams.delete(s.id);
    if (this.globalStreams.get(s.id) === s) this.globalStreams.delete(s.id);
  }

  /** Send a relay cell we originate, towards the client. */
  private originate(c: Circuit, command: number, streamId: number, data: Uint8Array): Uint8Array {
    const body = encodeRelayCell(command, streamId, data);
    const value = c.crypto.bwdDigest.update(body);
    body.set(value.subarray(0, 4), 5);
    this.send(c.prev, { case: "relay", value: c.crypto.bwd.update(body) });
    return value;
  }

  private async extend(c: Circuit, ext: import("../../../gen/meowonion/v1/relay_pb.js").Extend2): Promise<void> {
    let address: string | undefined;
    let identity: Uint8Array | undefined;
    for (const ls of ext.linkSpecifiers) {
      if (ls.specifier.case === "address") address ??= ls.specifier.value;
      if (ls.specifier.case === "identityKey") identity = ls.specifier.value;
    }
    const fail = (reason: DestroyReason) => this.destroyBoth(c, reason);
    if (!address || !identity || identity.length !== 32 || !ext.create2) return fail(DestroyReason.PROTOCOL);
    if (equal(identity, this.identity.publicKey) && !this.faults.extendToSelf) return fail(DestroyReason.PROTOCOL);
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
    if (!m) return fail(DestroyReason.PROTOCOL);
    c.extending = true;
    let link: Link;
    try {
      link = await this.linkTo(m[1], Number(m[2]), identity);
    } catch (e) {
      const reason = e instanceof LinkHandshakeError ? e.reason : "connect";
      return this.extensionFailed(c, reason === "identity-mismatch" || reason === "bad-proof" ? DestroyReason.OR_IDENTITY : DestroyReason.CONNECTFAILED);
    }
    if (c.dead) return;
    let id: number;
    do id = (0x80000000 | Math.floor(Math.random() * 0x7fffffff) | 1) >>> 0;
    while (this.circuits.has(this.key(link, id)));
    c.next = { link, id };
    this.circuits.set(this.key(link, id), c);
    link.sendFrame({ circuitId: id, command: { case: "create2", value: { handshakeType: ext.create2.handshakeType, handshakeData: ext.create2.handshakeData } } });
  }

  /** relay.proto Truncate, EXTENSION FAILURE: answer TRUNCATED and keep the circuit, which ends here again. */
  private extensionFailed(c: Circuit, reason: DestroyReason): void {
    if (c.dead) return;
    if (this.faults.destroyOnExtensionFailure) return this.destroyBoth(c, reason);
    c.extending = false;
    c.next = undefined;
    this.originate(c, RelayCommand.TRUNCATED, 0, pb(TruncatedSchema, { reason }));
  }

  private linkTo(host: string, port: number, identity: Uint8Array): Promise<Link> {
    // One link per address and identity: a link is reused only for the address it goes to.
    const k = this.faults.reuseAnyLinkToIdentity ? hex(identity) : `${host}:${port}:${hex(identity)}`;
    let p = this.outLinks.get(k);
    if (!p) {
      p = connectLink(host, port, {
        identity: this.identity,
        expectIdentity: this.faults.noExtendIdentityCheck ? undefined : identity,
        faults: { skipPeerCheck: this.faults.noExtendIdentityCheck },
      }).then((l) => {
        this.adopt(l);
        return l;
      });
      p.catch(() => this.outLinks.delete(k));
      this.outLinks.set(k, p);
    }
    return p;
  }

  private async begin(c: Circuit, streamId: number, b: { host: string; port: number }): Promise<void> {
    if (streamId === 0 || c.streams.has(streamId)) throw new Error("bad BEGIN stream id");
    c.ccClosed = true;
    const s: Stream = { id: streamId, circuit: c, packageWindow: 500, deliverWindow: 500, deliveredCells: 0, stopped: false, xoffSent: false, queue: [], endSent: false, endReceived: false };
    c.streams.set(streamId, s);
    if (this.faults.leakAcrossCircuits) this.globalStreams.set(streamId, s);
    const end = (reason: EndReason) => {
      if (s.endSent || c.dead) return;
      s.endSent = true;
      this.originate(s.circuit, RelayCommand.END, streamId, pb(EndSchema, { reason }));
      if (s.endReceived || reason !== EndReason.DONE) this.dropStream(c, s);
    };
    if (b.port < 1 || b.port > 65535) return end(EndReason.TORPROTOCOL);
    let address = b.host;
    if (net.isIP(address) === 0) {
      try {
        address = (await dns.lookup(b.host)).address;
      } catch {
        return end(EndReason.RESOLVEFAILED);
      }
    }
    if (!policyAllows(this.exitPolicy, address, b.port)) return end(EndReason.EXITPOLICY);
    const socket = net.connect({ host: address, port: b.port, allowHalfOpen: true });
    s.socket = socket;
    socket.setNoDelay(true);
    socket.once("connect", () => {
      if (c.dead) return socket.destroy();
      this.originate(s.circuit, RelayCommand.CONNECTED, streamId, pb(ConnectedSchema, { address, ttlSeconds: 60 }));
    });
    socket.on("data", (chunk: Buffer) => {
      for (let o = 0; o < chunk.length; o += RELAY_DATA_MAX) s.queue.push(new Uint8Array(chunk.subarray(o, Math.min(chunk.length, o + RELAY_DATA_MAX))));
      this.pump(s);
    });
    socket.on("end", () => {
      s.queue.push(new Uint8Array(0)); // end marker
      this.pump(s);
    });
    socket.on("drain", () => {
      if (!s.xoffSent || c.dead) return;
      s.xoffSent = false;
      this.originate(c, RelayCommand.XON, streamId, new Uint8Array(0));
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (!socket.connecting && s.queue.length) return;
      end(e.code === "ECONNREFUSED" ? EndReason.CONNECTREFUSED : e.code === "ECONNRESET" ? EndReason.CONNRESET : EndReason.MISC);
    });
    s.pumpEnd = () => end(EndReason.DONE);
  }

  /** BEGIN_DIR: CONNECTED if this relay is an HSDir, else END NOTDIRECTORY. */
  private beginDir(c: Circuit, streamId: number): void {
    if (streamId === 0 || c.streams.has(streamId)) throw new Error("bad BEGIN_DIR stream id");
    c.ccClosed = true;
    if (!this.hsDirStore) return void this.originate(c, RelayCommand.END, streamId, pb(EndSchema, { reason: EndReason.NOTDIRECTORY }));
    const s: Stream = { id: streamId, circuit: c, packageWindow: 500, deliverWindow: 500, deliveredCells: 0, stopped: false, xoffSent: false, queue: [], dir: new Uint8Array(0), endSent: false, endReceived: false };
    c.streams.set(streamId, s);
    s.pumpEnd = () => {
      if (s.endSent || c.dead) return;
      s.endSent = true;
      this.originate(c, RelayCommand.END, streamId, pb(EndSchema, { reason: EndReason.DONE }));
      if (s.endReceived) this.dropStream(c, s);
    };
    this.originate(c, RelayCommand.CONNECTED, streamId, pb(ConnectedSchema, {}));
  }

  /** Request bytes on a directory stream: once one size-delimited request is in, answer it and end. */
  private onDirData(s: Stream, data: Uint8Array): void {
    const buf = Buffer.concat([s.dir!, data]);
    s.dir = buf;
    let len = 0;
    let i = 0;
    for (; i < Math.min(buf.length, 5); i++) {
      len += (buf[i] & 0x7f) * 2 ** (7 * i);
      if ((buf[i] & 0x80) === 0) break;
    }
    if (i === Math.min(buf.length, 5)) return;
    if (len > HS_DIR_MESSAGE_MAX) throw new Error("directory request above 20 KiB");
    if (buf.length < i + 1 + len || s.queue.length || s.endSent) return;
    const answer = this.hsDirStore!.answer(buf.subarray(i + 1, i + 1 + len));
    const out = Buffer.concat([Buffer.from(varint(answer.length)), answer]);
    for (let o = 0; o < out.length; o += RELAY_DATA_MAX) s.queue.push(new Uint8Array(out.subarray(o, Math.min(out.length, o + RELAY_DATA_MAX))));
    s.queue.push(new Uint8Array(0));
    this.pump(s);
  }

  private pump(s: Stream): void {
    const c = s.circuit;
    while (s.queue.length && !c.dead) {
      const next = s.queue[0];
      if (next.length === 0) {
        s.queue.shift();
        s.pumpEnd?.();
        return;
      }
      const streamBlocked = c.cc ? s.stopped && !this.faults.ccIgnoresXoff : s.packageWindow <= 0;
      if (!this.faults.ignoreWindows && (c.packageWindow <= 0 || streamBlocked)) break;
      s.queue.shift();
      c.packageWindow--;
      s.packageWindow--;
      const digest = this.originate(c, RelayCommand.DATA, s.id, next);
      if (++c.sentData % this.sendmeEvery(c) === 0) c.sendmeDigests.push(digest);
    }
    if (s.queue.length > 64) s.socket?.pause();
    else s.socket?.resume();
  }

  /** DATA cells per circuit SENDME, both ways. */
  private sendmeEvery(c: Circuit): number {
    return c.cc && !this.faults.ccSendmeEvery100 ? CC_SENDME_INC : 100;
  }

  private onData(c: Circuit, streamId: number, data: Uint8Array, digest: Uint8Array): void {
    const s = this.streamOf(c, streamId);
    const every = this.sendmeEvery(c);
    if (!c.cc) c.deliverWindow--;
    c.deliveredData++;
    if (c.deliverWindow < 0) throw new Error("circuit deliver window below zero");
    if (!this.faults.neverSendSendme && c.deliveredData % every === 0) {
      if (!c.cc) c.deliverWindow += every;
      this.originate(c, RelayCommand.SENDME, 0, pb(SendmeSchema, { version: 1, digest }));
    }
    if (!s) return;
    s.deliveredCells++;
    const streamWindows = !c.cc || this.faults.ccStreamSendmes;
    if (streamWindows) {
      s.deliverWindow--;
      if (s.deliverWindow < 0) throw new Error("stream deliver window below zero");
      if (!this.faults.neverSendSendme && s.deliveredCells % 50 === 0) {
        s.deliverWindow += 50;
        this.originate(c, RelayCommand.SENDME, streamId, pb(SendmeSchema, { version: 0 }));
      }
    }
    if (s.dir) this.onDirData(s, data);
    s.socket?.write(data);
    if (c.cc && !s.xoffSent && s.socket && s.socket.writableLength > CC_XOFF_BYTES) {
      s.xoffSent = true;
      this.originate(c, RelayCommand.XOFF, streamId, new Uint8Array(0));
    }
  }

  private onSendme(c: Circuit, streamId: number, m: { version: number; digest: Uint8Array }): void {
    if (streamId === 0) {
      if (m.version !== 1) throw new Error("circuit SENDME version");
      const expect = c.sendmeDigests.shift();
      if (!this.faults.acceptWindowOverflow) {
        if (!expect || !equal(expect, m.digest)) throw new Error("circuit SENDME digest mismatch / window overflow");
      }
      c.packageWindow += this.sendmeEvery(c);
      for (const s of c.streams.values()) this.pump(s);
    } else {
      if (c.cc && !this.faults.ccStreamSendmes) throw new Error("stream SENDME under congestion control");
      const s = this.streamOf(c, streamId);
      if (!s) return;
      s.packageWindow += 50;
      if (s.packageWindow > 500 && !this.faults.acceptWindowOverflow) throw new Error("stream window overflow");
      this.pump(s);
    }
  }

  private async resolve(c: Circuit, streamId: number, host: string): Promise<void> {
    let answers: { address: string; ttlSeconds: number }[] = [];
    try {
      answers = (await dns.lookup(host, { all: true })).slice(0, 16).map((a) => ({ address: a.address, ttlSeconds: 60 }));
    } catch {
      answers = [];
    }
    if (!c.dead) this.originate(c, RelayCommand.RESOLVED, streamId, pb(ResolvedSchema, { answers }));
  }

  private destroyBoth(c: Circuit, reason: DestroyReason): void {
    if (c.dead) return;
    this.circuits.delete(this.key(c.prev.link, c.prev.id));
    this.send(c.prev, { case: "destroy", value: { reason } });
    if (c.next) {
      this.circuits.delete(this.key(c.next.link, c.next.id));
      this.send(c.next, { case: "destroy", value: { reason: DestroyReason.DESTROYED } });
    }
    this.free(c);
  }

  /** A DESTROY (or link loss) arrived from `from`: forward to the other side and free. */
  private teardown(c: Circuit, reason: DestroyReason, from: "prev" | "next"): void {
    if (c.dead) return;
    const other = from === "prev" ? c.next : c.prev;
    if (other) {
      this.circuits.delete(this.key(other.link, other.id));
      this.send(other, { case: "destroy", value: { reason: reason === DestroyReason.CHANNEL_CLOSED ? DestroyReason.DESTROYED : reason } });
    }
    this.free(c);
  }

  private free(c: Circuit): void {
    c.dead = true;
    this.roles.forget(c);
    // The two halves of a joined rendezvous circuit live and die together.
    if (c.role?.kind === "joined" && !this.faults.rendKeepsOtherHalf) this.destroyBoth(c.role.other as Circuit, DestroyReason.DESTROYED);
    for (const s of c.streams.values()) {
      s.socket?.destroy();
      this.dropStream(c, s);
    }
  }
}

