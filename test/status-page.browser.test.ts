/**
 * The directory authority's status page in a real headless Chromium (Debian's, driven by
 * playwright-core): against a started network, and against a crafted consensus the authority
 * itself would refuse (HTML in relay-controlled strings).
 *
 * The first test writes a screenshot. It goes to a temporary file that teardown removes, so a
 * test run changes nothing in the checkout; MEOWONION_UPDATE_SCREENSHOT=1 writes it over the
 * one the docs show instead (docs/images/status-page.png):
 *   MEOWONION_UPDATE_SCREENSHOT=1 npx vitest run test/status-page.browser.test.ts
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { ConsensusSchema, RelayFlag, SignedConsensusSchema, VoteSchema } from "../gen/meowonion/v1/consensus_pb.js";
import { ExitAction, RelayDescriptorSchema } from "../gen/meowonion/v1/descriptor_pb.js";
import { DirectoryService, file_meowonion_v1_directory } from "../gen/meowonion/v1/directory_pb.js";
import { startRpcServer } from "../src/common/rpc-server.js";
import { loadStatusPage, statusPageHandler } from "../src/directory/status-page.js";
import { hex } from "../src/netdoc/descriptor.js";
import { fetchConsensus } from "../src/netdoc/directory-client.js";
import { fingerprintHex } from "../src/onion/keys.js";
import { DOMAIN_CONSENSUS, generateEd25519KeyPair, signWithDomain } from "../src/onion/signing.js";
import { chromiumMissing, launchChromium } from "./helpers/chromium.js";
import { Cleanups, tempDir } from "./helpers/cleanups.js";
import { consensusTargets, LOCAL_EXIT_POLICY, startTestDirectory, startTestRelay } from "./helpers/in-process-network.js";

const DOCS_SCREENSHOT = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "images", "status-page.png");
const skip = chromiumMissing();

interface ShownRelay {
  id: string;
  nickname: string;
  fingerprint: string;
  address: string;
  flags: string[];
  exit: string;
}

/** The relay table as the page shows it, read from the DOM (cells by their column label). */
function shownRelays(page: Page): Promise<ShownRelay[]> {
  return page.$$eval("#relays tbody tr", (rows) =>
    rows.map((row) => {
      const cell = (label: string) => row.querySelector(`td[data-label="${label}"]`);
      return {
        id: row.getAttribute("data-id") ?? "",
        nickname: cell("Nickname")?.textContent ?? "",
        fingerprint: cell("Fingerprint")?.textContent ?? "",
        address: cell("Address")?.textContent ?? "",
        flags: [...(cell("Flags")?.querySelectorAll(".flag") ?? [])].map((f) => f.textContent ?? ""),
        exit: cell("Exit policy")?.textContent ?? "",
      };
    }),
  );
}

/** Opens a relay's detail dialog from its nickname in the table. */
async function openDetail(page: Page, nickname: string): Promise<void> {
  await page.locator("#relays tbody button.link", { hasText: nickname }).click();
  await page.locator("#detail[open]").waitFor();
}

/** "RELAY_FLAG_BAD_EXIT" and "BadExit" both become "badexit". */
const flagKey = (name: string) => name.replace(/_/g, "").toLowerCase();

/** Every request the page makes, and every console error or uncaught exception (CSP violations are console errors). */
function watch(page: Page): { requests: string[]; problems: string[] } {
  const seen = { requests: [] as string[], problems: [] as string[] };
  page.on("request", (request) => seen.requests.push(request.url()));
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") seen.problems.push(message.text());
  });
  page.on("pageerror", (error) => seen.problems.push(error.message));
  return seen;
}

describe.skipIf(skip !== undefined)(`status page in Chromium${skip === undefined ? "" : ` (skipped: ${skip})`}`, () => {
  const cleanups = new Cleanups();
  afterEach(() => cleanups.run());

  it("lists every relay with its consensus flags, filters and sorts, shows exit policies, drops a stopped relay live, and stays on its origin", async () => {
    const { server: directory } = await startTestDirectory(cleanups);
    const pins = [{ url: directory.url, key: directory.publicKey }];
    const relays = [];
    for (const [nickname, exitPolicy] of [["Whiskers", LOCAL_EXIT_POLICY], ["Mittens", LOCAL_EXIT_POLICY], ["Tabby", undefined], ["Felix", undefined]]) {
      relays.push(await startTestRelay(cleanups, { directories: pins, nickname, exitPolicy }));
    }
    await consensusTargets(directory, relays);

    const page = await (await launchChromium(cleanups)).newPage();
    const seen = watch(page);
    await page.goto(`${directory.url}/`);
    await page.waitForFunction((n) => document.querySelectorAll("#relays tbody tr").length === n, relays.length);

    // Every relay, as the consensus lists it.
    const { consensus } = await fetchConsensus([directory.url], [directory.publicKey]);
    const shown = new Map((await shownRelays(page)).map((r) => [r.id, r]));
    for (const relay of relays) {
      const row = shown.get(hex(relay.identityKey));
      const entry = consensus.relays.find((e) => hex(e.identityKey) === hex(relay.identityKey));
      expect(row, relay.nickname).toBeDefined();
      expect(row!.nickname).toBe(relay.nickname);
      expect(row!.fingerprint).toBe(fingerprintHex(relay.identityKey).slice(0, 16));
      expect(row!.address).toBe(`127.0.0.1:${relay.port}`);
      expect(row!.flags.map(flagKey)).toEqual(entry!.flags.map((f) => flagKey(RelayFlag[f])));
      expect(row!.flags.includes("Exit"), relay.nickname).toBe(relay.exitPolicy.rules.some((r) => r.action === ExitAction.ACCEPT));
    }
    expect(shown.get(hex(relays[0].identityKey))!.exit).toBe("accept 127.0.0.0/8:*");
    expect(shown.get(hex(relays[2].identityKey))!.exit).toBe("no exit");
    expect(await page.locator("#consensus-facts").textContent()).toContain("4 listed: 2 Exit");
    expect(await page.locator("#signatures tbody td").last().textContent()).toBe("signed, valid");

    // Filtering and sorting.
    const names = async () => (await shownRelays(page)).map((r) => r.nickname);
    await page.selectOption("#flag-filter", "Exit");
    expect(await names()).toEqual(["Mittens", "Whiskers"]);
    await page.selectOption("#flag-filter", "");
    await page.fill("#filter", "TABBY");
    expect(await names()).toEqual(["Tabby"]);
    await page.fill("#filter", "");
    await page.locator("#relays th button", { hasText: "Nickname" }).click();
    expect(await names()).toEqual(["Whiskers", "Tabby", "Mittens", "Felix"]);
    await page.locator("#relays th button", { hasText: "Nickname" }).click();
    expect(await names()).toEqual(["Felix", "Mittens", "Tabby", "Whiskers"]);

    // The detail view: the whole exit policy, in order.
    await openDetail(page, "Whiskers");
    expect(await page.locator("#detail .policy li").allTextContents()).toEqual(LOCAL_EXIT_POLICY.split(","));
    await page.locator("#detail-close").click();

    // Stopping a relay: it leaves the page when a consensus drops it, with no reload (the
    // marker set in this document survives), and its open detail view says so.
    const felix = relays[3];
    await openDetail(page, "Felix");
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await felix.close();
    await page.waitForFunction(
      (id) => !document.querySelector(`#relays tbody tr[data-id="${id}"]`) && document.querySelectorAll("#relays tbody tr").length === 3,
      hex(felix.identityKey),
      { timeout: 30_000 },
    );
    expect(await page.locator("#detail-title").textContent()).toBe("Relay not listed");
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    const after = await fetchConsensus([directory.url], [directory.publicKey]);
    expect(after.consensus.relays.map((e) => hex(e.identityKey))).not.toContain(hex(felix.identityKey));
    await page.locator("#detail-close").click();

    // A narrow window: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 380, height: 800 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(380);
    await page.setViewportSize({ width: 1280, height: 900 });

    const path = process.env.MEOWONION_UPDATE_SCREENSHOT === "1" ? DOCS_SCREENSHOT : join(await tempDir(cleanups, "meowonion-screenshot-"), "status-page.png");
    await page.screenshot({ path, fullPage: true });
    expect((await readFile(path)).subarray(1, 4).toString("latin1")).toBe("PNG");

    const origin = new URL(directory.url).origin;
    expect(seen.requests.length).toBeGreaterThan(0);
    expect(seen.requests.filter((url) => new URL(url).origin !== origin)).toEqual([]);
    expect(seen.problems).toEqual([]);
  });

  it("escapes every relay-controlled string: a crafted consensus with HTML in them renders as text", async () => {
    // The authority refuses such a descriptor (nickname, address, policy), so a stand-in
    // DirectoryService serves a consensus and vote made by hand, with the real page.
    const markup = {
      nickname: `<img src=x onerror="window.pwned=1">`,
      address: "<b>127.0.0.1</b>",
      prefix: "<i>*</i>",
      software: "<script>window.pwned=2</script>",
    };
    const authority = generateEd25519KeyPair();
    const identityKey = generateEd25519KeyPair().publicKey;
    const validAfterMs = Math.floor(Date.now() / 60_000) * 60_000;
    const exitPolicy = { rules: [{ action: ExitAction.ACCEPT, addressPrefix: markup.prefix, portMin: 1, portMax: 65535 }] };
    const consensusBytes = toBinary(
      ConsensusSchema,
      create(ConsensusSchema, {
        validAfter: timestampFromMs(validAfterMs),
        freshUntil: timestampFromMs(validAfterMs + 60_000),
        validUntil: timestampFromMs(validAfterMs + 180_000),
        relays: [
          {
            nickname: markup.nickname,
            identityKey,
            ntorOnionKey: new Uint8Array(32),
            ipv4Address: markup.address,
            orPort: 9001,
            flags: [RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.EXIT],
            bandwidthWeight: 1_000n,
            exitPolicy,
            descriptorDigest: new Uint8Array(32),
          },
        ],
        authorityKeys: [authority.publicKey],
        totals: { total: 1_000n, exit: 1_000n },
      }),
    );
    const signed = create(SignedConsensusSchema, {
      consensus: consensusBytes,
      signatures: [{ authorityKey: authority.publicKey, signature: signWithDomain(DOMAIN_CONSENSUS, consensusBytes, authority.privateKey) }],
    });
    const descriptor = create(RelayDescriptorSchema, {
      nickname: markup.nickname,
      identityKey,
      ipv4Address: markup.address,
      orPort: 9001,
      exitPolicy,
      bandwidth: { averageBytesPerSecond: 1_000n },
      softwareVersion: markup.software,
    });
    const vote = create(VoteSchema, {
      validAfter: timestampFromMs(validAfterMs),
      authorityKey: authority.publicKey,
      relays: [{ descriptor: { descriptor: toBinary(RelayDescriptorSchema, descriptor), signature: new Uint8Array(64) }, running: true, uptimeSeconds: 42n }],
    });
    const server = await startRpcServer({
      host: "127.0.0.1",
      port: 0,
      files: [file_meowonion_v1_directory],
      register: (router) =>
        router.service(DirectoryService, {
          async *watchConsensus(_req, ctx) {
            yield { consensus: signed };
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          },
          getVote: () => ({ vote: { vote: toBinary(VoteSchema, vote), signature: new Uint8Array(64) } }),
        }),
      fallback: statusPageHandler(await loadStatusPage()),
    });
    cleanups.add(() => server.close());

    const page = await (await launchChromium(cleanups)).newPage();
    const seen = watch(page);
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => document.querySelectorAll("#relays tbody tr").length === 1);
    const [row] = await shownRelays(page);
    expect(row.nickname).toBe(markup.nickname);
    expect(row.address).toBe(`${markup.address}:9001`);
    expect(row.exit).toBe(`accept ${markup.prefix}:*`);

    await openDetail(page, markup.nickname);
    expect(await page.locator("#detail-title").textContent()).toBe(markup.nickname);
    expect(await page.locator("#detail .facts").textContent()).toContain(markup.software);
    expect(await page.locator("#detail .policy li").allTextContents()).toEqual([`accept ${markup.prefix}:*`]);

    // Not one element made from those strings, and nothing ran.
    expect(await page.evaluate(() => document.querySelectorAll("body img, body b, body i, body script").length)).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(seen.problems).toEqual([]);
  });
});
