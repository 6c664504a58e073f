/**
 * Pure parts of bench:compare: torrc generation, statistics and ratios, the report, parsers,
 * Tor's onion service through a scripted ControlPort, and the onion-service workloads through
 * local SOCKS5 servers. No timing assertions.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { startSocksServer } from "../../src/proxy/socks.js";
import { perCircuit } from "../idle-circuits.js";
import { ONION_SERVICE_HTTP_PORT, measureOnionService, onionServicePorts, type OnionServiceUnderTest } from "./onion-service.js";
import { parseStat, parseStatusKb } from "./procs.js";
import { FIGURES, REQUIRED_KEYS, compare, jsonReport, markdownTable, summarizeSide, type RunValues, type SideResult } from "./report.js";
import { parseBytesPath, startServers } from "./servers.js";
import { median, oursWins, percentile, pickBest, ratio, round, summarize } from "./stats.js";
import { parseAuthorityLine, parseNetworkReady, ourProcessName } from "./targets.js";
import { ControlParser, TorControl, bootstrapProgress, type ControlReply } from "./tor-control.js";
import { UploadTracker, addOnionCommand, addTorOnionService, parseHsDescEvent } from "./tor-onion.js";
import { consensusReady } from "./tor-net.js";
import { CLIENT_ADDRESS, RELAY_ADDRESS, dirAuthorityLine, torrc, type TorNetworkSpec } from "./torrc.js";
import { parseResponseHead } from "./workloads.js";

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


describe("onion services", () => {
  const cleanups = new Cleanups();
  afterEach(() => cleanups.run());

  const listen = async (server: Server): Promise<number> => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return (server.address() as AddressInfo).port;
  };

  it("parses our network's authority lines", () => {
    const key = "ab".repeat(32);
    expect(parseAuthorityLine(`  authority authority1 http://127.0.0.1:7000  key=${key}  pid=42`)).toEqual({ url: "http://127.0.0.1:7000", key });
    expect(parseAuthorityLine(`  authority authority2 http://127.0.0.1:7001  key=${key}`)).toEqual({ url: "http://127.0.0.1:7001", key });
    expect(parseAuthorityLine("  relay     Whiskers   127.0.0.1:5000")).toBeUndefined();
  });

  it("parses HS_DESC events and writes ADD_ONION with every port", () => {
    expect(parseHsDescEvent("HS_DESC UPLOAD abc UNKNOWN $AAAA~relay1 descid HSDIR_INDEX=00ff")).toEqual({ action: "UPLOAD", address: "abc", hsDir: "$AAAA~relay1" });
    expect(parseHsDescEvent("HS_DESC FAILED abc UNKNOWN $BBBB~exit REASON=UPLOAD_REJECTED")).toEqual({
      action: "FAILED",
      address: "abc",
      hsDir: "$BBBB~exit",
      reason: "UPLOAD_REJECTED",
    });
    expect(parseHsDescEvent("CIRC 5 BUILT")).toBeUndefined();
    expect(addOnionCommand([{ virtualPort: 80, target: "127.0.0.1:8080" }, { virtualPort: 7, target: "127.0.0.1:7007" }])).toBe(
      "ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:8080 Port=7,127.0.0.1:7007",
    );
    expect(() => addOnionCommand([])).toThrow();
    expect(onionServicePorts({ httpPort: 8080, echoPort: 7007 })).toEqual([{ virtualPort: ONION_SERVICE_HTTP_PORT, target: "127.0.0.1:8080" }]);
  });

  it("counts a descriptor published once one HSDir has it and no upload is unanswered", () => {
    const t = new UploadTracker("abc");
    const ev = (action: string, hsDir: string, address = "abc") => ({ action, address, hsDir });
    expect(t.see(ev("UPLOAD", "$A"))).toBe(false);
    expect(t.see(ev("UPLOAD", "$B"))).toBe(false);
    expect(t.see(ev("UPLOADED", "$A"))).toBe(false);
    expect(t.see(ev("UPLOADED", "$B", "other"))).toBe(false);
    expect(t.see({ ...ev("FAILED", "$B"), reason: "x" })).toBe(true);
    expect(t.describe()).toBe("1 uploaded, 0 pending, failures: $B: x");
  });

  it("adds Tor's onion service over the ControlPort and waits for its uploads", async () => {
    const id = "a".repeat(56);
    const received: string[] = [];
    const server = createServer((sock: Socket) => {
      sock.setEncoding("utf8");
      let buf = "";
      sock.on("data", (t: string) => {
        buf += t;
        for (let nl = buf.indexOf("\r\n"); nl >= 0; nl = buf.indexOf("\r\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          received.push(line);
          if (!line.startsWith("ADD_ONION")) {
            sock.write("250 OK\r\n");
            continue;
          }
          // One upload answered before the reply names the service, one after.
          sock.write(`650 HS_DESC UPLOAD ${id} UNKNOWN $A~r1 d1\r\n650 HS_DESC UPLOAD ${id} UNKNOWN $B~r2 d2\r\n`);
          sock.write(`650 HS_DESC UPLOADED ${id} UNKNOWN $A~r1\r\n250-ServiceID=${id}\r\n250 OK\r\n`);
          setTimeout(() => sock.write(`650 HS_DESC UPLOADED ${id} UNKNOWN $B~r2\r\n`), 20);
        }
      });
    });
    const port = await listen(server);
    const control = await TorControl.open("127.0.0.1", port);
    cleanups.add(() => control.close());
    await control.addEvents("CIRC");
    expect(await addTorOnionService(control, [{ virtualPort: 80, target: "127.0.0.1:8080" }], 10_000)).toBe(id);
    await control.addEvents("CIRC", "HS_DESC");
    // SETEVENTS replaces the set: every call names all the events asked for so far, once.
    expect(received).toEqual(['AUTHENTICATE ""', "SETEVENTS CIRC", "SETEVENTS CIRC HS_DESC", "ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:8080"]);
  });

  it("connects a fresh client each time, notes a failed connect, and moves the bulk through the service", async () => {
    const servers = await startServers();
    cleanups.add(() => servers.close());
    const dst = { httpPort: servers.httpPort, echoPort: servers.echoPort };
    const host = `${"b".repeat(56)}.meow`;
    const asked: string[][] = [];
    let running = 0;
    const service: OnionServiceUnderTest = {
      host,
      async freshClient() {
        const client = asked.push([]) - 1;
        // A client's SOCKS port: the service's virtual port 80 is the HTTP server, IP
        // destinations are themselves; the first client's try at the service fails.
        const socks = await startSocksServer({
          host: "127.0.0.1",
          port: 0,
          backend: {
            async openStream(req) {
              asked[client]!.push(`${req.host}:${req.port}`);
              if (req.host === host && client === 0) throw new Error("introduction failed");
              const stream = connect({ host: "127.0.0.1", port: req.host === host ? dst.httpPort : req.port });
              await new Promise((resolve, reject) => stream.once("connect", resolve).once("error", reject));
              return { stream };
            },
          },
        });
        running++;
        return { socksHost: socks.host, socksPort: socks.port, stop: async () => void (running--, await socks.close()) };
      },
    };
    const params = { connects: 3, bulkBytes: 200_000, warmupBytes: 50_000, gapMs: 0, transferCapMs: 10_000, readyTimeoutMs: 10_000 };
    const r = await measureOnionService(service, dst, params, "t", () => undefined);
    expect(Object.keys(r.values).sort()).toEqual(["onion_service_bulk_mb_per_s", "onion_service_connect_ms_p50", "onion_service_connect_ms_p90"]);
    expect(r.values.onion_service_bulk_mb_per_s).toBeGreaterThan(0);
    expect(r.notes).toHaveLength(1);
    expect(r.notes[0]).toContain("onion-service connect 1 failed");
    // Each client is used once through an exit, then asks for the service; the last one also
    // carries the warm-up and the bulk transfer. None is left running.
    const exit = `127.0.0.1:${dst.httpPort}`;
    const svc = `${host}:${ONION_SERVICE_HTTP_PORT}`;
    expect(asked).toEqual([[exit, svc], [exit, svc], [exit, svc, svc, svc]]);
    expect(running).toBe(0);
  });

  it("fails the step when every connect fails, leaving no client running", async () => {
    let running = 0;
    const service: OnionServiceUnderTest = {
      host: `${"c".repeat(56)}.meow`,
      async freshClient() {
        const socks = await startSocksServer({
          host: "127.0.0.1",
          port: 0,
          backend: {
            async openStream(req) {
              if (req.host.endsWith(".meow")) throw new Error("descriptor not found");
              const stream = connect({ host: "127.0.0.1", port: req.port });
              await new Promise((resolve, reject) => stream.once("connect", resolve).once("error", reject));
              return { stream };
            },
          },
        });
        running++;
        return { socksHost: socks.host, socksPort: socks.port, stop: async () => void (running--, await socks.close()) };
      },
    };
    const servers = await startServers();
    cleanups.add(() => servers.close());
    const dst = { httpPort: servers.httpPort, echoPort: servers.echoPort };
    const params = { connects: 2, bulkBytes: 1000, warmupBytes: 0, gapMs: 0, transferCapMs: 10_000, readyTimeoutMs: 10_000 };
    await expect(measureOnionService(service, dst, params, "t", () => undefined)).rejects.toThrow(/every onion-service connect failed/);
    expect(running).toBe(0);
  });
});
