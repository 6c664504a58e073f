import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RelayFlag } from "../../gen/meowonion/v1/consensus_pb.js";
import { keyOf, relay } from "../../test/helpers/consensus-fixtures.js";
import { GUARD_FILE, GUARD_RETRY_MS, GuardStore, parseGuardFile, primaryGuards, refreshGuards } from "./guards.js";
import { guardCandidates } from "./path.js";

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");
const now = Date.parse("2030-01-01T00:00:00Z");
const network = Array.from({ length: 8 }, (_, i) => relay({ id: i + 1 }));

describe("refreshGuards", () => {
  it("tops the set up to the target with distinct guard candidates and keeps existing ones", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 1_000_000 }), (target, seed) => {
        let s = seed;
        const random = () => ((s = (s * 16807) % 2147483647) || 1) / 2147483647;
        const first = refreshGuards([], network, { target, now, enforceDistinctSubnets: true, random });
        expect(first).toHaveLength(target);
        expect(new Set(first.map((e) => e.identityKey)).size).toBe(target);
        const again = refreshGuards(first, network, { target, now, enforceDistinctSubnets: true, random });
        expect(again).toEqual(first);
      }),
    );
  });

  it("only samples Guard-flagged relays when some exist", () => {
    const relays = [relay({ id: 1 }), relay({ id: 2, flags: [RelayFlag.RUNNING, RelayFlag.VALID, RelayFlag.GUARD] })];
    const entries = refreshGuards([], relays, { target: 3, now, enforceDistinctSubnets: true });
    expect(entries.map((e) => e.nickname)).toEqual(["relay2"]);
    expect(guardCandidates(relays)).toHaveLength(1);
  });

  it("adds a replacement while a guard is unlisted, and drops expired guards", () => {
    const entries = refreshGuards([], network.slice(0, 2), { target: 2, now, enforceDistinctSubnets: true });
    const without = network.filter((r) => hex(r.identityKey) !== entries[0].identityKey);
    const next = refreshGuards(entries, without, { target: 2, now, enforceDistinctSubnets: true });
    expect(next).toHaveLength(3);
    expect(next.slice(0, 2)).toEqual(entries);
    const later = now + 121 * 24 * 3600 * 1000;
    const expired = refreshGuards(next, network, { target: 1, now: later, enforceDistinctSubnets: true });
    expect(expired).toHaveLength(1);
    expect(expired[0].addedAt).toBe(new Date(later).toISOString()); // all old ones dropped, one chosen afresh
  });

  it("orders primary guards, skipping ones waiting for a retry unless all wait", () => {
    const entries = [1, 2, 3].map((id) => ({ identityKey: hex(keyOf(id)), nickname: `relay${id}`, addedAt: new Date(now).toISOString() }));
    expect(primaryGuards(entries, network, now).map(hex)).toEqual([1, 2, 3].map((id) => hex(keyOf(id))));
    const waiting = entries.map((e, i) => (i < 2 ? { ...e, retryAfter: new Date(now + 1000).toISOString() } : e));
    expect(primaryGuards(waiting, network, now).map(hex)).toEqual([hex(keyOf(3))]);
    expect(primaryGuards(waiting, network, now + 1000)).toHaveLength(3);
    const allWaiting = entries.map((e) => ({ ...e, retryAfter: new Date(now + 1000).toISOString() }));
    expect(primaryGuards(allWaiting, network, now)).toHaveLength(3);
    expect(primaryGuards(entries, network.slice(1), now).map(hex)).toEqual([2, 3].map((id) => hex(keyOf(id))));
  });
});

describe("GuardStore persistence", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "meowonion-guards-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps the same guards across restarts, written atomically", async () => {
    const store = await GuardStore.open(dir, { enforceDistinctSubnets: true });
    store.update(network, now);
    const chosen = store.list.map((e) => e.identityKey);
    expect(chosen).toHaveLength(3);
    store.markUnreachable(Buffer.from(chosen[0], "hex"), now);
    await store.flush();
    expect(await readdir(dir)).toEqual([GUARD_FILE]);

    const reopened = await GuardStore.open(dir, { enforceDistinctSubnets: true });
    expect(reopened.list.map((e) => e.identityKey)).toEqual(chosen);
    expect(reopened.primary(network, now).map(hex)).toEqual(chosen.slice(1));
    expect(reopened.primary(network, now + GUARD_RETRY_MS).map(hex)).toEqual(chosen);
    reopened.markReachable(Buffer.from(chosen[0], "hex"));
    reopened.update(network, now);
    await reopened.flush();
    const file = parseGuardFile(await readFile(join(dir, GUARD_FILE), "utf8"));
    expect(file?.map((e) => e.identityKey)).toEqual(chosen);
    expect(file?.[0].retryAfter).toBeUndefined();
  });

  it("starts afresh from a malformed file and drops malformed entries", async () => {
    await writeFile(join(dir, GUARD_FILE), "{not json");
    const store = await GuardStore.open(dir, { enforceDistinctSubnets: true });
    expect(store.list).toEqual([]);
    expect(parseGuardFile(JSON.stringify({ version: 2, guards: [] }))).toBeUndefined();
    const good = { identityKey: hex(keyOf(1)), nickname: "relay1", addedAt: new Date(now).toISOString() };
    expect(parseGuardFile(JSON.stringify({ version: 1, guards: [good, { identityKey: "zz" }, null, { ...good, addedAt: "x" }] }))).toEqual([good]);
  });

  it("works in memory without a data directory", async () => {
    const store = await GuardStore.open(undefined, { target: 2, enforceDistinctSubnets: true });
    store.update(network, now);
    expect(store.list).toHaveLength(2);
    // The two guards are chosen at random: adopt a relay that is not one of them.
    const outsider = network.find((r) => !store.list.some((e) => e.identityKey === hex(r.identityKey)))!;
    store.adopt(outsider, now);
    store.adopt(outsider, now);
    expect(store.list).toHaveLength(3);
    await store.flush();
  });
});
