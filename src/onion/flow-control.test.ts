import { describe, expect, it } from "vitest";
import { OnionError } from "./errors.js";
import {
  CIRCUIT_WINDOW_START,
  CWND_INIT,
  CWND_MAX,
  CongestionWindow,
  ReceiveWindow,
  SENDME_INC,
  STREAM_HOLD_LIMIT_BYTES,
  STREAM_WINDOW_START,
  SendWindow,
  StreamReceiveControl,
  VEGAS_ALPHA,
  VEGAS_DELTA,
  XOFF_BYTES,
  streamSendControl,
} from "./flow-control.js";

const digestOf = (n: number) => new Uint8Array(20).fill(n % 256);

describe("flow control", () => {
  it("a circuit sender stops at 1000 cells and resumes with authenticated SENDMEs", () => {
    const send = SendWindow.circuit();
    const receive = ReceiveWindow.circuit();
    const sendmes: Uint8Array[] = [];
    for (let n = 1; n <= CIRCUIT_WINDOW_START; n++) {
      send.onSent(send.needsDigest ? digestOf(n) : undefined);
      if (receive.onReceived()) sendmes.push(digestOf(n));
    }
    expect(send.available).toBe(0);
    expect(() => send.onSent()).toThrow(OnionError);
    expect(sendmes).toHaveLength(10);
    send.onSendme(sendmes[0]);
    expect(send.available).toBe(100);
    expect(() => send.onSendme(digestOf(7))).toThrow(OnionError);
  });

  it("refuses a SENDME that would raise the window above its start", () => {
    const send = SendWindow.stream();
    expect(() => send.onSendme()).toThrow(OnionError);
    for (let i = 0; i < 50; i++) send.onSent();
    send.onSendme();
    expect(send.available).toBe(STREAM_WINDOW_START);
  });

  it("a receiver refuses DATA beyond its window", () => {
    const receive = new ReceiveWindow(3, 100);
    receive.onReceived();
    receive.onReceived();
    receive.onReceived();
    expect(() => receive.onReceived()).toThrow(OnionError);
  });
});

describe("congestion control (Vegas)", () => {
  /**
   * A path with a 10 ms round trip and a bottleneck of `cellsPerMs` (Infinity: none), queueing
   * behind it: the sender refills its window after every SENDME, as a real one does. Returns
   * the window after `sendmes` SENDMEs, and the largest it reached.
   */
  function run(window: CongestionWindow, cellsPerMs: number, sendmes: number): { peak: number } {
    const acks: { digest: Uint8Array; at: number }[] = [];
    let sent = 0;
    let lastDeparture = 0;
    let peak = 0;
    const send = (now: number) => {
      while (window.available > 0) {
        sent++;
        const digest = window.needsDigest ? digestOf(sent) : undefined;
        window.onSent(digest, now);
        const departure = Math.max(now + 5, lastDeparture + 1 / cellsPerMs);
        lastDeparture = departure;
        if (digest) acks.push({ digest, at: departure + 5 });
      }
    };
    send(0);
    for (let i = 0; i < sendmes && acks.length > 0; i++) {
      const ack = acks.shift()!;
      window.onSendme(ack.digest, ack.at);
      peak = Math.max(peak, window.cwnd);
      send(ack.at);
    }
    return { peak };
  }

  it("starts at CWND_INIT, refuses a SENDME for cells never sent or with a wrong digest", () => {
    const window = new CongestionWindow();
    expect(window.available).toBe(CWND_INIT);
    expect(() => window.onSendme(digestOf(1), 0)).toThrow(OnionError);
    let marks = 0;
    for (let n = 1; window.available > 0; n++) {
      if (window.needsDigest) marks++;
      window.onSent(window.needsDigest ? digestOf(n) : undefined, 0);
    }
    expect(marks).toBe(CWND_INIT / SENDME_INC);
    expect(() => window.onSent(undefined, 0)).toThrow(OnionError);
    expect(() => window.onSendme(digestOf(7), 1)).toThrow(OnionError);
  });

  it("grows in slow start up to CWND_MAX while the round trip holds", () => {
    const window = new CongestionWindow();
    run(window, Number.POSITIVE_INFINITY, 2000);
    expect(window.inSlowStart).toBe(true);
    expect(window.cwnd).toBe(CWND_MAX);
  });

  it("leaves slow start once a queue builds, then keeps it between ALPHA and DELTA", () => {
    const window = new CongestionWindow();
    // 20 cells per ms for 10 ms: a bandwidth-delay product of 200 cells.
    const { peak } = run(window, 20, 3000);
    expect(window.inSlowStart).toBe(false);
    expect(window.cwnd).toBeGreaterThanOrEqual(200 + VEGAS_ALPHA - 2 * SENDME_INC);
    expect(window.cwnd).toBeLessThanOrEqual(200 + VEGAS_DELTA + SENDME_INC);
    expect(peak).toBeLessThan(CWND_MAX);
  });

  it("does not grow a window the sender does not fill", () => {
    const window = new CongestionWindow();
    let now = 0;
    for (let n = 1; n <= 1000; n++) {
      const digest = window.needsDigest ? digestOf(n) : undefined;
      window.onSent(digest, now);
      now += 1;
      if (digest) window.onSendme(digest, now); // acknowledged at once: never more than 31 in flight
    }
    expect(window.cwnd).toBe(CWND_INIT);
  });
});

describe("stream flow control under congestion control", () => {
  it("XOFF stops a stream and XON resumes it; repeats and stream SENDMEs are violations", () => {
    const gate = streamSendControl(true);
    expect(gate.available).toBe(Number.POSITIVE_INFINITY);
    expect(() => gate.onSendme()).toThrow(OnionError);
    expect(() => gate.onXon()).toThrow(OnionError);
    gate.onXoff();
    expect(gate.available).toBe(0);
    expect(() => gate.onSent()).toThrow(OnionError);
    expect(() => gate.onXoff()).toThrow(OnionError);
    gate.onXon();
    expect(gate.available).toBeGreaterThan(0);
    expect(() => streamSendControl(false).onXoff()).toThrow(OnionError);
  });

  it("the receiver sends XOFF once above XOFF_BYTES, XON once drained, END past the hold limit", () => {
    const receive = new StreamReceiveControl(true);
    for (let i = 0; i < 10_000; i++) receive.onReceived(); // no stream window to overrun
    expect(receive.onHeld(XOFF_BYTES)).toBeUndefined();
    expect(receive.onDrained()).toBeUndefined();
    expect(receive.onHeld(XOFF_BYTES + 1)).toBe("xoff");
    expect(receive.onHeld(XOFF_BYTES + 2)).toBeUndefined();
    expect(receive.onDrained()).toBe("xon");
    expect(receive.onDrained()).toBeUndefined();
    expect(receive.onHeld(STREAM_HOLD_LIMIT_BYTES + 1)).toBe("end");
    expect(receive.takeSendmes()).toBe(0);
  });

  it("with fixed windows the receiver owes a stream SENDME per 50 cells and refuses an overrun", () => {
    const receive = new StreamReceiveControl(false);
    for (let i = 0; i < STREAM_WINDOW_START; i++) receive.onReceived();
    expect(receive.onHeld(10 * XOFF_BYTES)).toBeUndefined();
    expect(() => receive.onReceived()).toThrow(OnionError);
    const fresh = new StreamReceiveControl(false);
    for (let i = 0; i < 100; i++) fresh.onReceived();
    expect(fresh.takeSendmes()).toBe(2);
    expect(fresh.takeSendmes()).toBe(0);
  });
});
