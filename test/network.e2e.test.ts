/**
 * End to end: `meowonion network --headless --processes` as a real child process, used with
 * the real `curl` (SOCKS5 with hostnames resolved at the exit, and HTTP CONNECT), 100
 * concurrent streams, an exit-policy refusal, its onion services reached by name (curl, 50 MB,
 * 20 concurrent streams, the echo; an unknown address refused clearly), and SIGTERM leaving no
 * orphans. Then the
 * terminal UI, rendered with ink-testing-library against a real in-process network: the cat,
 * bootstrap progress, circuits with relay nicknames, and a message sent from the prompt that
 * comes back from the meow echo server.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { render } from "ink-testing-library";
import { createElement as h } from "react";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedSha256, CAT_SOUNDS } from "../src/network/destination.js";
import { NODE_FLAGS, PROXY_NODE_FLAGS } from "../src/network/child.js";
import { startNetwork, type RunningNetwork } from "../src/network/network.js";
import { App } from "../src/proxy/tui/app.js";
import { createControlClient } from "../src/proxy/tui/control.js";
import { httpGetThrough } from "./helpers/socks-client.js";
import { parseHostPort } from "../src/common/host-port.js";
import { SocksError, socksConnect } from "../src/proxy/socks-client.js";
import { exchangeMessage } from "../src/proxy/tui/exchange.js";
import { meowHostName } from "../src/onion/hs/address.js";
import { generateEd25519KeyPair } from "../src/onion/signing.js";
import { Socks5Reply } from "../src/onion/reasons.js";
import { DEFAULT_STREAM_TIMEOUT_MS } from "../src/proxy/circuit.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const READY_DEADLINE_MS = 300_000;

interface Ready {
  socks: string;
  control: string;
  http: string;
  echo: string;
  /** The onion services: `<address>.meow:PORT`. */
  onionEcho: string;
  onionHttp: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is gone for our purposes.
  try {
    return !/^\S+\s+\(.*\)\s+Z/.test(execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }));
  } catch {
    return false;
  }
}

function childPidsOf(ppid: number): number[] {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(ppid)], { encoding: "utf8" })
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** Runs curl with `args`, streaming its stdout into SHA-256. */
function curlSha256(args: string[], timeoutMs = 120_000): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const curl = spawn("curl", ["--silent", "--show-error", "--fail", "--max-time", String(timeoutMs / 1000), ...args]);
    const hash = createHash("sha256");
    let bytes = 0;
    let stderr = "";
    curl.stdout.on("data", (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
    });
    curl.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    curl.on("error", reject);
    curl.on("close", (code) => {
      if (code === 0) resolve({ sha256: hash.digest("hex"), bytes });
      else reject(new Error(`curl ${args.join(" ")} exited ${code}: ${stderr}`));
    });
  });
}


describe("meowonion network --headless --processes", () => {
  let net: ChildProcess;
  let ready: Ready;
  const output: string[] = [];
  let nodePids: number[] = [];

  beforeAll(async () => {
    net = spawn(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", "network", "--headless", "--processes", "--socks", "127.0.0.1:0", "--control", "127.0.0.1:0"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    net.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'network ready' line in ${READY_DEADLINE_MS} ms:\n${output.join("\n")}\n${stderr}`)), READY_DEADLINE_MS);
      net.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`network exited (${code}) before ready:\n${output.join("\n")}\n${stderr}`));
      });
      createInterface({ input: net.stdout! }).on("line", (line) => {
        output.push(line);
        const m = /^network ready socks=(\S+) control=(\S+) http=(\S+) echo=(\S+) onion-echo=(\S+) onion-http=(\S+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ socks: m[1], control: m[2], http: m[3], echo: m[4], onionEcho: m[5], onionHttp: m[6] });
        }
      });
    });
    nodePids = output.flatMap((l) => [...l.matchAll(/\bpid=(\d+)/g)].map((m) => Number(m[1])));
  }, READY_DEADLINE_MS + 10_000);

  afterAll(async () => {
    if (net && net.exitCode === null && net.signalCode === null) {
      net.kill("SIGKILL");
      await new Promise((r) => net.once("exit", r));
    }
    for (const pid of nodePids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  }, 30_000);

  it("prints how to use it, with one process per node", () => {
    const text = output.join("\n");
    expect(text).toContain(`curl --socks5-hostname ${ready.socks} ${ready.http}/bytes/1024 | sha256sum`);
    expect(text).toContain(`curl -p -x http://${ready.socks} ${ready.http}/bytes/1024 | sha256sum`);
    expect(text).toContain(ready.echo);
    expect(text).toContain("buf curl");
    expect(text).toContain(`curl --socks5-hostname ${ready.socks} http://${ready.onionHttp.replace(/:80$/, "")}/bytes/1024 | sha256sum`);
    expect(nodePids.length).toBe(1 + 5 + 1 + 2); // authority, relays, proxy, onion services
    // Each node is a direct child of the network process (tsx may add an esbuild helper).
    const children = childPidsOf(net.pid!);
    for (const pid of nodePids) expect(children).toContain(pid);
  });

  it("runs the proxy with PROXY_NODE_FLAGS and every other node with NODE_FLAGS", () => {
    const proxyPid = Number(/^\s*proxy\s.*\bpid=(\d+)/m.exec(output.join("\n"))?.[1]);
    const v8FlagsOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").slice(1, 1 + NODE_FLAGS.length);
    expect(v8FlagsOf(proxyPid)).toEqual(PROXY_NODE_FLAGS);
    for (const pid of nodePids.filter((p) => p !== proxyPid)) expect(v8FlagsOf(pid)).toEqual(NODE_FLAGS);
  });

  it("serves 1 KB through SOCKS5 (hostname resolved at the exit) and HTTP CONNECT, with curl", async () => {
    const url = `${ready.http.replace("127.0.0.1", "localhost")}/bytes/1024`;
    const viaSocks = await curlSha256(["--socks5-hostname", ready.socks, url]);
    expect(viaSocks).toEqual({ sha256: generatedSha256(1024), bytes: 1024 });
    const viaConnect = await curlSha256(["-p", "-x", `http://${ready.socks}`, `${ready.http}/bytes/1024`]);
    expect(viaConnect).toEqual({ sha256: generatedSha256(1024), bytes: 1024 });
  }, 60_000);

  it("serves 50 MB intact through SOCKS5 and through HTTP CONNECT, with curl", async () => {
    const n = 50 * 1024 * 1024;
    const want = { sha256: generatedSha256(n), bytes: n };
    expect(await curlSha256(["--socks5-hostname", ready.socks, `${ready.http}/bytes/${n}`])).toEqual(want);
    expect(await curlSha256(["-p", "-x", `http://${ready.socks}`, `${ready.http}/bytes/${n}`])).toEqual(want);
  }, 240_000);

  it("carries 100 concurrent streams, all intact", async () => {
    const sizes = Array.from({ length: 100 }, (_, i) => 1000 + i * 997);
    const results = await Promise.all(sizes.map((n) => httpGetThrough(ready.socks, ready.http, `/bytes/${n}`)));
    results.forEach((r, i) => expect(r).toEqual({ sha256: generatedSha256(sizes[i]), bytes: sizes[i] }));
  }, 120_000);

  it("echoes a line with a cat sound", async () => {
    const r = await exchangeMessage(ready.socks, ready.echo, "hello cat");
    expect(r.reply).toMatch(new RegExp(`^hello cat (${CAT_SOUNDS.join("|")})!\\n$`));
  }, 30_000);

  it("answers SOCKS5 reply 0x02 for a destination every exit's policy refuses", async () => {
    // The exits accept only 127.0.0.0/8: they refuse 10.255.255.1 by policy, before connecting.
    const proxy = parseHostPort(ready.socks);
    const err = await socksConnect({ proxyHost: proxy.host, proxyPort: proxy.port, host: "10.255.255.1", port: 80, timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocksError);
    expect((err as SocksError).reply).toBe(0x02);
  }, 70_000);

  it("reaches its onion services by name with curl: 50 MB intact, and the echo", async () => {
    const service = `http://${ready.onionHttp}`;
    const n = 50 * 1024 * 1024;
    expect(await curlSha256(["--socks5-hostname", ready.socks, `${service}/bytes/${n}`])).toEqual({ sha256: generatedSha256(n), bytes: n });
    const r = await exchangeMessage(ready.socks, ready.onionEcho, "hello onion cat");
    expect(r.reply).toMatch(new RegExp(`^hello onion cat (${CAT_SOUNDS.join("|")})!\\n$`));
  }, 240_000);

  it("carries 20 concurrent streams to an onion service, all intact", async () => {
    const sizes = Array.from({ length: 20 }, (_, i) => 10_000 + i * 99_991);
    const service = `http://${ready.onionHttp}`;
    const results = await Promise.all(sizes.map((n) => httpGetThrough(ready.socks, service, `/bytes/${n}`)));
    results.forEach((r, i) => expect(r).toEqual({ sha256: generatedSha256(sizes[i]), bytes: sizes[i] }));
  }, 120_000);

  it("refuses an onion address nobody publishes with SOCKS5 reply 0xF0 (descriptor not found) within the stream timeout", async () => {
    const unknown = meowHostName(generateEd25519KeyPair().publicKey);
    const proxy = parseHostPort(ready.socks);
    const started = performance.now();
    const err = await socksConnect({ proxyHost: proxy.host, proxyPort: proxy.port, host: unknown, port: 80, timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SocksError);
    expect((err as SocksError).reply).toBe(Socks5Reply.ONION_SERVICE_NOT_FOUND);
    expect(performance.now() - started).toBeLessThan(DEFAULT_STREAM_TIMEOUT_MS);
  }, 70_000);

  it("stops every node on SIGTERM, leaving no orphan process", async () => {
    expect(nodePids.every(isAlive)).toBe(true);
    const exited = new Promise<number | null>((r) => net.once("exit", (code) => r(code)));
    net.kill("SIGTERM");
    const code = await exited;
    expect(code).not.toBeNull();
    // The network waits for its children before exiting; allow a moment for reaping.
    for (let i = 0; i < 50 && nodePids.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
    expect(nodePids.filter(isAlive)).toEqual([]);
  }, 30_000);
});

describe("terminal UI against a real in-process network", () => {
  let net: RunningNetwork;
  let control: ReturnType<typeof createControlClient>;

  beforeAll(async () => {
    net = await startNetwork();
    control = createControlClient(net.controlUrl);
  }, READY_DEADLINE_MS);

  afterAll(async () => {
    control?.close();
    await net?.close();
  }, 30_000);

  const waitFor = async (check: () => boolean, what: string, ms = 20_000, frame?: () => string) => {
    const until = Date.now() + ms;
    while (!check()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}${frame ? `; screen:\n${frame()}` : ""}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it("shows the cat, bootstrap progress and circuits with relay nicknames", async () => {
    const app = render(h(App, { control: control.client, socksAddress: net.socksAddress, controlUrl: net.controlUrl, pollMs: 200 }));
    try {
      const frame = () => app.lastFrame() ?? "";
      expect(frame()).toContain("/\\_____/\\"); // the cat's ears, from the first frame
      await waitFor(() => frame().includes("100%"), "bootstrap 100%");
      expect(frame()).toContain("✔ consensus");
      expect(frame()).toContain("✔ ready");
      expect(frame()).toContain("meow! ready");
      const nicknames = net.relays.map((r) => r.nickname);
      const pathRe = new RegExp(`OPEN\\s+exit\\s+(${nicknames.join("|")}) → (${nicknames.join("|")}) → (${nicknames.join("|")})`);
      await waitFor(() => pathRe.test(frame()), "an open circuit with three nicknames", 20_000, frame);
    } finally {
      app.unmount();
    }
  }, 60_000);

  it("sends a message typed at the prompt and shows the meow echo's reply", async () => {
    const app = render(h(App, { control: control.client, socksAddress: net.socksAddress, pollMs: 200 }));
    try {
      const frame = () => app.lastFrame() ?? "";
      // Input is read once ink's effects ran; the first status poll comes after them.
      await waitFor(() => frame().includes("100%"), "the first status", 20_000, frame);
      const type = async (text: string) => {
        for (const ch of text) {
          app.stdin.write(ch);
          await new Promise((r) => setTimeout(r, 2));
        }
      };
      await type(net.echoAddress);
      await waitFor(() => frame().includes(`destination ${net.echoAddress}`), "the typed destination", 5_000, frame);
      app.stdin.write("\t");
      await new Promise((r) => setTimeout(r, 20));
      await type("is anyone there?");
      await new Promise((r) => setTimeout(r, 20));
      app.stdin.write("\r");
      const reply = new RegExp(`← is anyone there\\? (${CAT_SOUNDS.join("|")})!`);
      await waitFor(() => reply.test(frame()), "the echo's reply", 30_000, frame);
      expect(frame()).toContain("purr! a reply came back");
    } finally {
      app.unmount();
    }
  }, 60_000);

  it("sends to the cat's onion address, the default destination, and marks the rendezvous circuit", async () => {
    const cat = net.onionServices.find((s) => s.name === "echo")!;
    const destination = `${cat.address}:${cat.port}`;
    const app = render(h(App, { control: control.client, socksAddress: net.socksAddress, pollMs: 200, defaultDestination: destination }));
    try {
      const frame = () => app.lastFrame() ?? "";
      await waitFor(() => frame().includes("100%"), "the first status", 20_000, frame);
      for (const ch of "hello onion cat") {
        app.stdin.write(ch);
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 20));
      app.stdin.write("\r");
      const reply = new RegExp(`← hello onion cat (${CAT_SOUNDS.join("|")})!`);
      await waitFor(() => reply.test(frame()), "the onion echo's reply", 30_000, frame);
      await waitFor(() => /rendez\s+⇄ [a-z2-7]{8}….meow via /.test(frame()), "the rendezvous circuit, marked", 10_000, frame);
    } finally {
      app.unmount();
    }
  }, 60_000);
});
