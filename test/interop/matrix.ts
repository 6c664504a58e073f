/**
 * The interop matrix (npm run interop): client × relays, TypeScript or Python, in one mixed
 * network. Each cell fetches the same bytes over a 3-hop circuit through exactly the relays of
 * its row and checks their SHA-256; the table says which cells passed, how long they took.
 *
 *   TS client     = MeowOnion's proxy, driven by curl --socks5-hostname (ControlService path)
 *   Python client = interop/python `fetch` with an explicit path
 */
import { killAll } from "../helpers/procs.js";
import { curlThroughPath, startInteropNetwork, type InteropNetwork } from "./network.js";
import { pythonFetch, pythonUnavailable } from "./python.js";

const BYTES = Number(process.env.INTEROP_BYTES ?? 5 * 1024 * 1024);
const TS_PATH = ["TsGuard", "TsMiddle", "TsExit"];
const PY_PATH = ["PyGuard", "PyMiddle", "PyExit"];

interface Cell {
  client: "TypeScript" | "Python";
  relays: "TypeScript" | "Python";
  path: string[];
}

export const CELLS: Cell[] = [
  { client: "TypeScript", relays: "TypeScript", path: TS_PATH },
  { client: "TypeScript", relays: "Python", path: PY_PATH },
  { client: "Python", relays: "TypeScript", path: TS_PATH },
  { client: "Python", relays: "Python", path: PY_PATH },
];

export interface CellResult extends Cell {
  ok: boolean;
  seconds: number;
  detail: string;
}

export function startMatrixNetwork(): Promise<InteropNetwork> {
  return startInteropNetwork({
    ts: [{ nickname: "TsGuard" }, { nickname: "TsMiddle" }, { nickname: "TsExit", exit: true }],
    py: [{ nickname: "PyGuard" }, { nickname: "PyMiddle" }, { nickname: "PyExit", exit: true }],
    proxy: true,
  });
}

export async function runCell(net: InteropNetwork, cell: Cell, bytes: number): Promise<CellResult> {
  const start = Date.now();
  const expected = net.dest.sha256(bytes);
  try {
    const sha256 =
      cell.client === "TypeScript"
        ? await curlThroughPath(net, cell.path, bytes)
        : (await pythonFetch(net.dir, net.dest.url(bytes), { path: cell.path.map((n) => net.identity(n)) })).sha256;
    const ok = sha256 === expected;
    return { ...cell, ok, seconds: (Date.now() - start) / 1000, detail: ok ? "SHA-256 matches" : `SHA-256 ${sha256.slice(0, 16)}… expected ${expected.slice(0, 16)}…` };
  } catch (error) {
    return { ...cell, ok: false, seconds: (Date.now() - start) / 1000, detail: (error as Error).message.split("\n")[0] };
  }
}

export function matrixTable(results: CellResult[], bytes: number): string {
  const rows = [["client", "relays", "path", "result", "time", "MB/s", ""]];
  for (const r of results) {
    rows.push([r.client, r.relays, r.path.join("→"), r.ok ? "PASS" : "FAIL", `${r.seconds.toFixed(1)} s`, r.ok ? (bytes / 1e6 / r.seconds).toFixed(1) : "-", r.detail]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

async function main(): Promise<void> {
  const why = pythonUnavailable();
  if (why) throw new Error(why);
  const net = await startMatrixNetwork();
  const results: CellResult[] = [];
  try {
    for (const cell of CELLS) results.push(await runCell(net, cell, BYTES));
  } finally {
    await net.stop();
  }
  process.stdout.write(`interop matrix: ${(BYTES / 1024 / 1024).toFixed(0)} MiB per cell over 3 hops, SHA-256 checked\n\n${matrixTable(results, BYTES)}\n\n`);
  const passed = results.filter((r) => r.ok).length;
  process.stdout.write(`interop matrix: ${passed} of ${results.length} cells passed\n`);
  process.exitCode = passed === results.length ? 0 : 1;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  try {
    await main();
  } catch (error) {
    process.stderr.write(`interop: ${(error as Error).stack ?? error}\n`);
    process.exitCode = 1;
  } finally {
    await killAll();
  }
}
