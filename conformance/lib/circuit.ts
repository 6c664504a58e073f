/**
 * The suite's own onion client: circuits over a Link (CREATE2 / EXTEND2 with ntor, tor1 crypto),
 * streams (BEGIN / DATA / END) and flow control (relay.proto SENDME AND FLOW CONTROL).
 * Written from the spec only; it exposes counters and switches the tests need (e.g. never send
 * SENDMEs) and records every protocol anomaly it sees instead of hiding it.
 */
import { randomInt } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { DestroyReason, HandshakeType, Create2Schema } from "../../gen/meowonion/v1/link_pb.js";
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
  SendmeSchema,
  TruncatedSchema,
} from "../../gen/meowonion/v1/relay_pb.js";
import { equal, hex } from "./bytes.js";
import { relayId } from "./crypto.js";
import type { Link, ReceivedFrame } from "./link.js";
import { NtorAuthError, type NtorClientState, ntorClientFinish, ntorClientStart } from "./ntor.js";
import { RELAY_DATA_MAX, type RelayCell, decodeRelayCell, encodeRelayCell } from "./relay-cell.js";
import { ClientCircuitCrypto } from "./tor1.js";

export interface RelayInfo {
  host: string;
  port: number;
  identity: Uint8Array;
  onionKey: Uint8Array;
  nickname?: string;
}

export const CIRCUIT_WINDOW = 1000;
export const CIRCUIT_SENDME_EVERY = 100;
export const STREAM_WINDOW = 500;
export const STREAM_SENDME_EVERY = 50;
/** relay.proto CONGESTION CONTROL: SENDME_INC, CWND_INIT, XOFF_BYTES. */
export const CC_SENDME_EVERY = 31;
export const CC_CWND_INIT = 124;
export const CC_XOFF_BYTES = 250_000;

export function pb<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

export function parse<D extends DescMessage>(schema: D, data: Uint8Array): MessageShape<D> {
  return fromBinary(schema, data);
}

/** An initiator's circuit id: nonzero, random, top bit set (link.proto CIRCUIT IDS). */
export function initiatorCircuitId(): number {
  return (0x80000000 | randomInt(1, 0x7fffffff)) >>> 0;
}

export interface InboundCell {
  hop: number;
  cell: RelayCell;
  /** Full running digest after this cell (for authenticated SENDMEs). */
  digest: Uint8Array;
  early: boolean;
  at: number;
  /** Arrival order on this circuit (1, 2, ...). */
  seq: number;
}

export interface CircuitOptions {
  /** Send SENDMEs as a receiver should (default true). */
  autoSendme?: boolean;
  /** Enforce our package windows when sending DATA (default true). */
  respectWindows?: boolean;
}

export class CircuitError extends Error {}

/** The digest a version 1 SENDME carries: all 20 bytes of SHA-1, the first 20 of SHA3-256. */
const sendmeDigest = (d: Uint8Array) => d.subarray(0, 20);

export class ClientCircuit {
  readonly crypto = new ClientCircuitCrypto();
  readonly hops: RelayInfo[] = [];
  /** Each relay hop's ntor key material (92 bytes: its last 20 are the nonce, Tor's KH). */
  readonly keyMaterial: Uint8Array[] = [];
  /** Called with every inbound cell after the circuit's own handling (e.g. a service's BEGIN). */
  onInbound: ((c: InboundCell) => void) | undefined;
  destroyedReason: DestroyReason | undefined;
  destroyedBy: "peer" | "us" | "link" | undefined;
  /** Anomalies seen: unrecognized cells, bad SENDMEs, window violations by the peer... */
  readonly anomalies: string[] = [];
  readonly inbound: InboundCell[] = [];
  readonly streams = new Map<number, ClientStream>();
  autoSendme: boolean;
  respectWindows: boolean;
  /** Congestion control was negotiated with the last hop (negotiateCongestionControl). */
  congestionControl = false;
  /** DATA cells received on the whole circuit. */
  dataCellsReceived = 0;
  circuitDeliverWindow = CIRCUIT_WINDOW;
  circuitPackageWindow = CIRCUIT_WINDOW;
  private sentDataCells = 0;
  private pendingSendmeDigests: Uint8Array[] = [];
  private waiters: { pred: (c: InboundCell) => boolean; resolve: (c: InboundCell | undefined) => void }[] = [];
  private windowWaiters: (() => void)[] = [];
  private nextStreamId = 1;
  private frameListener = (f: ReceivedFrame) => this.onFrame(f);
  private closeListener = () => this.onDestroyed(DestroyReason.CHANNEL_CLOSED, "link");
  relayEarlySent = 0;

  constructor(
    readonly link: Link,
    readonly id: number = initiatorCircuitId(),
    opts: CircuitOptions = {},
  ) {
    this.autoSendme = opts.autoSendme ?? true;
    this.respectWindows = opts.respectWindows ?? true;
    link.on("frame", this.frameListener);
    link.on("close", this.closeListener);
  }

  get destroyed(): boolean {
    return this.destroyedReason !== undefined;
  }

  describeState(): string {
    const parts: string[] = [];
    if (this.destroyed) parts.push(`circuit destroyed by ${this.destroyedBy} (reason ${DestroyReason[this.destroyedReason!] ?? this.destroyedReason})`);
    if (this.link.closed) parts.push(`link closed: ${this.link.closeReason}`);
    if (this.anomalies.length) parts.push(`anomalies: ${this.anomalies.slice(0, 3).join("; ")}`);
    return parts.join("; ") || "circuit open, nothing received";
  }

  private onDestroyed(reason: DestroyReason, by: "peer" | "us" | "link"): void {
    if (this.destroyed) return;
    this.destroyedReason = reason;
    this.destroyedBy = by;
    this.link.off("frame", this.frameListener);
    this.link.off("close", this.closeListener);
    for (const w of this.waiters.splice(0)) w.resolve(undefined);
    for (const w of this.windowWaiters.splice(0)) w();
    for (const s of this.streams.values()) s.onCircuitGone();
  }

  /** Waiters for the next CREATED2 (only during create). */
  private created2: ((data: Uint8Array | undefined) => void) | undefined;

  private onFrame(rf: ReceivedFrame): void {
    const f = rf.frame;
    if (f.circuitId !== this.id) return;
    switch (f.command.case) {
      case "created2":
        if (this.created2) {
          const r = this.created2;
          this.created2 = undefined;
          r(f.command.value.handshakeData);
        } else this.anomalies.push("unexpected CREATED2");
        return;
      case "destroy":
        if (this.created2) {
          const r = this.created2;
          this.created2 = undefined;
          this.onDestroyed(f.command.value.reason, "peer");
          r(undefined);
        } else this.onDestroyed(f.command.value.reason, "peer");
        return;
      case "relay":
      case "relayEarly":
        this.onRelay(f.command.value, f.command.case === "relayEarly", rf);
        return;
      default:
        this.anomalies.push(`unexpected ${f.command.case} frame on circuit`);
    }
  }

  private onRelay(body: Uint8Array, early: boolean, rf: ReceivedFrame): void {
    if (early) this.anomalies.push("inbound RELAY_EARLY (protocol error)");
    if (rf.wireLen !== 519) this.anomalies.push(`relay frame of ${rf.wireLen} bytes on the wire, not 519`);
    if (body.length !== 509) {
      this.anomalies.push(`relay payload of ${body.length} bytes`);
      return;
    }
    const r = this.crypto.decryptInbound(body);
    if (!r) {
      this.anomalies.push("unrecognized inbound relay cell (digest or recognized mismatch at every hop)");
      this.destroy(DestroyReason.PROTOCOL);
      return;
    }
    let cell: RelayCell;
    try {
      cell = decodeRelayCell(r.body);
    } catch (e) {
      this.anomalies.push(`bad relay cell: ${(e as Error).message}`);
      this.destroy(DestroyReason.PROTOCOL);
      return;
    }
    const ic: InboundCell = { hop: r.hop, cell, digest: r.digest, early, at: Date.now(), seq: ++this.seqCounter };
    this.inbound.push(ic);
    if (this.inbound.length > 20000) this.inbound.splice(0, 10000);
    this.handleCell(ic);
    this.onInbound?.(ic);
    for (const w of [...this.waiters]) {
      if (w.pred(ic)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(ic);
      }
    }
  }

  private handleCell(ic: InboundCell): void {
    const { cell } = ic;
    if (cell.command === RelayCommand.DATA) {
      this.dataCellsReceived++;
      const every = this.sendmeEvery;
      // Under congestion control the sender's window is its own: nothing to check here.
      if (!this.congestionControl) this.circuitDeliverWindow--;
      if (this.circuitDeliverWindow < 0) this.anomalies.push(`circuit deliver window below zero (${this.dataCellsReceived} DATA cells without our SENDME)`);
      if (this.autoSendme && this.dataCellsReceived % every === 0) {
        if (!this.congestionControl) this.circuitDeliverWindow += every;
        this.sendCell(ic.hop, RelayCommand.SENDME, 0, pb(SendmeSchema, { version: 1, digest: sendmeDigest(ic.digest) }));
      }
      const s = this.streams.get(cell.streamId);
      if (s) s.onData(cell.data, ic.hop);
      else this.anomalies.push(`DATA for unknown stream ${cell.streamId}`);
    } else if (cell.command === RelayCommand.SENDME) {
      let msg;
      try {
        msg = parse(SendmeSchema, cell.data);
      } catch {
        this.anomalies.push("undecodable SENDME");
        return;
      }
      if (cell.streamId === 0) {
        const expect = this.pendingSendmeDigests.shift();
        if (msg.version !== 1) this.anomalies.push(`circuit SENDME version ${msg.version}, not 1`);
        else if (!expect) this.anomalies.push(`circuit SENDME without ${this.sendmeEvery} DATA cells sent`);
        else if (!equal(expect, msg.digest)) this.anomalies.push(`circuit SENDME digest ${hex(msg.digest)} != expected ${hex(expect)}`);
        this.circuitPackageWindow += this.sendmeEvery;
        const limit = this.congestionControl ? CC_CWND_INIT : CIRCUIT_WINDOW;
        if (this.circuitPackageWindow > limit) this.anomalies.push(`circuit package window above ${limit} after SENDME`);
        this.circuitSendmes++;
      } else if (this.congestionControl) {
        this.anomalies.push(`stream SENDME on stream ${cell.streamId} under congestion control`);
      } else {
        const s = this.streams.get(cell.streamId);
        if (s) {
          s.packageWindow += STREAM_SENDME_EVERY;
          s.sendmesReceived++;
          if (s.packageWindow > STREAM_WINDOW) this.anomalies.push("stream package window above 500 after SENDME");
        }
      }
      for (const w of this.windowWaiters.splice(0)) w();
    } else if (cell.command === RelayCommand.CONNECTED || cell.command === RelayCommand.END) {
      const s = this.streams.get(cell.streamId);
      if (s) s.onControl(cell);
    } else if (cell.command === RelayCommand.XOFF || cell.command === RelayCommand.XON) {
      const s = this.streams.get(cell.streamId);
      if (!this.congestionControl) this.anomalies.push(`${RelayCommand[cell.command]} on a circuit without congestion control`);
      else if (s) s.onXoffXon(cell.command === RelayCommand.XON);
      for (const w of this.windowWaiters.splice(0)) w();
    }
  }

  /** DATA cells per circuit SENDME, both ways. */
  get sendmeEvery(): number {
    return this.congestionControl ? CC_SENDME_EVERY : CIRCUIT_SENDME_EVERY;
  }

  /**
   * CONGESTION_CONTROL_REQUEST to the last hop; resolves with the version answered (undefined:
   * no answer). Version 1 switches this circuit to congestion control; as a sender the suite
   * then keeps its window at CWND_INIT (any sender may stay at or below it).
   */
  async negotiateCongestionControl(opts: { version?: number; timeoutMs?: number } = {}): Promise<number | undefined> {
    const since = this.mark();
    this.sendCell(this.lastHop, RelayCommand.CONGESTION_CONTROL_REQUEST, 0, pb(CongestionControlRequestSchema, { version: opts.version ?? 1 }));
    const c = await this.waitCell((c) => c.cell.command === RelayCommand.CONGESTION_CONTROL_RESPONSE, opts.timeoutMs ?? 5000, since);
    if (!c) return undefined;
    const version = parse(CongestionControlResponseSchema, c.cell.data).version;
    if (version === 1 && this.sentDataCells === 0) {
      this.congestionControl = true;
      this.circuitPackageWindow = CC_CWND_INIT;
    }
    return version;
  }

  circuitSendmes = 0;
  private seqCounter = 0;
  /** Mark: pass it to waitCell to consider only cells received after this point. */
  mark(): number {
    return this.seqCounter;
  }

  /** Wait for an inbound relay cell matching pred, received after `after` (a mark()) — already here or future. */
  waitCell(pred: (c: InboundCell) => boolean, timeoutMs: number, after = 0): Promise<InboundCell | undefined> {
    const found = this.inbound.find((c) => c.seq > after && pred(c));
    if (found) return Promise.resolve(found);
    if (this.destroyed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w = {
        pred,
        resolve: (c: InboundCell | undefined) => {
          clearTimeout(t);
          resolve(c);
        },
      };
      const t = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Resolves true once the circuit is destroyed (DESTROY received or link closed) within timeoutMs. */
  async waitDestroyed(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.destroyed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.destroyed;
  }

  /** Send a relay cell addressed to hop `hop` (0-based). Returns the running digest after it. */
  sendCell(hop: number, command: number, streamId: number, data: Uint8Array, opts: { early?: boolean; recognized?: number } = {}): Uint8Array {
    const plain = encodeRelayCell(command, streamId, data, { recognized: opts.recognized });
    const { cell, digest } = this.crypto.encryptOutbound(plain, hop);
    this.sendEncrypted(cell, opts.early);
    return digest;
  }

  sendEncrypted(cell: Uint8Array, early = false): void {
    if (early) this.relayEarlySent++;
    this.link.sendFrame({ circuitId: this.id, command: early ? { case: "relayEarly", value: cell } : { case: "relay", value: cell } });
  }

  destroy(reason = DestroyReason.REQUESTED): void {
    if (this.destroyed) return;
    this.link.sendFrame({ circuitId: this.id, command: { case: "destroy", value: { reason } } });
    this.onDestroyed(reason, "us");
  }

  get lastHop(): number {
    return this.hops.length - 1;
  }

  /** CREATE2 to the link's relay. Throws CircuitError with a precise reason on failure. */
  async create(relay: RelayInfo, opts: { timeoutMs?: number; onionskin?: Uint8Array; checkWith?: { id?: Uint8Array; B?: Uint8Array } } = {}): Promise<Uint8Array> {
    const state = ntorClientStart(relayId(relay.identity), relay.onionKey);
    const reply = new Promise<Uint8Array | undefined>((resolve) => {
      this.created2 = resolve;
      setTimeout(() => {
        if (this.created2 === resolve) {
          this.created2 = undefined;
          resolve(undefined);
        }
      }, opts.timeoutMs ?? 5000);
    });
    this.link.sendFrame({
      circuitId: this.id,
      command: { case: "create2", value: create(Create2Schema, { handshakeType: HandshakeType.NTOR, handshakeData: opts.onionskin ?? state.onionskin }) },
    });
    const data = await reply;
    if (!data) throw new CircuitError(`no CREATED2: ${this.describeState()}`);
    return this.finishHop(relay, state, data, opts.checkWith);
  }

  private finishHop(relay: RelayInfo, state: NtorClientState, data: Uint8Array, checkWith?: { id?: Uint8Array; B?: Uint8Array }): Uint8Array {
    const checkState = checkWith ? { ...state, id: checkWith.id ?? state.id, B: checkWith.B ?? state.B } : state;
    try {
      const keys = ntorClientFinish(checkState, data);
      this.crypto.addHop(keys);
      this.hops.push(relay);
      this.keyMaterial.push(keys);
      return keys;
    } catch (e) {
      if (e instanceof NtorAuthError) {
        this.destroy(DestroyReason.PROTOCOL);
        throw new CircuitError(e.message);
      }
      throw e;
    }
  }

  /** EXTEND2 from the last hop to `relay`, in a RELAY_EARLY cell. */
  async extend(
    relay: RelayInfo,
    opts: { timeoutMs?: number; address?: string; identity?: Uint8Array; early?: boolean } = {},
  ): Promise<Uint8Array> {
    const state = ntorClientStart(relayId(relay.identity), relay.onionKey);
    const since = this.mark();
    const body = pb(Extend2Schema, {
      linkSpecifiers: [
        { specifier: { case: "address", value: opts.address ?? hostPort(relay.host, relay.port) } },
        { specifier: { case: "identityKey", value: opts.identity ?? relay.identity } },
      ],
      create2: { handshakeType: HandshakeType.NTOR, handshakeData: state.onionskin },
    });
    this.sendCell(this.lastHop, RelayCommand.EXTEND2, 0, body, { early: opts.early ?? true });
    const c = await this.waitCell((c) => c.cell.command === RelayCommand.EXTENDED2 || c.cell.command === RelayCommand.TRUNCATED, opts.timeoutMs ?? 8000, since);
    if (!c) throw new CircuitError(`no EXTENDED2: ${this.describeState()}`);
    if (c.cell.command === RelayCommand.TRUNCATED) {
      const t = parse(TruncatedSchema, c.cell.data);
      throw new CircuitError(`TRUNCATED (reason ${DestroyReason[t.reason] ?? t.reason}) instead of EXTENDED2`);
    }
    const ext = parse(Extended2Schema, c.cell.data);
    return this.finishHop(relay, state, ext.handshakeData);
  }

  /**
   * Add the end-to-end hop of an onion service (onion_service.proto HS-NTOR) from its 128 bytes
   * of keys: the client's circuit gains the service, the service's circuit gains the client.
   */
  addOnionHop(keys: Uint8Array, side: "client" | "service"): void {
    this.crypto.addHop(keys, side);
    this.hops.push({ host: side === "client" ? "onion service" : "onion client", port: 0, identity: new Uint8Array(32), onionKey: new Uint8Array(32) });
  }

  allocStreamId(): number {
    return this.nextStreamId++;
  }

  /** BEGIN at the last hop. Resolves with the stream once CONNECTED, or throws with the END reason. */
  async begin(host: string, port: number, opts: { timeoutMs?: number; streamId?: number; hop?: number } = {}): Promise<ClientStream> {
    const s = this.openStream(host, port, opts);
    const ok = await s.waitConnected(opts.timeoutMs ?? 8000);
    if (!ok) throw new CircuitError(s.endReason !== undefined ? `END (reason ${EndReason[s.endReason] ?? s.endReason}) instead of CONNECTED` : `no CONNECTED: ${this.describeState()}`);
    return s;
  }

  openStream(host: string, port: number, opts: { streamId?: number; hop?: number } = {}): ClientStream {
    const id = opts.streamId ?? this.allocStreamId();
    const hop = opts.hop ?? this.lastHop;
    const s = new ClientStream(this, id, hop);
    this.streams.set(id, s);
    this.sendCell(hop, RelayCommand.BEGIN, id, pb(BeginSchema, { host, port }));
    return s;
  }

  /** Send one DATA cell, waiting for package windows if respectWindows. */
  async sendData(stream: ClientStream, data: Uint8Array, timeoutMs = 10_000): Promise<void> {
    if (this.respectWindows) {
      const end = Date.now() + timeoutMs;
      const blocked = () => this.circuitPackageWindow <= 0 || (this.congestionControl ? stream.stopped : stream.packageWindow <= 0);
      while (blocked() && !this.destroyed) {
        if (Date.now() > end) throw new CircuitError(`cannot send (circuit window ${this.circuitPackageWindow}, stream window ${stream.packageWindow}, XOFF ${stream.stopped}): no SENDME or XON from the exit`);
        await new Promise<void>((r) => {
          this.windowWaiters.push(r);
          setTimeout(r, 200);
        });
      }
    }
    if (this.destroyed) throw new CircuitError(`circuit gone: ${this.describeState()}`);
    this.circuitPackageWindow--;
    stream.packageWindow--;
    const digest = this.sendCell(stream.hop, RelayCommand.DATA, stream.id, data);
    this.sentDataCells++;
    if (this.sentDataCells % this.sendmeEvery === 0) this.pendingSendmeDigests.push(sendmeDigest(digest));
  }
}

export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class ClientStream {
  connected = false;
  endReason: EndReason | undefined;
  ended = false;
  packageWindow = STREAM_WINDOW;
  deliverWindow = STREAM_WINDOW;
  dataCells = 0;
  sendmesReceived = 0;
  /** XOFF received and not yet followed by XON (congestion control). */
  stopped = false;
  xoffsReceived = 0;
  xonsReceived = 0;
  readonly chunks: Uint8Array[] = [];
  bytesReceived = 0;
  /** Where DATA and END go instead of `chunks` (a service passing a stream on to its target). */
  sink: { data(d: Uint8Array): void; end(): void } | undefined;
  private listeners: (() => void)[] = [];

  constructor(
    readonly circuit: ClientCircuit,
    readonly id: number,
    readonly hop: number,
  ) {}

  private notify(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  private waitChange(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.listeners.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  onData(data: Uint8Array, hop: number): void {
    if (hop !== this.hop) this.circuit.anomalies.push(`stream ${this.id} DATA from hop ${hop}, expected ${this.hop}`);
    this.dataCells++;
    if (!this.circuit.congestionControl) this.deliverWindow--;
    if (this.deliverWindow < 0) this.circuit.anomalies.push(`stream ${this.id} deliver window below zero (${this.dataCells} DATA cells without our SENDME)`);
    if (this.circuit.autoSendme && !this.circuit.congestionControl && this.dataCells % STREAM_SENDME_EVERY === 0) {
      this.deliverWindow += STREAM_SENDME_EVERY;
      this.circuit.sendCell(this.hop, RelayCommand.SENDME, this.id, pb(SendmeSchema, { version: 0 }));
    }
    if (this.sink) this.sink.data(data);
    else this.chunks.push(data);
    this.bytesReceived += data.length;
    this.notify();
  }

  onControl(cell: RelayCell): void {
    if (cell.command === RelayCommand.CONNECTED) {
      try {
        parse(ConnectedSchema, cell.data);
      } catch {
        this.circuit.anomalies.push("undecodable CONNECTED");
      }
      this.connected = true;
    } else if (cell.command === RelayCommand.END) {
      try {
        this.endReason = parse(EndSchema, cell.data).reason;
      } catch {
        this.circuit.anomalies.push("undecodable END");
        this.endReason = EndReason.UNSPECIFIED;
      }
      this.ended = true;
      this.sink?.end();
    }
    this.notify();
  }

  onXoffXon(on: boolean): void {
    if (on) this.xonsReceived++;
    else this.xoffsReceived++;
    if (this.stopped !== on) this.circuit.anomalies.push(`${on ? "XON on a stream not stopped" : "XOFF on a stream already stopped"} (stream ${this.id})`);
    this.stopped = !on;
    this.notify();
  }

  /** Ask the exit to stop (XOFF) or resume (XON) sending on this stream. */
  sendXoffXon(on: boolean): void {
    this.circuit.sendCell(this.hop, on ? RelayCommand.XON : RelayCommand.XOFF, this.id, new Uint8Array(0));
  }

  onCircuitGone(): void {
    this.sink?.end();
    this.notify();
  }

  async waitConnected(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.connected && !this.ended && !this.circuit.destroyed && Date.now() < end) await this.waitChange(end - Date.now());
    return this.connected;
  }

  async waitEnded(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (!this.ended && !this.circuit.destroyed && Date.now() < end) await this.waitChange(end - Date.now());
    return this.ended;
  }

  /** Wait until `n` bytes arrived (or END / destroy / timeout). */
  async waitBytes(n: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.bytesReceived < n && !this.ended && !this.circuit.destroyed && Date.now() < end) await this.waitChange(Math.min(500, end - Date.now()));
    return this.bytesReceived >= n;
  }

  /** Send all of `data` as DATA cells (498 bytes each). */
  async write(data: Uint8Array, timeoutMs = 20_000): Promise<void> {
    for (let o = 0; o < data.length; o += RELAY_DATA_MAX) {
      await this.circuit.sendData(this, data.subarray(o, Math.min(data.length, o + RELAY_DATA_MAX)), timeoutMs);
    }
  }

  end(reason = EndReason.DONE): void {
    this.circuit.sendCell(this.hop, RelayCommand.END, this.id, pb(EndSchema, { reason }));
  }

  received(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}
