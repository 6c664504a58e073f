/**
 * The Python implementation (interop/python) against ours: its unit tests on the conformance
 * vectors, and a mixed network (MeowOnion's authority, proxy and relays with Python relays)
 * where curl fetches 20 MB through a Python middle and through a Python exit, and the Python
 * client fetches through TypeScript relays. Skipped with the reason when Python's packages are
 * missing, except in CI, where scripts/ensure-python-deps.sh installed them.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killAll } from "../helpers/procs.js";
import { curlThroughPath, startInteropNetwork, type InteropNetwork } from "./network.js";
import { PYTHON_DIR, pythonFetch, pythonUnavailable } from "./python.js";

const BYTES = 20 * 1024 * 1024;
const unavailable = pythonUnavailable();
if (unavailable && process.env.CI) throw new Error(unavailable);

describe.skipIf(unavailable !== undefined)(`Python implementation${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  it("passes its unit tests (Tor's vectors, the suite's vectors)", () => {
    const run = spawnSync("/usr/bin/python3", ["-m", "unittest", "discover", "-s", "tests", "-t", "."], { cwd: PYTHON_DIR, encoding: "utf8", env: { ...process.env, PYTHONPATH: PYTHON_DIR } });
    expect(run.stderr).toMatch(/^Ran \d+ tests/m);
    expect(run.status, run.stderr).toBe(0);
  });

  describe("in a mixed network", () => {
    let net: InteropNetwork;

    beforeAll(async () => {
      net = await startInteropNetwork({
        ts: [{ nickname: "TsGuard" }, { nickname: "TsMiddle" }, { nickname: "TsExit", exit: true }],
        py: [{ nickname: "PyMiddle" }, { nickname: "PyExit", exit: true }],
        proxy: true,
      });
    }, 90_000);

    afterAll(async () => {
      await net?.stop();
      await killAll();
    });

    it("curl fetches 20 MB through a Python middle relay", async () => {
      expect(await curlThroughPath(net, ["TsGuard", "PyMiddle", "TsExit"], BYTES)).toBe(net.dest.sha256(BYTES));
    }, 120_000);

    it("curl fetches 20 MB through a Python exit relay", async () => {
      expect(await curlThroughPath(net, ["TsGuard", "TsMiddle", "PyExit"], BYTES)).toBe(net.dest.sha256(BYTES));
    }, 120_000);

    it("the Python client fetches 20 MB through TypeScript relays", async () => {
      const got = await pythonFetch(net.dir, net.dest.url(BYTES), { path: ["TsGuard", "TsMiddle", "TsExit"].map((n) => net.identity(n)) });
      expect(got.sha256).toBe(net.dest.sha256(BYTES));
    }, 120_000);

    it("relays of both implementations close a link on a protocol error with TLS close_notify", () => {
      for (const relay of [...net.ts, ...net.py]) {
        const run = spawnSync("/usr/bin/python3", ["close_notify_probe.py", relay.or], { cwd: path.dirname(fileURLToPath(import.meta.url)), encoding: "utf8", timeout: 20_000 });
        expect(`${relay.nickname}: ${run.stdout.trim()}`, run.stderr).toBe(`${relay.nickname}: close_notify`);
      }
    });

    it("the Python client chooses its own path in the mixed consensus", async () => {
      const got = await pythonFetch(net.dir, net.dest.url(100_000));
      expect(got.sha256).toBe(net.dest.sha256(100_000));
      expect(got.path.split(",")).toHaveLength(3);
    }, 60_000);
  });
});
