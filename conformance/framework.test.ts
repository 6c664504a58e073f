/** Unit tests of the runner's own pieces: globs, launch lines, features, known failures, reports. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type TestResult, closingLine, globMatch, junit, summarize } from "./framework.js";
import { Target, applyLaunchLine, loadFeatures, loadKnownFailures } from "./target.js";

const KEY = "ab".repeat(32);

describe("globMatch", () => {
  it("matches segments, subtrees and prefixes", () => {
    expect(globMatch("relay/link/*", "relay/link/garbage")).toBe(true);
    expect(globMatch("relay/*", "relay/link/garbage")).toBe(false);
    expect(globMatch("relay/**", "relay/link/garbage")).toBe(true);
    expect(globMatch("relay", "relay/link/garbage")).toBe(true);
    expect(globMatch("relay/link", "relay/linkx/a")).toBe(false);
    expect(globMatch("directory/publish/invalid/*", "directory/publish/invalid/port-zero")).toBe(true);
    expect(globMatch("*/heartbeat/replay", "directory/heartbeat/replay")).toBe(true);
  });
});

describe("launch lines", () => {
  it("parses every kind and ignores other output", () => {
    const t = new Target();
    expect(applyLaunchLine(t, "starting things...")).toBe("ignored");
    expect(applyLaunchLine(t, `conformance directory url=http://127.0.0.1:7001/ key=${KEY}`)).toBe("applied");
    expect(applyLaunchLine(t, `conformance relay addr=127.0.0.1:9001 identity=${KEY} onion-key=${KEY} nickname=a`)).toBe("applied");
    expect(applyLaunchLine(t, `conformance relay addr=[::1]:9002 identity=${KEY}`)).toBe("applied");
    expect(applyLaunchLine(t, "conformance proxy socks=127.0.0.1:9050 control=http://127.0.0.1:9051")).toBe("applied");
    expect(applyLaunchLine(t, "conformance feature vectorCheck=python3 check.py --strict")).toBe("applied");
    expect(t.control).toBe("http://127.0.0.1:9051");
    expect(applyLaunchLine(t, "conformance control url=http://127.0.0.1:9052/")).toBe("applied");
    expect(applyLaunchLine(t, "conformance ready")).toBe("ready");
    expect(t.directory?.url).toBe("http://127.0.0.1:7001");
    expect(t.relays.map((r) => `${r.host}:${r.port}`)).toEqual(["127.0.0.1:9001", "::1:9002"]);
    expect(t.relays[0].onionKey?.length).toBe(32);
    expect(t.proxy).toEqual({ host: "127.0.0.1", port: 9050 });
    expect(t.control).toBe("http://127.0.0.1:9052");
    expect(t.features.vectorCheck).toBe("python3 check.py --strict");
    expect(t.has("extend")).toBe(true);
  });

  it("refuses malformed lines", () => {
    const t = new Target();
    expect(() => applyLaunchLine(t, "conformance relay addr=127.0.0.1:9001")).toThrow(/identity/);
    expect(() => applyLaunchLine(t, "conformance directory url=http://x key=12")).toThrow(/64 hex/);
    expect(() => applyLaunchLine(t, "conformance bridge addr=1")).toThrow(/unknown/);
  });
});

describe("features and known failures files", () => {
  it("reads JSON and key: value files", () => {
    const dir = mkdtempSync(join(tmpdir(), "conformance-fw-"));
    try {
      writeFileSync(join(dir, "f.json"), JSON.stringify({ directory: true, relay: false, vectorCheck: "./vc" }));
      writeFileSync(join(dir, "f.yaml"), "# ours\ndirectory: false\nproxy: true\nvectorCheck: \"node vc.js\"\n");
      writeFileSync(join(dir, "k.txt"), "# known\nrelay/flow/*  # windows\n\nclient/socks5/bad-version\n");
      const a = new Target();
      loadFeatures(join(dir, "f.json"), a.features);
      expect(a.has("directory")).toBe(true);
      expect(a.has("relay")).toBe(false);
      expect(a.features.vectorCheck).toBe("./vc");
      const b = new Target();
      loadFeatures(join(dir, "f.yaml"), b.features);
      expect(b.has("proxy")).toBe(true);
      expect(b.has("directory")).toBe(false);
      expect(b.features.vectorCheck).toBe("node vc.js");
      expect(loadKnownFailures(join(dir, "k.txt"))).toEqual(["relay/flow/*", "client/socks5/bad-version"]);
      writeFileSync(join(dir, "bad.json"), JSON.stringify({ teleport: true }));
      expect(() => loadFeatures(join(dir, "bad.json"), new Target().features)).toThrow(/unknown feature/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("reports", () => {
  const r = (id: string, outcome: TestResult["outcome"]): TestResult => ({ id, clause: "x.proto M", level: "MUST", outcome, ms: 5, notes: [], message: outcome === "passed" ? undefined : "why <&>" });
  it("closing line counts stale known failures as failures", () => {
    const s = summarize([r("a/b/c", "passed"), r("a/b/d", "xfail"), r("a/b/e", "skipped"), r("a/b/f", "failed")], 10);
    expect(closingLine(s)).toBe("1 passed, 1 failed, 1 skipped (1 failed as expected)");
    expect(s.ok).toBe(false);
    const t = summarize([r("a/b/c", "passed"), r("a/b/g", "xpass")], 10);
    expect(closingLine(t)).toBe("1 passed, 1 failed");
    expect(t.ok).toBe(false);
    expect(summarize([r("a/b/c", "passed"), r("a/b/d", "xfail")], 1).ok).toBe(true);
  });
  it("JUnit XML escapes and marks failures", () => {
    const x = junit(summarize([r("a/b/c", "passed"), r("a/b/f", "failed")], 10));
    expect(x).toContain('<testcase classname="a/b" name="a/b/f"');
    expect(x).toContain('<failure message="why &lt;&amp;&gt;">');
    expect(x).toContain('failures="1"');
  });
});
