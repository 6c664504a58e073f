/**
 * Flow control (proto/meowonion/v1/relay.proto, SENDME AND FLOW CONTROL and CONGESTION
 * CONTROL): pure accounting, no I/O, no clock (callers pass the time). Only DATA cells count.
 *
 * A circuit direction is paced either by the fixed, authenticated SENDME windows of tor-spec
 * 7.3 (SendWindow.circuit) or by congestion control (CongestionWindow, Tor's Vegas); streams
 * either by fixed windows with stream SENDMEs or, under congestion control, by XOFF/XON.
 * Circuit windows are authenticated: the sender remembers the running digest of every
 * `increment`-th DATA cell it sends and each SENDME must carry the oldest one.
 */
import { timingSafeEqual } from "node:crypto";
import { OnionError } from "./errors.js";

export const CIRCUIT_WINDOW_START = 1000;
export const CIRCUIT_WINDOW_INCREMENT = 100;
export const STREAM_WINDOW_START = 500;
export const STREAM_WINDOW_INCREMENT = 50;

/** The congestion-control version of this spec (CONGESTION_CONTROL_REQUEST/RESPONSE). */
export const CONGESTION_CONTROL_VERSION = 1;
/** Under congestion control: a circuit SENDME per this many DATA cells. */
export const SENDME_INC = 31;
export const CWND_INIT = 4 * SENDME_INC;
export const CWND_MIN = 2 * SENDME_INC;
export const CWND_MAX = 2000;
/** Vegas thresholds on the estimated queue (cells), Tor's exit parameters. */
export const VEGAS_ALPHA = 186;
export const VEGAS_BETA = 248;
export const VEGAS_GAMMA = 186;
export const VEGAS_DELTA = 310;
/** XOFF above this many bytes held for a stream, XON at or below XON_BYTES again. */
export const XOFF_BYTES = 250_000;
export const XON_BYTES = 65_536;
/** Held beyond this, the sender ignored XOFF: END RESOURCELIMIT. */
export const STREAM_HOLD_LIMIT_BYTES = XOFF_BYTES + CWND_MAX * 498;

/** The sending side of one circuit direction, whichever way it is paced. */
export interface CircuitSendControl {
  /** DATA cells that may be sent now. */
  readonly available: number;
  /** True if the next sent cell's digest must be passed to `onSent`. */
  readonly needsDigest: boolean;
  /** One DATA cell sent at `now` (ms); `digest` (20 bytes) is required when `needsDigest` was true. */
  onSent(digest?: Uint8Array, now?: number): void;
  /** A circuit SENDME arrived at `now` (ms); a violation throws "flow-control" (destroy the circuit). */
  onSendme(digest: Uint8Array | undefined, now?: number): void;
}

/** The sending side of one stream, whichever way it is paced. */
export interface StreamSendControl {
  /** DATA cells that may be sent now on this stream (the circuit's window aside). */
  readonly available: number;
  onSent(): void;
  /** A stream SENDME; throws "flow-control" where there are none. */
  onSendme(): void;
  /** XOFF/XON from the receiver; throw "flow-control" where they are not allowed. */
  onXoff(): void;
  onXon(): void;
}

/** Remembered digests of the cells a SENDME must acknowledge, checked oldest first. */
class ExpectedDigests {
  readonly #digests: Uint8Array[] = [];

  get size(): number {
    return this.#digests.length;
  }

  push(digest: Uint8Array | undefined): void {
    if (digest === undefined) throw new OnionError("flow-control", "missing digest for an authenticated SENDME");
    this.#digests.push(Uint8Array.from(digest));
  }

  check(digest: Uint8Array | undefined): void {
    const expected = this.#digests.shift();
    if (expected === undefined || digest === undefined || digest.length !== expected.length || !timingSafeEqual(digest, expected)) {
      throw new OnionError("flow-control", "SENDME digest does not match a cell we sent");
    }
  }
}

/** The sending side of one direction under fixed windows: how many DATA cells may still go out. */
export class SendWindow implements CircuitSendControl, StreamSendControl {
  private window: number;
  private sent = 0;
  private readonly expectedDigests = new ExpectedDigests();

  constructor(
    private readonly start: number,
    private readonly increment: number,
    private readonly authenticated: boolean,
  ) {
    this.window = start;
  }

  static circuit(): SendWindow {
    return new SendWindow(CIRCUIT_WINDOW_START, CIRCUIT_WINDOW_INCREMENT, true);
  }

  static stream(): SendWindow {
    return new SendWindow(STREAM_WINDOW_START, STREAM_WINDOW_INCREMENT, false);
  }

  get available(): number {
    return this.window;
  }

  get needsDigest(): boolean {
    return this.authenticated && (this.sent + 1) % this.increment === 0;
  }

  onSent(digest?: Uint8Array): void {
    if (this.window <= 0) throw new OnionError("flow-control", "sent DATA with an empty package window");
    const needed = this.needsDigest;
    this.window--;
    this.sent++;
    if (needed) this.expectedDigests.push(digest);
  }

  onSendme(digest?: Uint8Array): void {
    if (this.window + this.increment > this.start) {
      throw new OnionError("flow-control", "SENDME would raise the window above its start");
    }
    if (this.authenticated) this.expectedDigests.check(digest);
    this.window += this.increment;
  }

  onXoff(): void {
    throw new OnionError("flow-control", "XOFF on a circuit without congestion control");
  }

  onXon(): void {
    throw new OnionError("flow-control", "XON on a circuit without congestion control");
  }
}

/**
 * The sending side of one circuit direction under congestion control (relay.proto,
 * CONGESTION CONTROL): at most `cwnd` DATA cells unacknowledged, a SENDME per SENDME_INC
 * cells, each giving a round-trip sample, and Tor's Vegas rules moving cwnd.
 */
export class CongestionWindow implements CircuitSendControl {
  #cwnd = CWND_INIT;
  #inflight = 0;
  #sent = 0;
  readonly #expectedDigests = new ExpectedDigests();
  /** Send times of the cells whose digests are expected, same order. */
  readonly #sentAt: number[] = [];
  #ewmaRtt = 0;
  #minRtt = Number.POSITIVE_INFINITY;
  #slowStart = true;
  /** Inflight reached cwnd - SENDME_INC since the last update: the window was the limit. */
  #full = false;
  /** Cells acknowledged since the last steady-state update. */
  #acked = 0;

  get available(): number {
    return Math.max(0, this.#cwnd - this.#inflight);
  }

  get needsDigest(): boolean {
    return (this.#sent + 1) % SENDME_INC === 0;
  }

  /** The congestion window, cells. */
  get cwnd(): number {
    return this.#cwnd;
  }

  get inSlowStart(): boolean {
    return this.#slowStart;
  }

  /** Smoothed round trip, ms (0 before the first SENDME). */
  get rttMs(): number {
    return this.#ewmaRtt;
  }

  onSent(digest?: Uint8Array, now = 0): void {
    if (this.#inflight >= this.#cwnd) throw new OnionError("flow-control", "sent DATA beyond the congestion window");
    const needed = this.needsDigest;
    this.#inflight++;
    this.#sent++;
    if (this.#inflight >= this.#cwnd - SENDME_INC) this.#full = true;
    if (needed) {
      this.#expectedDigests.push(digest);
      this.#sentAt.push(now);
    }
  }

  onSendme(digest: Uint8Array | undefined, now = 0): void {
    if (this.#expectedDigests.size === 0) throw new OnionError("flow-control", "SENDME for cells never sent");
    this.#expectedDigests.check(digest);
    const sample = Math.max(0, now - this.#sentAt.shift()!);
    this.#inflight -= SENDME_INC;
    const n = Math.min(10, Math.max(2, Math.floor(this.#cwnd / (2 * SENDME_INC))));
    this.#ewmaRtt = this.#ewmaRtt === 0 ? sample : (2 * sample + (n - 1) * this.#ewmaRtt) / (n + 1);
    this.#minRtt = Math.min(this.#minRtt, this.#ewmaRtt);
    // Equal (or zero) RTTs mean no queue: the clock could not tell them apart.
    const bdp = this.#ewmaRtt > 0 ? (this.#cwnd * this.#minRtt) / this.#ewmaRtt : this.#cwnd;
    const queueUse = this.#cwnd - bdp;
    if (this.#slowStart) {
      if (queueUse > VEGAS_GAMMA) this.#slowStart = false;
      else if (this.#full) this.#grow(SENDME_INC);
      this.#full = false;
      return;
    }
    this.#acked += SENDME_INC;
    if (this.#acked < this.#cwnd) return;
    this.#acked = 0;
    if (queueUse > VEGAS_DELTA) this.#setCwnd(bdp + VEGAS_DELTA - SENDME_INC);
    else if (queueUse > VEGAS_BETA) this.#grow(-SENDME_INC);
    else if (queueUse < VEGAS_ALPHA && this.#full) this.#grow(SENDME_INC);
    this.#full = false;
  }

  #grow(by: number): void {
    this.#setCwnd(this.#cwnd + by);
  }

  #setCwnd(cells: number): void {
    this.#cwnd = Math.min(CWND_MAX, Math.max(CWND_MIN, Math.floor(cells)));
  }
}

/** The sending side of one stream under congestion control: on until XOFF, again after XON. */
export class XoffGate implements StreamSendControl {
  #stopped = false;

  get available(): number {
    return this.#stopped ? 0 : Number.POSITIVE_INFINITY;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  onSent(): void {
    if (this.#stopped) throw new OnionError("flow-control", "sent DATA on a stream after XOFF");
  }

  onSendme(): void {
    throw new OnionError("flow-control", "stream SENDME on a circuit with congestion control");
  }

  onXoff(): void {
    if (this.#stopped) throw new OnionError("flow-control", "XOFF on a stream already stopped");
    this.#stopped = true;
  }

  onXon(): void {
    if (!this.#stopped) throw new OnionError("flow-control", "XON on a stream not stopped");
    this.#stopped = false;
  }
}

/** The receiving side of one direction under fixed windows: counts DATA cells and says when to SENDME. */
export class ReceiveWindow {
  private window: number;
  private received = 0;

  constructor(
    start: number,
    private readonly increment: number,
  ) {
    this.window = start;
  }

  static circuit(): ReceiveWindow {
    return new ReceiveWindow(CIRCUIT_WINDOW_START, CIRCUIT_WINDOW_INCREMENT);
  }

  static stream(): ReceiveWindow {
    return new ReceiveWindow(STREAM_WINDOW_START, STREAM_WINDOW_INCREMENT);
  }

  /**
   * Under congestion control: a SENDME every SENDME_INC cells, and no window to police (the
   * sender's congestion window bounds what it sends).
   */
  static congestionControlled(): ReceiveWindow {
    return new ReceiveWindow(Number.POSITIVE_INFINITY, SENDME_INC);
  }

  /**
   * Record one delivered DATA cell. Returns true when a SENDME is due now (for circuits, it
   * carries this cell's digest); the window is credited as the SENDME is sent.
   */
  onReceived(): boolean {
    if (this.window <= 0) throw new OnionError("flow-control", "peer sent DATA beyond the window");
    this.window--;
    this.received++;
    if (this.received % this.increment === 0) {
      this.window += this.increment;
      return true;
    }
    return false;
  }
}

/** What the receiving end of a stream must tell the sender now. */
export type StreamSignal = "xoff" | "xon" | "end" | undefined;

/**
 * The receiving side of one stream: with fixed windows, the stream SENDMEs due, held back
 * while the data cannot be handed on; under congestion control, XOFF/XON by the bytes held.
 */
export class StreamReceiveControl {
  readonly #window: ReceiveWindow | undefined;
  /** DATA cells received and stream SENDMEs sent (fixed windows: the sender may send 500 + 50 per SENDME). */
  #cellsIn = 0;
  #sendmesSent = 0;
  #sendmesOwed = 0;
  #xoffSent = false;

  constructor(congestionControlled: boolean) {
    this.#window = congestionControlled ? undefined : ReceiveWindow.stream();
  }

  /** Stream SENDMEs due but not sent yet (fixed windows). */
  get sendmesOwed(): number {
    return this.#sendmesOwed;
  }

  /** One DATA cell arrived; throws "flow-control" if the sender overran the stream window. */
  onReceived(): void {
    const window = this.#window;
    if (window === undefined) return;
    if (window.onReceived()) this.#sendmesOwed++;
    // ReceiveWindow credits a SENDME when it is due; one held back has not been granted yet.
    if (++this.#cellsIn > STREAM_WINDOW_START + STREAM_WINDOW_INCREMENT * this.#sendmesSent) {
      throw new OnionError("flow-control", "peer sent DATA beyond the stream window");
    }
  }

  /** The receiver holds `bytes` of this stream it could not hand on yet: XOFF or END, or nothing. */
  onHeld(bytes: number): StreamSignal {
    if (this.#window !== undefined) return undefined;
    if (bytes > STREAM_HOLD_LIMIT_BYTES) return "end";
    if (bytes > XOFF_BYTES && !this.#xoffSent) {
      this.#xoffSent = true;
      return "xoff";
    }
    return undefined;
  }

  /** The receiver holds at most XON_BYTES again: XON if the sender was stopped. */
  onDrained(): StreamSignal {
    if (!this.#xoffSent) return undefined;
    this.#xoffSent = false;
    return "xon";
  }

  /** The stream SENDMEs to send now that the data is handed on; counted as sent. */
  takeSendmes(): number {
    const n = this.#sendmesOwed;
    this.#sendmesOwed = 0;
    this.#sendmesSent += n;
    return n;
  }
}

/** The stream send control for a circuit paced one way or the other. */
export function streamSendControl(congestionControlled: boolean): StreamSendControl {
  return congestionControlled ? new XoffGate() : SendWindow.stream();
}
