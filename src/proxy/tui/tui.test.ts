/**
 * Unit tests of the terminal UI's parts: formatting, the prompt's key handling, the view
 * reducer, and rendering with fake data (pure rendering only). The acceptance test against a
 * real proxy is test/network.e2e.test.ts.
 */
import { render } from "ink-testing-library";
import { createElement as h } from "react";
import { describe, expect, it } from "vitest";
import { BootstrapPhase, CircuitPurpose, CircuitState } from "../../../gen/meowonion/v1/control_pb.js";
import { App, catState } from "./app.js";
import { Bandwidth } from "./bandwidth.js";
import { Bootstrap } from "./bootstrap.js";
import { Cat, catArt } from "./cat.js";
import { Circuits, pathLabel, sortCircuits, type CircuitRow } from "./circuits.js";
import type { ControlClient } from "./control.js";
import { formatBytes, formatMs, progressBar, sparkline } from "./format.js";
import { applyInput, applyKey, initialPrompt, MAX_MESSAGE_BYTES } from "./prompt-state.js";
import { GONE_CIRCUIT_LINGER_MS, initialProxyView, proxyViewReducer, circuitRows } from "./proxy-view.js";

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

function row(id: number, state: CircuitState, names: string[], extra: Partial<CircuitRow> = {}): CircuitRow {
  return {
    id: BigInt(id),
    state,
    purpose: CircuitPurpose.GENERAL,
    path: names.map((nickname) => ({ nickname })),
    buildMs: 3.4,
    streamCount: 1,
    bytesSent: 2048n,
    bytesReceived: 1_572_864n,
    ...extra,
  };
}

describe("format", () => {
  it("formats bytes, durations, bars and sparklines", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(50n * 1024n * 1024n)).toBe("50 MiB");
    expect(formatMs(0)).toBe("-");
    expect(formatMs(3.25)).toBe("3.3 ms");
    expect(formatMs(1500)).toBe("1.5 s");
    expect(progressBar(50, 10)).toBe("█████░░░░░");
    expect(progressBar(150, 4)).toBe("████");
    expect(sparkline([0, 1, 8], 5)).toBe("   ▂█");
  });
});

describe("prompt keys", () => {
  it("types, switches fields with Tab, erases, and sends on Enter", () => {
    let s = initialPrompt();
    expect(s.focus).toBe("destination");
    for (const ch of "127.0.0.1:7000") s = applyKey(s, ch, {}).state;
    s = applyKey(s, "", { tab: true }).state;
    expect(s.focus).toBe("message");
    s = applyKey(s, "hello catx", {}).state; // a paste arrives as one input
    s = applyKey(s, "", { delete: true }).state; // Backspace on most terminals
    expect(s.message).toBe("hello cat");
    const r = applyKey(s, "\r", { return: true });
    expect(r.action).toEqual({ kind: "send", target: "127.0.0.1:7000", message: "hello cat" });
    expect(r.state.message).toBe("");
    expect(r.state.destination).toBe("127.0.0.1:7000");
  });

  it("refuses a bad destination or an empty message, with a hint", () => {
    let r = applyKey({ destination: "nope", message: "hi", focus: "message" }, "\r", { return: true });
    expect(r.action.kind).toBe("none");
    expect(r.state.focus).toBe("destination");
    expect(r.state.hint).toMatch(/HOST:PORT/);
    r = applyKey({ destination: "a:1", message: "", focus: "destination" }, "\r", { return: true });
    expect(r.action.kind).toBe("none");
    expect(r.state.hint).toMatch(/message/);
  });

  it("quits on Ctrl-C, and on q only in an empty field", () => {
    expect(applyKey(initialPrompt(), "c", { ctrl: true }).action.kind).toBe("quit");
    expect(applyKey(initialPrompt(), "q", {}).action.kind).toBe("quit");
    const s = { destination: "a:1", message: "a", focus: "message" as const };
    const r = applyKey(s, "q", {});
    expect(r.action.kind).toBe("none");
    expect(r.state.message).toBe("aq");
  });

  it("treats line breaks inside one chunk of input as Enter", () => {
    const r = applyInput({ destination: "a:1", message: "", focus: "message" }, "first\rsecond\r\nrest", {});
    expect(r.actions).toEqual([
      { kind: "send", target: "a:1", message: "first" },
      { kind: "send", target: "a:1", message: "second" },
    ]);
    expect(r.state.message).toBe("rest");
    expect(applyInput(initialPrompt(), "q", {}).actions).toEqual([{ kind: "quit" }]);
    expect(applyInput(initialPrompt(), "x", {}).actions).toEqual([]);
  });

  it("keeps messages within the seed paper's 256 bytes", () => {
    const s = applyKey({ destination: "a:1", message: "", focus: "message" }, "m".repeat(300), {}).state;
    expect(Buffer.byteLength(s.message)).toBe(MAX_MESSAGE_BYTES);
  });
});

describe("proxy view reducer", () => {
  it("merges lists and events, lingers closed circuits, then prunes them", () => {
    let v = proxyViewReducer(initialProxyView, {
      type: "circuits",
      circuits: [row(1, CircuitState.OPEN, ["a", "b", "c"]), row(2, CircuitState.BUILDING, ["d"])],
      now: 0,
    });
    expect(circuitRows(v)).toHaveLength(2);
    v = proxyViewReducer(v, { type: "circuit", circuit: row(2, CircuitState.OPEN, ["d", "e", "f"], { bytesSent: 0n }), now: 10 });
    expect(v.circuits.get("2")?.row.state).toBe(CircuitState.OPEN);
    expect(v.circuits.get("2")?.row.bytesSent).toBe(2048n); // counters never go back
    v = proxyViewReducer(v, { type: "circuits", circuits: [row(2, CircuitState.OPEN, ["d", "e", "f"])], now: 100 });
    expect(v.circuits.get("1")?.row.state).toBe(CircuitState.CLOSED); // dropped from the list
    v = proxyViewReducer(v, { type: "prune", now: 100 + GONE_CIRCUIT_LINGER_MS });
    expect(v.circuits.has("1")).toBe(false);
    expect(v.circuits.has("2")).toBe(true);
  });

  it("keeps a bounded bandwidth history", () => {
    let v = initialProxyView;
    for (let i = 0; i < 500; i++) v = proxyViewReducer(v, { type: "bandwidth", read: i, written: 0 });
    expect(v.bandwidth.length).toBeLessThanOrEqual(120);
    expect(v.bandwidth[v.bandwidth.length - 1].read).toBe(499);
  });

  it("gives the cat a mood", () => {
    expect(catState(initialProxyView, undefined).mood).toBe("sleepy");
    const ready = proxyViewReducer(initialProxyView, {
      type: "status",
      status: { phase: BootstrapPhase.DONE, progressPercent: 100, relaysKnown: 5, openCircuits: 2, openStreams: 0, socksAddress: "" },
    });
    expect(catState(ready, undefined)).toEqual({ mood: "happy", says: "meow! ready: 2 circuits open" });
    expect(catState(ready, { id: 1, target: "a:1", message: "m", status: "sending" }).mood).toBe("busy");
    expect(catState(ready, { id: 1, target: "a:1", message: "m", status: "ok", reply: "m meow" }).mood).toBe("delighted");
    expect(catState(ready, { id: 1, target: "a:1", message: "m", status: "error" }).mood).toBe("upset");
  });
});

describe("rendering (fake data)", () => {
  it("draws the cat with a speech bubble", () => {
    const { lastFrame, unmount } = render(h(Cat, { mood: "happy", says: "meow!" }));
    const frame = lastFrame() ?? "";
    for (const line of catArt("happy")) expect(frame).toContain(line.trim());
    expect(frame).toContain("meow!");
    unmount();
  });

  it("draws bootstrap progress", () => {
    const { lastFrame, unmount } = render(
      h(Bootstrap, { view: { phase: BootstrapPhase.CIRCUIT, progressPercent: 50, relaysKnown: 5 }, width: 10 }),
    );
    const frame = lastFrame() ?? "";
    expect(frame).toContain("█████░░░░░");
    expect(frame).toContain("50%");
    expect(frame).toContain("✔ consensus");
    expect(frame).toContain("… first circuit");
    unmount();
  });

  it("lists circuits with nicknames, open ones first", () => {
    const rows = [row(1, CircuitState.CLOSED, ["x"]), row(2, CircuitState.OPEN, ["Whiskers", "Mittens", "Tabby"])];
    expect(sortCircuits(rows)[0].id).toBe(2n);
    expect(pathLabel(rows[1].path)).toBe("Whiskers → Mittens → Tabby");
    const { lastFrame, unmount } = render(h(Circuits, { circuits: rows }));
    const frame = lastFrame() ?? "";
    expect(frame).toContain("Whiskers → Mittens → Tabby");
    expect(frame).toContain("OPEN");
    expect(frame).toContain("1.5 MiB");
    expect(frame).toContain("3.4 ms");
    expect(frame.indexOf("OPEN")).toBeLessThan(frame.indexOf("CLOSED"));
    unmount();
  });

  it("marks a rendezvous circuit and shows the service it reaches", () => {
    const address = `${"abcdefgh".repeat(7)}.meow`;
    const rendezvous = row(3, CircuitState.OPEN, ["Whiskers", "Mittens", "Tabby", address], { purpose: CircuitPurpose.CLIENT_RENDEZVOUS });
    expect(pathLabel(rendezvous.path, rendezvous.purpose)).toBe("⇄ abcdefgh….meow via Whiskers → Mittens → Tabby");
    const { lastFrame, unmount } = render(h(Circuits, { circuits: [rendezvous] }));
    const frame = lastFrame() ?? "";
    expect(frame).toMatch(/rendez\s+⇄ abcdefgh….meow via Whiskers/);
    unmount();
  });

  it("shows bandwidth per second", () => {
    const { lastFrame, unmount } = render(h(Bandwidth, { samples: [{ read: 2048, written: 512 }] }));
    expect(lastFrame()).toContain("2.0 KiB/s");
    expect(lastFrame()).toContain("512 B/s");
    unmount();
  });
});

/** A ControlClient that answers from fixed data (for keyboard tests only). */
function fakeControl(): ControlClient {
  const status = {
    phase: BootstrapPhase.DONE,
    progressPercent: 100,
    relaysKnown: 5,
    openCircuits: 1,
    openStreams: 0,
    socksAddress: "127.0.0.1:1",
  };
  const circuits = [row(7, CircuitState.OPEN, ["Whiskers", "Mittens", "Tabby"])];
  return {
    getStatus: async () => status,
    listCircuits: async () => ({ circuits }),
    // eslint-disable-next-line require-yield
    watchEvents: async function* (_req: unknown, opts?: { signal?: AbortSignal }) {
      await new Promise<void>((resolve) => opts?.signal?.addEventListener("abort", () => resolve()));
    },
  } as unknown as ControlClient;
}

describe("App keyboard (fake control, injected send)", () => {
  it("sends the typed message to the typed destination and shows the reply", async () => {
    const sent: string[] = [];
    const app = render(
      h(App, {
        control: fakeControl(),
        socksAddress: "127.0.0.1:1",
        pollMs: 50,
        send: async (target: string, message: string) => {
          sent.push(`${target}|${message}`);
          return { reply: `${message} meow\n`, ms: 12, connectMs: 5 };
        },
      }),
    );
    await tick(100);
    expect(app.lastFrame()).toContain("Whiskers → Mittens → Tabby");
    for (const ch of "10.0.0.1:7") {
      app.stdin.write(ch);
      await tick(5);
    }
    app.stdin.write("\t");
    await tick();
    app.stdin.write("purr?");
    await tick();
    app.stdin.write("\r");
    await tick(100);
    expect(sent).toEqual(["10.0.0.1:7|purr?"]);
    expect(app.lastFrame()).toContain("purr? meow");
    expect(app.lastFrame()).toContain("purr! a reply came back");
    app.unmount();
  });
});
