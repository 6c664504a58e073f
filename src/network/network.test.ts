/** Unit tests of the network's own parts: the destination service, ready lines, node names. */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE_FLAGS, PACKAGE_ROOT, parseReadyLine, spawnNode } from "./child.js";
import { generatedBytes, generatedSha256, meowReply, startDestination, type Destination } from "./destination.js";
import { CAT_NAMES, relayNickname, startNetwork } from "./network.js";

describe("destination service", () => {
  let dest: Destination;
  beforeAll(async () => {
    dest = await startDestination();
  });
  afterAll(() => dest.close());

  it("echoes each line with a cat sound, including a last unterminated one", async () => {
    const [host, port] = dest.echoAddress.split(":");
    const sock = connect({ host, port: Number(port) });
    let got = "";
    sock.on("data", (d) => (got += d.toString()));
    sock.write("hello\nsecond line\r\nlast");
    sock.end();
    await new Promise((r) => sock.on("close", r));
    expect(got).toBe(`${meowReply("hello", 0)}\n${meowReply("second line", 1)}\n${meowReply("last", 2)}\n`);
    expect(meowReply("hello", 0)).toBe("hello meow!");
  });

  it("serves N deterministic bytes at /bytes/N", async () => {
    const get = (path: string) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        request(`${dest.httpUrl}${path}`, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        })
          .on("error", reject)
          .end();
      });
    const n = 200_000;
    const r = await get(`/bytes/${n}`);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(n);
    expect(r.body.equals(generatedBytes(n))).toBe(true);
    expect(createHash("sha256").update(r.body).digest("hex")).toBe(generatedSha256(n));
    // A prefix of a longer file is the shorter file (one keystream).
    expect(generatedBytes(1000).equals(generatedBytes(5000).subarray(0, 1000))).toBe(true);
    expect((await get("/bytes/0")).body.length).toBe(0);
    expect((await get("/bytes/99999999999")).status).toBe(400);
    expect((await get("/nope")).status).toBe(404);
    expect((await get("/meow")).body.toString()).toContain("meow");
  });
});

describe("network helpers", () => {
  it("parses ready lines", () => {
    expect(parseReadyLine("relay", "relay ready or=127.0.0.1:5 identity=ab nickname=Tabby")).toEqual({
      or: "127.0.0.1:5",
      identity: "ab",
      nickname: "Tabby",
    });
    expect(parseReadyLine("relay", "relay readyish x=1")).toBeUndefined();
    expect(parseReadyLine("proxy", "relay ready or=1")).toBeUndefined();
  });

  it("names relays after cats, uniquely", () => {
    const names = Array.from({ length: 45 }, (_, i) => relayNickname(i));
    expect(names[0]).toBe(CAT_NAMES[0]);
    expect(new Set(names).size).toBe(45);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9]{1,19}$/); // Tor's nickname rule
  });

  it("refuses impossible shapes before starting anything", async () => {
    await expect(startNetwork({ exits: 1 })).rejects.toThrow(/at least 2/);
    await expect(startNetwork({ relays: 2 })).rejects.toThrow(/at least 3/);
    await expect(startNetwork({ relays: 3, exits: 4 })).rejects.toThrow(/cannot exceed/);
    await expect(startNetwork({ authorities: 0 })).rejects.toThrow(/at least 1/);
  });
});

describe("node processes", () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it("runs every node with NODE_FLAGS, as npm start and the installed command do, unless told otherwise", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meowonion-flags-test-"));
    const start = (name: string, nodeFlags?: readonly string[]) =>
      spawnNode({ name, kind: "directory", logFile: join(dir, `${name}.log`), args: ["--listen", "127.0.0.1:0", "--data-dir", join(dir, name)], readyTimeoutMs: 60_000, nodeFlags });
    const v8FlagsOf = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, "latin1")).split("\0").slice(1, 1 + NODE_FLAGS.length);
    const nodes = await Promise.allSettled([start("plain"), start("tuned", ["--max-semi-space-size=1", "--initial-old-space-size=64"])]);
    try {
      const [plain, tuned] = nodes.map((n) => {
        if (n.status === "rejected") throw n.reason;
        return n.value;
      });
      expect(await v8FlagsOf(plain.pid)).toEqual(NODE_FLAGS);
      expect(await v8FlagsOf(tuned.pid)).toEqual(["--max-semi-space-size=1", "--initial-old-space-size=64"]);
      const packageJson = JSON.parse(await readFile(join(PACKAGE_ROOT, "package.json"), "utf8")) as { scripts: { start: string } };
      const shebang = (await readFile(join(PACKAGE_ROOT, "bin", "meowonion.js"), "utf8")).split("\n")[0];
      expect(packageJson.scripts.start).toContain(`node ${NODE_FLAGS.join(" ")} `);
      expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`);
    } finally {
      await Promise.all(nodes.map((n) => (n.status === "fulfilled" ? n.value.stop() : undefined)));
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it("a node stops by itself when the network process dies by SIGKILL", async () => {
    const dir = await mkdtemp(join(tmpdir(), "meowonion-orphan-test-"));
    // A stand-in for `meowonion network`: starts one node with spawnNode, prints its pid.
    const code = `
      import { spawnNode } from "./src/network/child.ts";
      const n = await spawnNode({ name: "a", kind: "directory", logFile: ${JSON.stringify(join(dir, "a.log"))},
        args: ["--listen", "127.0.0.1:0", "--data-dir", ${JSON.stringify(join(dir, "a"))}], readyTimeoutMs: 60000 });
      console.log("node " + n.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: PACKAGE_ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const nodePid = await new Promise<number>((resolve, reject) => {
        parent.once("exit", (c) => reject(new Error(`parent exited (${c})`)));
        createInterface({ input: parent.stdout! }).on("line", (line) => {
          const m = /^node (\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
        });
      });
      expect(alive(nodePid)).toBe(true);
      parent.kill("SIGKILL");
      const until = Date.now() + 15_000;
      while (alive(nodePid) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(alive(nodePid)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
