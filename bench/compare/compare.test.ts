/**
 * Pure parts of bench:compare: torrc generation, statistics and ratios, the report, parsers,
 * and the SOCKS5 client against a small local SOCKS5 server. No timing assertions.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { perCircuit } from "../idle-circuits.js";
import { parseStat, parseStatusKb } from "./procs.js";
import { FIGURES, REQUIRED_KEYS, compare, jsonReport, markdownTable, summarizeSide, type RunValues, type SideResult } from "./report.js";
import { parseBytesPath, startServers } from "./servers.js";
import { median, oursWins, percentile, pickBest, ratio, round, summarize } from "./stats.js";
import { parseNetworkReady, ourProcessName } from "./targets.js";
import { ControlParser, bootstrapProgress, type ControlReply } from "./tor-control.js";
import { consensusReady } from "./tor-net.js";
import { CLIENT_ADDRESS, RELAY_ADDRESS, dirAuthorityLine, torrc, type TorNetworkSpec } from "./torrc.js";
import { httpGet, parseResponseHead } from "./workloads.js";

function spec(scheduler: "default" | "vanilla" = "default"): TorNetworkSpec {
  return {
    nodes: [
      { nickname: "auth", role: "authority", dataDir: "/tmp/x/auth", orPort: 5000, dirPort: 5001 },
      { nickname: "relay1", role: "relay", dataDir: "/tmp/x/relay1", orPort: 5002 },
      { nickname: "exit", role: "exit", dataDir: "/tmp/x/exit", orPort: 5003 },
      { nickname: "client", role: "client", dataDir: "/tmp/x/client", orPort: 0, socksPort: 5004, controlPort: 5005 },
    ],
    v3Ident: "A".repeat(40),
    authFingerprint: "B".repeat(40),
    scheduler,
    exitPorts: [8080, 9090],
    ownerPid: 1234,
  };
}
const lines = (text: string) => text.trim().split("\n");

describe("torrc", () => {
  it("points every node at our authority only, on a testing network", () => {
    const s = spec();
    const auth = `DirAuthority auth orport=5000 no-v2 v3ident=${"A".repeat(40)} ${RELAY_ADDRESS}:5001 ${"B".repeat(40)}`;
    expect(dirAuthorityLine(s)).toBe(auth);
    for (const n of s.nodes) {
      const l = lines(torrc(s, n));
      expect(l).toContain("TestingTorNetwork 1");
      expect(l).toContain(auth);
      expect(l).toContain("UseDefaultFallbackDirs 0");
      expect(l).toContain(`DataDirectory ${n.dataDir}`);
      expect(l).toContain("__OwningControllerProcess 1234");
      expect(l).not.toContain("Schedulers Vanilla");
    }
  });

  it("adds Schedulers Vanilla to every node in the vanilla configuration", () => {
    const s = spec("vanilla");
    for (const n of s.nodes) expect(lines(torrc(s, n))).toContain("Schedulers Vanilla");
  });

  it("makes the authority vote quickly and assign the flags a small network needs", () => {
    const s = spec();
    const l = lines(torrc(s, s.nodes[0]!));
    expect(l).toEqual(
      expect.arrayContaining([
        "AuthoritativeDirectory 1",
        "V3AuthoritativeDirectory 1",
        `DirPort ${RELAY_ADDRESS}:5001`,
        `ORPort ${RELAY_ADDRESS}:5000`,
        "TestingV3AuthInitialVotingInterval 5",
        "TestingDirAuthVoteExit *",
        "TestingDirAuthVoteGuard *",
        "ExitPolicy reject *:*",
        "AssumeReachable 1",
      ]),
    );
  });

  it("lets only the exit exit, to loopback only and to the destination ports", () => {
    const s = spec();
    const exit = lines(torrc(s, s.nodes[2]!));
    expect(exit).toEqual(
      expect.arrayContaining([
        "ExitRelay 1",
        `OutboundBindAddressExit ${CLIENT_ADDRESS}`,
        "ExitPolicy accept *:8080",
        "ExitPolicy accept *:9090",
      ]),
    );
    // The catch-all reject comes after the accepts (Tor takes the first match).
    expect(exit.lastIndexOf("ExitPolicy reject *:*")).toBeGreaterThan(exit.indexOf("ExitPolicy accept *:9090"));
    const relay = lines(torrc(s, s.nodes[1]!));
    expect(relay).toContain("ExitRelay 0");
    expect(relay.filter((x) => x.startsWith("ExitPolicy"))).toEqual(["ExitPolicy reject *:*"]);
  });

  it("gives the client SOCKS and a cookie-authenticated ControlPort on loopback, no predicted circuits", () => {
    const s = spec();
    const l = lines(torrc(s, s.nodes[3]!));
    expect(l).toEqual(
      expect.arrayContaining([
        `SocksPort ${CLIENT_ADDRESS}:5004`,
        `ControlPort ${CLIENT_ADDRESS}:5005`,
        "CookieAuthentication 1",
        "__DisablePredictedCircuits 1",
      ]),
    );
    expect(l.some((x) => x.startsWith("ORPort"))).toBe(false);
  });

  it("refuses a network without an authority DirPort", () => {
    const s = spec();
    s.nodes[0] = { ...s.nodes[0]!, dirPort: undefined };
    expect(() => dirAuthorityLine(s)).toThrow();
  });
});

describe("stats", () => {
  it("percentile interpolates between closest ranks", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBeCloseTo(9.1);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(median([3, 1, 2])).toBe(2);
  });

  it("summarize keeps the spread and drops failed (non-finite) runs", () => {
    expect(summarize([3, Number.NaN, 1, 2])).toEqual({ median: 2, min: 1, max: 3, runs: [3, 1, 2] });
    expect(summarize([Number.NaN])).toBeUndefined();
  });

  it("picks Tor's better configuration by the figure's direction", () => {
    const a = summarize([5])!;
    const b = summarize([30])!;
    expect(pickBest(a, b, "higher")?.which).toBe(1);
    expect(pickBest(a, b, "lower")?.which).toBe(0);
    expect(pickBest(undefined, b, "lower")?.which).toBe(1);
    expect(pickBest(undefined, undefined, "lower")).toBeUndefined();
  });

  it("ratio is ours/Tor of the medians; a win depends on the direction", () => {
    expect(ratio(summarize([60]), summarize([20]))).toBe(3);
    expect(ratio(summarize([1]), summarize([0]))).toBeUndefined();
    expect(ratio(undefined, summarize([1]))).toBeUndefined();
    expect(oursWins(3, "higher")).toBe(true);
    expect(oursWins(3, "lower")).toBe(false);
    expect(oursWins(0.5, "lower")).toBe(true);
  });

  it("rounds to 3 significant digits below 100", () => {
    expect(round(29.3456)).toBe(29.3);
    expect(round(0.012345)).toBe(0.0123);
    expect(round(1234.5)).toBe(1235);
    expect(round(0)).toBe(0);
  });
});

describe("report", () => {
  const side = (runs: Record<string, number>[]): SideResult => ({
    available: true,
    runs,
    nodesPeakRssMb: { relay1: [40, 42] },
    bulkCpuCores: { relay1: [0.5] },
    errors: [],
    notes: [],
  });

  it("compares against Tor's better configuration per figure and renders every figure", () => {
    const ours = summarizeSide(side([{ bulk_mb_per_s: 100, rtt_ms_p50: 1 }, { bulk_mb_per_s: 120, rtt_ms_p50: 2 }]));
    const def = summarizeSide(side([{ bulk_mb_per_s: 5, rtt_ms_p50: 8 }]));
    const van = summarizeSide(side([{ bulk_mb_per_s: 25, rtt_ms_p50: 0.5 }]));
    const c = compare(ours, def, van);
    expect(c.tor.bulk_mb_per_s?.config).toBe("vanilla");
    expect(c.ratio.bulk_mb_per_s).toBeCloseTo(110 / 25);
    expect(c.tor.rtt_ms_p50?.config).toBe("vanilla");
    expect(c.ratio.rtt_ms_p50).toBeCloseTo(1.5 / 0.5);

    const md = markdownTable(c);
    expect(md.split("\n")).toHaveLength(FIGURES.length + 2);
    expect(md).toContain("| Bulk, one stream | MB/s | 110 (100–120) | 5 | **25** | 4.4 | ours 4.4× better |");
    expect(md).toContain("Tor 3× better");

    const json = jsonReport(c, {
      machine: { cores: 2 },
      date: "2026-01-01T00:00:00.000Z",
      params: {},
      sides: { ours: side([]), tor_default: side([]), tor_vanilla: side([]) },
    });
    for (const k of ["ours", "tor", "ratio", "tor_default", "tor_vanilla", "machine", "date"]) expect(json).toHaveProperty(k);
    expect((json.ours as Record<string, unknown>).bulk_mb_per_s).toEqual({ median: 110, min: 100, max: 120, runs: [100, 120] });
    expect((json.tor as Record<string, { config: string }>).bulk_mb_per_s?.config).toBe("vanilla");
  });

  it("adds the Node.js TLS floor's column and ratios only when the floor ran", () => {
    const ours = summarizeSide(side([{ bulk_mb_per_s: 40, cpu_s_per_100mb: 3 }]));
    const tor = summarizeSide(side([{ bulk_mb_per_s: 20, cpu_s_per_100mb: 3 }]));
    const floor = summarizeSide(side([{ bulk_mb_per_s: 160, cpu_s_per_100mb: 1.5 }]));
    const c = compare(ours, tor, tor, floor);
    expect(c.ratioToFloor.bulk_mb_per_s).toBeCloseTo(0.25);
    expect(c.ratioToFloor.cpu_s_per_100mb).toBeCloseTo(2);
    expect(c.ratioToFloor.rtt_ms_p50).toBeUndefined();
    const md = markdownTable(c);
    expect(md).toContain("| Node.js TLS floor | ours / floor |");
    expect(md).toContain("| Bulk, one stream | MB/s | 40 | **20** | 20 | 2 | ours 2× better | 160 | 0.25 |");
    expect(markdownTable(compare(ours, tor, tor))).not.toContain("floor");
    const sides = { ours: side([]), tor_default: side([]), tor_vanilla: side([]) };
    const extra = { machine: {}, date: "2026-01-01T00:00:00.000Z", params: {} };
    const json = jsonReport(c, { ...extra, sides: { ...sides, node_floor: side([]) } });
    expect(json.ratio_to_floor).toEqual({ bulk_mb_per_s: 0.25, cpu_s_per_100mb: 2 });
    expect((json.node_floor as Record<string, unknown>).bulk_mb_per_s).toEqual({ median: 160, min: 160, max: 160, runs: [160] });
    expect(jsonReport(compare(ours, tor, tor), { ...extra, sides })).not.toHaveProperty("node_floor");
  });

  it("gives ours / Tor's better configuration round by round, skipping a round either side lacks", () => {
    const oursRuns: RunValues[] = [{ bulk_mb_per_s: 40 }, { bulk_mb_per_s: 30 }, {}];
    const defaultRuns = [{ bulk_mb_per_s: 5 }, { bulk_mb_per_s: 5 }, { bulk_mb_per_s: 5 }];
    const vanillaRuns = [{ bulk_mb_per_s: 20 }, { bulk_mb_per_s: 40 }, { bulk_mb_per_s: 25 }];
    const c = compare(summarizeSide(side(oursRuns)), summarizeSide(side(defaultRuns)), summarizeSide(side(vanillaRuns)), {}, {
      ours: oursRuns,
      torDefault: defaultRuns,
      torVanilla: vanillaRuns,
    });
    expect(c.ratio.bulk_mb_per_s).toBeCloseTo(35 / 25);
    expect(c.ratioByRound.bulk_mb_per_s).toEqual({ median: 1.375, min: 0.75, max: 2, runs: [2, 0.75] });
    expect(c.ratioByRound.rtt_ms_p50).toBeUndefined();
    expect(markdownTable(c)).toContain("| 1.4 (0.75–2) | ours 1.4× better; ours won 1 of 2 rounds |");
    const json = jsonReport(c, {
      machine: {},
      date: "2026-01-01T00:00:00.000Z",
      params: {},
      sides: { ours: side(oursRuns), tor_default: side(defaultRuns), tor_vanilla: side(vanillaRuns) },
    });
    expect((json.ratio_by_round as Record<string, unknown>).bulk_mb_per_s).toEqual({ median: 1.38, min: 0.75, max: 2, runs: [2, 0.75] });
  });

  it("lists every required JSON key among the figures", () => {
    const keys = FIGURES.map((f) => f.key);
    for (const k of REQUIRED_KEYS) expect(keys).toContain(k);
  });
});

describe("parsers", () => {
  it("reads /proc/PID/stat even with spaces and parens in the command name", () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[0] = "S";
    fields[1] = "77"; // ppid (field 4)
    fields[11] = "250"; // utime (field 14)
    fields[12] = "50"; // stime (field 15)
    const text = `1234 (tor (main) x) ${fields.join(" ")}\n`;
    expect(parseStat(text)).toEqual({ ppid: 77, utime: 250, stime: 50 });
  });

  it("reads VmHWM from /proc/PID/status", () => {
    expect(parseStatusKb("Name:\ttor\nVmPeak:\t 100 kB\nVmHWM:\t   36864 kB\nVmRSS:\t 1 kB\n", "VmHWM")).toBe(36864);
    expect(parseStatusKb("Name:\tzombie\n", "VmHWM")).toBeUndefined();
  });

  it("reads VmRSS in bytes, and turns two memory readings into bytes per circuit", () => {
    expect(parseStatusKb("Name:\ttor\nVmHWM:\t 900 kB\nVmRSS:\t   2048 kB\n", "VmRSS")).toBe(2048);
    expect(parseStatusKb("Name:\tzombie\n", "VmRSS")).toBeUndefined();
    const reading = (rss: number, heapUsed: number, external: number) => ({ rss, heapUsed, heapTotal: 0, external, arrayBuffers: 0, spaces: {} });
    expect(perCircuit(reading(100_000, 50_000, 1_000), reading(300_000, 110_000, 21_000), 100)).toEqual({
      rssBytes: 2000,
      heapBytes: 600,
      externalBytes: 200,
      heapExternalBytes: 800,
    });
  });

  it("parses tor control replies, data blocks and async events", () => {
    const replies: ControlReply[] = [];
    const events: ControlReply[] = [];
    const p = new ControlParser((r) => replies.push(r), (e) => events.push(e));
    p.push("250-status/bootstrap-phase=NOTICE BOOTSTRAP PROGRESS=75 TAG=enough_dirinfo\r\n250 OK\r\n");
    p.push("650 CIRC 5 BUILT $AA~a,$BB~b PURPOSE=GENERAL\r\n250+desc/name/x=\r\nrouter x\r\n..dot\r\n.\r\n250 O");
    p.push("K\r\n");
    expect(replies).toHaveLength(2);
    expect(replies[0]!.lines[0]).toContain("PROGRESS=75");
    expect(bootstrapProgress(replies[0]!.lines[0]!)).toBe(75);
    expect(replies[1]!.lines[0]).toBe("desc/name/x=\nrouter x\n.dot");
    expect(events.map((e) => e.lines[0])).toEqual(["CIRC 5 BUILT $AA~a,$BB~b PURPOSE=GENERAL"]);
    expect(bootstrapProgress("nothing")).toBe(-1);
  });

  it("counts usable relays in a consensus only once there is an exit", () => {
    const c = ["r a", "s Fast Guard Running Valid", "r b", "s Exit Fast Running Valid", "r c", "s Fast Valid"].join("\n");
    expect(consensusReady(c)).toBe(2);
    expect(consensusReady("r a\ns Fast Running Valid\n")).toBe(0);
  });

  it("parses our network's ready line and addresses", () => {
    const f = parseNetworkReady("network ready socks=127.0.0.1:9050 control=http://127.0.0.1:9051 http=http://127.0.0.1:8080 echo=127.0.0.1:7");
    expect(f).toEqual({ socks: "127.0.0.1:9050", control: "http://127.0.0.1:9051", http: "http://127.0.0.1:8080", echo: "127.0.0.1:7" });
    expect(parseNetworkReady("relay ready or=1")).toBeUndefined();
  });

  it("names our node processes from their command lines", () => {
    const base = ["/usr/bin/node", "--import", "tsx", "/w/src/cli.ts"];
    expect(ourProcessName([...base, "relay", "--nickname", "Tabby"], false)).toBe("relay Tabby");
    expect(ourProcessName([...base, "directory", "--listen", "x"], false)).toBe("authority");
    expect(ourProcessName([...base, "proxy"], false)).toBe("proxy");
    expect(ourProcessName([...base, "network"], true)).toBe("network");
    expect(ourProcessName(["/x/esbuild", "--service=0.28"], false)).toBe("esbuild (tsx)");
  });

  it("parses HTTP response heads and /bytes/N paths", () => {
    const r = parseResponseHead(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nabc"));
    expect(r).toEqual({ status: 200, contentLength: 12, bodyStart: 39 });
    expect(parseResponseHead(Buffer.from("HTTP/1.1 200 OK\r\n"))).toBeUndefined();
    expect(parseBytesPath("/bytes/100")).toBe(100);
    expect(parseBytesPath("/bytes/x")).toBeUndefined();
  });
});

