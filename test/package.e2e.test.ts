/**
 * The package the way a user gets it: compiled and packed (`npm pack`), the tarball
 * installed into a fresh project (its dependencies from the npm cache, else the registry),
 * `meowonion network` run from that install (compiled JS, no tsx), then, against that network:
 * a five-line ESM script fetching a file, the three examples the package ships, a TypeScript
 * consumer type-checked against the package's declarations, and the authority's status page.
 * Last, every whole program in docs/library.md (each starts a network of its own).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedSha256 } from "../src/network/destination.js";
import { ManagedProcess, ROOT } from "./helpers/procs.js";

const run = promisify(execFile);
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
/** Child processes get no loader from this test runner. */
const { NODE_OPTIONS: _, ...cleanEnv } = process.env;

let work: string;
let project: string;
let network: ManagedProcess;
let directory: { url: string; key: string };
let ready: { http: string; echo: string; onionHttp: string };

/** `node <script> <args>` in the project; its stdout. */
async function node(script: string, args: string[]): Promise<Buffer> {
  const { stdout } = await run(process.execPath, [script, ...args], { cwd: project, env: cleanEnv, encoding: "buffer", timeout: 90_000 });
  return stdout;
}

/** The code blocks of docs/library.md that are whole programs (they start with an import), with their section. */
function docPrograms(markdown: string): { section: string; code: string }[] {
  const programs: { section: string; code: string }[] = [];
  let section = "";
  for (const [, heading, code] of markdown.matchAll(/^#{2,3} (.*)$|^```js\n(import [^]*?)^```/gm)) {
    if (heading !== undefined) section = heading;
    else programs.push({ section, code });
  }
  return programs;
}

const DOC_PROGRAMS = docPrograms(readFileSync(join(ROOT, "docs", "library.md"), "utf8"));

/** A script the package ships in examples/. */
const example = (name: string) => join(project, "node_modules", "meowonion", "examples", name);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "meowonion-package-"));
  // What prepack (`npm run build`) does, but the status page: vitest's global setup has just built
  // dist/status-page/ from the current web/status/, and other tests' authorities read it meanwhile.
  await run(process.execPath, [TSC, "-p", "tsconfig.build.json"], { cwd: ROOT, env: cleanEnv });
  const packed = await run("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", work], { cwd: ROOT, env: cleanEnv, encoding: "utf8" });
  const tarball = join(work, packed.stdout.trim().split("\n").at(-1)!);
  project = join(work, "project");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "uses-meowonion", private: true, type: "module" }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: project, env: cleanEnv });

  const installed = join(project, "node_modules", "meowonion");
  const child = spawn(join(project, "node_modules", ".bin", "meowonion"), ["network", "--headless", "--socks", "127.0.0.1:0", "--control", "127.0.0.1:0"], {
    cwd: project,
    detached: true, // its own process group: stop() ends it and nothing else
    stdio: ["pipe", "pipe", "pipe"],
    env: {
      ...cleanEnv,
      // The package's own guard: the network stops when this test process goes, however it goes.
      NODE_OPTIONS: `--import=${pathToFileURL(join(installed, "dist", "src", "network", "exit-with-parent.js")).href}`,
      MEOWONION_EXIT_WITH_PARENT: "1",
      MEOWONION_LOG_LEVEL: "warn",
    },
  });
  network = new ManagedProcess("meowonion network (installed)", child, 20_000);
  const [, http, echo, onionHttp] = await network.waitForLine(/^network ready .* http=(\S+) echo=(\S+) .*onion-http=(\S+):80\b/, 120_000);
  ready = { http, echo, onionHttp };
  const [, url, key] = await network.waitForLine(/^\s+authority\s+\S+\s+(http:\S+)\s+key=([0-9a-f]{64})/, 1_000);
  directory = { url, key };
}, 300_000);

afterAll(async () => {
  await network?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the packed package, installed", () => {
  it("fetches a file through the network with five lines of code", async () => {
    const app = join(project, "app.mjs");
    const lines = [
      `import { MeowOnion } from "meowonion";`,
      `const client = await MeowOnion.createBootstrapped({ directories: [{ url: process.argv[2], key: process.argv[3] }], enforceDistinctSubnets: false });`,
      `const response = await client.fetch(process.argv[4]);`,
      `process.stdout.write(new Uint8Array(await response.arrayBuffer()));`,
      `await client.close();`,
    ];
    await writeFile(app, `${lines.join("\n")}\n`);
    const file = await node(app, [directory.url, directory.key, `${ready.http}/bytes/100000`]);
    expect(createHash("sha256").update(file).digest("hex")).toBe(generatedSha256(100_000));
  });

  it("runs the fetch-page example, by address and by .meow name", async () => {
    const byAddress = await node(example("fetch-page.mjs"), [directory.url, directory.key, `${ready.http}/meow`]);
    expect(byAddress.toString()).toMatch(/^200 text\/plain\n[^]*meow! you reached the destination/);
    const byName = await node(example("fetch-page.mjs"), [directory.url, directory.key, `http://${ready.onionHttp}/meow`]);
    expect(byName.toString()).toMatch(/^200 text\/plain\n[^]*meow! you reached the destination/);
  });

  it("runs the raw-stream example", async () => {
    const out = await node(example("raw-stream.mjs"), [directory.url, directory.key, ready.echo]);
    expect(out.toString()).toMatch(/^circuit \d+: hello cat \w+!\n$/);
  });

  it("runs the isolated-identities example", async () => {
    const out = (await node(example("isolated-identities.mjs"), [directory.url, directory.key, ready.echo])).toString();
    const [, alice, again, bob, renewed] = /^alice: circuit (\d+), again (\d+)\nbob: circuit (\d+)\nalice after a new identity: circuit (\d+)\n$/.exec(out) ?? [];
    expect(alice).toBeDefined();
    expect(again).toBe(alice);
    expect(bob).not.toBe(alice);
    expect([alice, bob]).not.toContain(renewed);
  });

  it("type-checks a TypeScript consumer against the package's declarations", async () => {
    const consumer = join(project, "consumer.ts");
    await writeFile(
      consumer,
      [
        `import type { Duplex } from "node:stream";`,
        `import { type ErrorKind, IsolationToken, MeowOnion, MeowOnionError, type OnionSocket, startRelay } from "meowonion";`,
        `export async function use(url: string, key: string): Promise<ErrorKind | undefined> {`,
        `  const client = await MeowOnion.createBootstrapped({ directories: [{ url, key }], signal: AbortSignal.timeout(1_000) });`,
        `  const socket: OnionSocket = await client.connect("127.0.0.1", 7, { isolation: new IsolationToken() });`,
        `  const duplex: Duplex = socket;`,
        `  // @ts-expect-error: a port is a number`,
        `  await client.connect("127.0.0.1", "7");`,
        `  duplex.destroy();`,
        `  void startRelay;`,
        `  return new MeowOnionError("timeout", "example").kind;`,
        `}`,
      ].join("\n"),
    );
    const options = ["--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--skipLibCheck"];
    await expect(run(process.execPath, [TSC, ...options, "--typeRoots", join(ROOT, "node_modules", "@types"), "--types", "node", consumer], { cwd: project, env: cleanEnv })).resolves.toBeDefined();
  });

  it("the authority started from the package serves its status page", async () => {
    const page = await fetch(`${directory.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<script[^>]+app-\w+\.js/);
  });
});

describe("docs/library.md", () => {
  it("has runnable programs", () => {
    expect(DOC_PROGRAMS.length).toBeGreaterThanOrEqual(8);
  });

  it.each(DOC_PROGRAMS.map(({ section, code }, i) => [i + 1, section, code]))(
    "program %i (%s) runs against the installed package",
    async (i, _section, code) => {
      const file = join(project, `doc-${i}.mjs`);
      await writeFile(file, code);
      await node(file, []);
    },
    120_000,
  );
});
