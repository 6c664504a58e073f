import { describe, expect, it } from "vitest";
import { OnionError } from "./errors.js";
import { CIRCUIT_WINDOW_START, ReceiveWindow, STREAM_WINDOW_START, SendWindow } from "./flow-control.js";

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
