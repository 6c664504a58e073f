/**
 * Guards across restarts of the proxy while relays come and go (guard-spec, proposal 271): a
 * real authority with a short heartbeat timeout, in-process relays, and the proxy started
 * twice on one data directory.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CircuitState } from "../../gen/meowonion/v1/control_pb.js";
import { createDirectoryClient } from "../netdoc/directory-client.js";
import { waitForConsensus } from "../../test/helpers/directory.js";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, startInProcessNetwork, startTestRelay } from "../../test/helpers/in-process-network.js";
import { GUARD_FILE, parseGuardFile, type GuardEntry } from "./guards.js";
import { startProxy } from "./proxy.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

describe("guards across proxy restarts", () => {
  it("keeps the sample and the confirmed order; a guard that left stays sampled and first confirmed, a new relay is sampled", async () => {
    const network = await startInProcessNetwork({
      relays: ["A", "B", "C", "D", "E"].map((nickname) => ({ nickname, exitPolicy: LOCAL_EXIT_POLICY })),
      directory: { heartbeatTimeoutMs: 3_000 },
      relayHeartbeatSeconds: 0.5,
    });
    cleanups.add(() => network.close());
    const pins = [{ url: network.directory.url, key: network.directory.publicKey }];
    const readGuards = async (): Promise<GuardEntry[]> => parseGuardFile(await readFile(join(network.proxyDataDir, GUARD_FILE), "utf8"))!;
    const confirmedOrder = (entries: GuardEntry[]) => entries.filter((e) => e.confirmedIdx !== undefined).sort((a, b) => a.confirmedIdx! - b.confirmedIdx!).map((e) => e.identityKey);

    // First run: every relay is sampled (fewer than 20 exist); the guard of the first circuit is confirmed.
    await network.proxy.ready;
    const firstGuard = hex(network.proxy.pool.circuits().find((c) => c.state === CircuitState.OPEN)!.path[0].identityKey);
    await network.proxy.close();
    const before = await readGuards();
    expect(before.map((e) => e.identityKey).sort()).toEqual(network.relays.map((r) => hex(r.identityKey)).sort());
    expect(confirmedOrder(before)[0]).toBe(firstGuard);

    // While the proxy is down, the first guard's relay leaves and a new relay joins.
    const leaving = network.relays.find((r) => hex(r.identityKey) === firstGuard)!;
    await leaving.close();
    const joining = await startTestRelay(cleanups, { directories: pins, nickname: "F", exitPolicy: LOCAL_EXIT_POLICY, heartbeatSeconds: 0.5 });
    const client = createDirectoryClient(network.directory.url);
    cleanups.add(() => client.close());
    await waitForConsensus(client, [network.directory.publicKey], (c) => {
      const keys = c.relays.map((r) => hex(r.identityKey));
      return !keys.includes(firstGuard) && keys.includes(hex(joining.identityKey));
    }, 30_000);

    // Second run on the same data directory.
    const second = await startProxy({ directories: pins, socks: { host: "127.0.0.1", port: 0 }, dataDir: network.proxyDataDir, enforceDistinctSubnets: false });
    cleanups.add(() => second.close());
    await second.ready;
    const secondGuard = hex(second.pool.circuits().find((c) => c.state === CircuitState.OPEN)!.path[0].identityKey);
    expect(secondGuard).not.toBe(firstGuard);
    await second.close();
    const after = await readGuards();
    const left = after.find((e) => e.identityKey === firstGuard);
    // Unlisted, but kept in its place: it will be the first primary guard again if it returns.
    expect(left?.unlistedSince).toBeDefined();
    expect(after.map((e) => e.identityKey).slice(0, before.length)).toEqual(before.map((e) => e.identityKey));
    expect(after.map((e) => e.identityKey)).toContain(hex(joining.identityKey));
    expect(confirmedOrder(after)).toEqual([firstGuard, secondGuard]);
  });
});
