/**
 * Guards as Tor's guard-spec (proposal 271): sample, filtered set, confirmed order, primary
 * guards, retry schedules, waiting circuits, persisted across restarts while relays come and go.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayFlag, type ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { keyOf, relay } from "../../test/helpers/consensus-fixtures.js";
import { GUARD_FILE, GUARD_RETRY_MS, GuardStore, MIN_FILTERED_SAMPLE, N_PRIMARY_GUARDS, REMOVE_UNLISTED_AFTER_MS, parseGuardFile, retryDelayMs } from "./guards.js";

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");
const now = Date.parse("2030-01-01T00:00:00Z");
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const network = Array.from({ length: 30 }, (_, i) => relay({ id: i + 1 }));
const byKey = (relays: readonly ConsensusRelay[], key: string) => relays.find((r) => hex(r.identityKey) === key)!;
const fitsAll = () => true;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "meowonion-guards-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A circuit through `key` built successfully at `at` (a primary guard's is used at once). */
async function succeed(store: GuardStore, relays: readonly ConsensusRelay[], key: string, at: number): Promise<"use" | "abandon"> {
  const use = store.circuitStarted([byKey(relays, key)], fitsAll);
  return store.circuitSucceeded(use, at);
}

describe("guard sample and primary guards", () => {
  it("samples MIN_FILTERED_SAMPLE guard candidates (Guard-flagged ones when some exist) and makes N_PRIMARY_GUARDS of them primary", async () => {
    const store = await GuardStore.open(undefined, {});
    store.update(network, now);
    expect(store.list).toHaveLength(MIN_FILTERED_SAMPLE);
    expect(new Set(store.list.map((e) => e.identityKey)).size).toBe(MIN_FILTERED_SAMPLE);
    expect(store.primaryEntries()).toEqual(store.list.slice(0, N_PRIMARY_GUARDS));
    expect(store.primary(network, now).slice(0, 3).map(hex)).toEqual(store.list.slice(0, 3).map((e) => e.identityKey));

    const flagged = [relay({ id: 1 }), relay({ id: 2, flags: [RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.GUARD] })];
    const small = await GuardStore.open(undefined, {});
    small.update(flagged, now);
    expect(small.list.map((e) => e.nickname)).toEqual(["relay2"]);
  });

  it("confirmed guards come first among the primaries, in the order they were confirmed", async () => {
    const store = await GuardStore.open(undefined, { nonPrimaryWaitMs: 10 });
    store.update(network, now);
    const sample = store.list.map((e) => e.identityKey);
    // Guards 10 and 5 of the sample were confirmed (circuits through them worked), 10 first.
    expect(await succeed(store, network, sample[10], now)).toBe("use"); // waited 10 ms: no primary answered
    expect(await succeed(store, network, sample[5], now + 1)).toBe("use");
    expect(store.confirmed.map((e) => e.identityKey)).toEqual([sample[10], sample[5]]);
    expect(store.primaryEntries().map((e) => e.identityKey)).toEqual([sample[10], sample[5], sample[0]]);
  });

  it("retries unreachable guards on Tor's schedule, primaries sooner than others", async () => {
    expect(retryDelayMs(true, 0)).toBe(GUARD_RETRY_MS);
    expect(retryDelayMs(true, 7 * HOUR)).toBe(90 * 60_000);
    expect(retryDelayMs(true, 5 * DAY)).toBe(4 * HOUR);
    expect(retryDelayMs(true, 8 * DAY)).toBe(9 * HOUR);
    expect(retryDelayMs(false, 0)).toBe(HOUR);
    expect(retryDelayMs(false, 8 * DAY)).toBe(36 * HOUR);
    const store = await GuardStore.open(undefined, {});
    store.update(network, now);
    const [a, b, c] = store.primaryEntries().map((e) => e.identityKey);
    store.markUnreachable(Buffer.from(a, "hex"), now);
    // A primary known unreachable goes to the back until it is due for a retry.
    expect(store.primary(network, now + 1000).map(hex).slice(0, 2)).toEqual([b, c]);
    expect(store.primary(network, now + 1000).map(hex).indexOf(a)).toBeGreaterThan(2);
    expect(store.primary(network, now + GUARD_RETRY_MS).map(hex)[0]).toBe(a);
  });

  it("a circuit through a non-primary guard waits: used once the better primaries are down, abandoned if one answers", async () => {
    const store = await GuardStore.open(undefined, { nonPrimaryWaitMs: 60_000 });
    store.update(network, now);
    const [p1, p2, p3] = store.primaryEntries().map((e) => e.identityKey);
    const other = store.list[N_PRIMARY_GUARDS].identityKey;
    // Primaries fail one after another: the waiting circuit becomes usable after the last.
    let verdict: string | undefined;
    void succeed(store, network, other, now).then((v) => (verdict = v));
    store.markUnreachable(Buffer.from(p1, "hex"), now + 1);
    store.markUnreachable(Buffer.from(p2, "hex"), now + 2);
    await Promise.resolve();
    expect(verdict).toBeUndefined();
    store.markUnreachable(Buffer.from(p3, "hex"), now + 3);
    await new Promise((r) => setImmediate(r));
    expect(verdict).toBe("use");

    // Another waits while the primaries are due for a retry, and a primary answers: abandoned.
    const other2 = store.list[N_PRIMARY_GUARDS + 1].identityKey;
    const later = now + GUARD_RETRY_MS + 10;
    const waiting = succeed(store, network, other2, later);
    await succeed(store, network, p2, later + 1);
    expect(await waiting).toBe("abandon");
    // A primary whose relay conflicts with the circuit's path is no better: it is not waited for.
    // (The first waiting circuit was used, so its guard is confirmed and now a primary.)
    const primaries = store.primaryEntries().map((e) => e.identityKey);
    expect(primaries[0]).toBe(other);
    const use = store.circuitStarted([byKey(network, other2)], (r) => !primaries.includes(hex(r.identityKey)));
    expect(await store.circuitSucceeded(use, later + 2)).toBe("use");
  });
});

describe("guards across restarts of the proxy while relays come and go", () => {
  it("keeps the sample and the confirmed order on disk; an unlisted guard keeps its place until it is gone for 20 days", async () => {
    // First run: the consensus lists every relay; two guards are confirmed.
    const first = await GuardStore.open(dir, {});
    first.update(network, now);
    const sample = first.list.map((e) => e.identityKey);
    const [p1, p2, p3] = sample;
    await succeed(first, network, p2, now);
    await succeed(first, network, p1, now + 1);
    await first.flush();
    expect(await readdir(dir)).toEqual([GUARD_FILE]);
    expect(first.primaryEntries().map((e) => e.identityKey)).toEqual([p2, p1, p3]);

    // Second run, a day later: p2's relay left the network. It stays sampled (unlisted), and
    // the next filtered guard stands in as primary.
    const withoutP2 = network.filter((r) => hex(r.identityKey) !== p2);
    const second = await GuardStore.open(dir, {});
    expect(second.list.map((e) => e.identityKey)).toEqual(sample);
    expect(second.confirmed.map((e) => e.identityKey)).toEqual([p2, p1]);
    second.update(withoutP2, now + DAY);
    expect(second.list.find((e) => e.identityKey === p2)?.unlistedSince).toBe(new Date(now + DAY).toISOString());
    expect(second.primaryEntries().map((e) => e.identityKey)).toEqual([p1, p3, sample[3]]);
    expect(second.primary(withoutP2, now + DAY).map(hex)).not.toContain(p2);
    await second.flush();

    // Third run: p2 is back. Being confirmed first, it is the first primary guard again.
    const third = await GuardStore.open(dir, {});
    expect(third.list.find((e) => e.identityKey === p2)?.unlistedSince).toBe(new Date(now + DAY).toISOString());
    third.update(network, now + 2 * DAY);
    expect(third.list.find((e) => e.identityKey === p2)?.unlistedSince).toBeUndefined();
    expect(third.primaryEntries().map((e) => e.identityKey)).toEqual([p2, p1, p3]);
    expect(third.primary(network, now + 2 * DAY).map(hex)[0]).toBe(p2);
    await third.flush();

    // Fourth run: p1 left and stays away past REMOVE_UNLISTED_AFTER: forgotten, and a new guard
    // is sampled to keep MIN_FILTERED_SAMPLE listed.
    const withoutP1 = network.filter((r) => hex(r.identityKey) !== p1);
    const fourth = await GuardStore.open(dir, {});
    fourth.update(withoutP1, now + 3 * DAY);
    await fourth.flush();
    const fifth = await GuardStore.open(dir, {});
    fifth.update(withoutP1, now + 3 * DAY + REMOVE_UNLISTED_AFTER_MS);
    expect(fifth.list.map((e) => e.identityKey)).not.toContain(p1);
    expect(fifth.filtered(withoutP1)).toHaveLength(MIN_FILTERED_SAMPLE);
    expect(fifth.confirmed.map((e) => e.identityKey)).toEqual([p2]);
    expect(fifth.primaryEntries()[0].identityKey).toBe(p2);
    await fifth.flush();
    const file = parseGuardFile(await readFile(join(dir, GUARD_FILE), "utf8"))!;
    expect(file.map((e) => e.identityKey)).toEqual(fifth.list.map((e) => e.identityKey));
  });

  it("starts afresh from a malformed file, drops malformed entries and reads a version-1 file as confirmed guards", async () => {
    await writeFile(join(dir, GUARD_FILE), "{not json");
    const store = await GuardStore.open(dir, {});
    expect(store.list).toEqual([]);
    expect(parseGuardFile(JSON.stringify({ version: 3, sampled: [] }))).toBeUndefined();
    const good = { identityKey: hex(keyOf(1)), nickname: "relay1", addedAt: new Date(now).toISOString() };
    expect(parseGuardFile(JSON.stringify({ version: 2, sampled: [good, { identityKey: "zz" }, null, { ...good, addedAt: "x" }, good] }))).toEqual([good]);
    const old = { identityKey: hex(keyOf(2)), nickname: "relay2", addedAt: new Date(now).toISOString() };
    expect(parseGuardFile(JSON.stringify({ version: 1, guards: [old, good] }))).toEqual([
      { ...old, confirmedAt: old.addedAt, confirmedIdx: 0 },
      { ...good, confirmedAt: good.addedAt, confirmedIdx: 1 },
    ]);
  });

  it("works in memory without a data directory, and adopts a guard chosen outside the sample", async () => {
    const store = await GuardStore.open(undefined, {});
    const few = network.slice(0, 4);
    store.update(few, now);
    expect(store.list).toHaveLength(4);
    const outsider = network[10];
    store.adopt(outsider, now);
    store.adopt(outsider, now);
    expect(store.list).toHaveLength(5);
    await store.flush();
  });
});
