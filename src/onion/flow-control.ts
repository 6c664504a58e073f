/**
 * Flow-control windows (proto/meowonion/v1/relay.proto, SENDME AND FLOW CONTROL): pure
 * accounting, no I/O. Only DATA cells count. Circuit windows are authenticated: the sender
 * remembers the running digest of every `increment`-th DATA cell it sends and each SENDME
 * must carry the oldest one.
 */
import { timingSafeEqual } from "node:crypto";
import { OnionError } from "./errors.js";

export const CIRCUIT_WINDOW_START = 1000;
export const CIRCUIT_WINDOW_INCREMENT = 100;
export const STREAM_WINDOW_START = 500;
export const STREAM_WINDOW_INCREMENT = 50;

/** The sending side of one direction: how many DATA cells may still go out. */
export class SendWindow {
  private window: number;
  private sent = 0;
  private readonly expectedDigests: Uint8Array[] = [];

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

  /** DATA cells that may be sent now. */
  get available(): number {
    return this.window;
  }

  /** True if the next sent cell's digest must be passed to `onSent`. */
  get needsDigest(): boolean {
    return this.authenticated && (this.sent + 1) % this.increment === 0;
  }

  /** Record one DATA cell sent; `digest` (20 bytes) is required when `needsDigest` was true. */
  onSent(digest?: Uint8Array): void {
    if (this.window <= 0) throw new OnionError("flow-control", "sent DATA with an empty package window");
    const needed = this.needsDigest;
    this.window--;
    this.sent++;
    if (needed) {
      if (digest === undefined) throw new OnionError("flow-control", "missing digest for an authenticated SENDME");
      this.expectedDigests.push(Uint8Array.from(digest));
    }
  }

  /** Apply a received SENDME; a violation throws "flow-control" (destroy the circuit). */
  onSendme(digest?: Uint8Array): void {
    if (this.window + this.increment > this.start) {
      throw new OnionError("flow-control", "SENDME would raise the window above its start");
    }
    if (this.authenticated) {
      const expected = this.expectedDigests.shift();
      if (expected === undefined || digest === undefined || digest.length !== expected.length || !timingSafeEqual(digest, expected)) {
        throw new OnionError("flow-control", "SENDME digest does not match a cell we sent");
      }
    }
    this.window += this.increment;
  }
}

/** The receiving side of one direction: counts delivered DATA cells and says when to SENDME. */
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
