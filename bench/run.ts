/**
 * `npm run bench [-- --json FILE] [--only onion,directory,...]`: runs every benchmark suite
 * and prints one flat table (and JSON object) of figures named after figure and unit.
 * Benchmarks measure; they never assert (targets live in the issues and the README).
 */
import { writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { parseArgs } from "node:util";

type Suite = () => Promise<Record<string, number>>;

const suites: Record<string, () => Promise<Suite>> = {
  onion: async () => (await import("./onion.js")).benchOnion,
  directory: async () => (await import("./directory.js")).benchDirectory,
  relay: async () => (await import("./relay.js")).benchRelay,
  circuits: async () => (await import("./idle-circuits.js")).benchIdleCircuits,
  proxy: async () => (await import("./proxy.js")).benchProxy,
  library: async () => (await import("./library.js")).benchLibrary,
  network: async () => (await import("./network.js")).benchNetwork,
  "onion-service": async () => (await import("./onion-service.js")).benchOnionService,
  scale: async () => (await import("./scale.js")).benchScale,
};

const { values } = parseArgs({
  options: { json: { type: "string" }, only: { type: "string" } },
});
const selected = values.only?.split(",") ?? Object.keys(suites);
const figures: Record<string, number> = {};
for (const name of selected) {
  const load = suites[name];
  if (load === undefined) throw new Error(`unknown bench suite '${name}' (have: ${Object.keys(suites).join(", ")})`);
  process.stderr.write(`bench: ${name} …\n`);
  Object.assign(figures, await (await load())());
}

const width = Math.max(...Object.keys(figures).map((k) => k.length));
process.stdout.write(`MeowOnion benchmarks — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}\n`);
for (const [key, value] of Object.entries(figures)) {
  process.stdout.write(`${key.padEnd(width)}  ${value.toLocaleString("en-US")}\n`);
}
process.stdout.write(`${JSON.stringify(figures)}\n`);
if (values.json !== undefined) await writeFile(values.json, `${JSON.stringify(figures, null, 2)}\n`);
