/**
 * Re-extending after TRUNCATED in the pool: a relay the consensus still lists has died; circuits
 * that chose it as middle or exit are extended to a substitute instead of failing.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Cleanups } from "../../test/helpers/cleanups.js";
import { LOCAL_EXIT_POLICY, startInProcessNetwork } from "../../test/helpers/in-process-network.js";
import { GUARD_FILE, N_PRIMARY_GUARDS, parseGuardFile } from "./guards.js";

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

describe("re-extend after TRUNCATED", () => {
  it("circuits through a dead middle or exit still listed in the consensus are built through a substitute", async () => {
    const network = await startInProcessNetwork({
      relays: ["A", "B", "C", "D", "E", "F"].map((nickname) => ({ nickname, exitPolicy: LOCAL_EXIT_POLICY })),
      proxy: { circuits: { preemptiveCircuits: 0 } },
    });
    cleanups.add(() => network.close());
    const pool = network.proxy.pool;
    while (pool.status().relaysKnown === 0) await new Promise((resolve) => pool.once("status", resolve));
    await pool.buildCircuit();
    // The primary guards (confirmed first, then sample order): the dead relay is none of them,
    // so every build starts at a live guard and meets the dead relay only further on.
    const guards = await vi.waitFor(async () => {
      const entries = parseGuardFile(await readFile(join(network.proxyDataDir, GUARD_FILE), "utf8"))!;
      expect(entries.some((e) => e.confirmedIdx !== undefined)).toBe(true);
      return entries;
    });
    const primary = [...guards.filter((e) => e.confirmedIdx !== undefined).sort((a, b) => a.confirmedIdx! - b.confirmedIdx!), ...guards.filter((e) => e.confirmedIdx === undefined)]
      .slice(0, N_PRIMARY_GUARDS)
      .map((e) => e.identityKey);
    const dead = network.relays.find((r) => !primary.includes(hex(r.identityKey)))!;
    await dead.close();

    // Each circuit has two of the five other positions' worth of chances to pick the dead relay:
    // over 8 builds it is all but certainly picked, and no build may fail because of it.
    const built = [];
    for (let i = 0; i < 8; i++) built.push(await pool.buildCircuit());
    for (const info of built) expect(info.path.map((h) => hex(h.identityKey))).not.toContain(hex(dead.identityKey));
  });
});
