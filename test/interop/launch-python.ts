/**
 * The --launch command for running the conformance suite against the Python relay
 * (interop/python): MeowOnion's directory authority and three Python relays (an exit first,
 * a non-exit, another exit), announced in the runner's line format. Stops everything on
 * SIGTERM/SIGINT.
 *
 *   npm run conformance -- --launch 'node --import tsx test/interop/launch-python.ts' \
 *     --features conformance/features/python.json --known-failures conformance/known-failures/python.txt
 */
import { removeTempDirs } from "../helpers/procs.js";
import { startDirectoryNode, waitForConsensus } from "../helpers/network.js";
import { LOOPBACK_EXITS } from "./network.js";
import { pythonUnavailable, startPythonRelay } from "./python.js";

const why = pythonUnavailable();
if (why) {
  process.stderr.write(`launch-python: ${why}\n`);
  process.exit(2);
}
const dir = await startDirectoryNode({ host: "127.0.0.1" }, { intervalS: 2, heartbeatTimeoutS: 20 });
const relays = await Promise.all([
  startPythonRelay(dir, { nickname: "PyExitA", exitPolicy: LOOPBACK_EXITS }),
  startPythonRelay(dir, { nickname: "PyMiddle" }),
  startPythonRelay(dir, { nickname: "PyExitB", exitPolicy: LOOPBACK_EXITS }),
]);
await waitForConsensus(dir, relays.map((r) => r.identity));
process.stdout.write(`conformance directory url=${dir.url} key=${dir.key}\n`);
for (const r of relays) process.stdout.write(`conformance relay addr=${r.or} identity=${r.identity} nickname=${r.nickname}\n`);
process.stdout.write("conformance ready\n");

const stop = async () => {
  await Promise.all([dir.proc, ...relays.map((r) => r.proc)].map((p) => p.stop()));
  await removeTempDirs();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
