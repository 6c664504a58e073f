/**
 * Bundles the directory authority's status page (web/status/) into dist/status-page/, where
 * the authority serves it from (src/directory/status-page.ts): index.html, which names the
 * assets, and the assets under content-hashed names (app-HASH.js, style-HASH.css, source
 * maps), so that they can be cached as immutable. Part of `npm run build`; vitest's global
 * setup runs it too, so tests always serve the current source.
 *
 *   node --import tsx scripts/build-status-page.ts
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { STATUS_PAGE_DIR, STATUS_PAGE_INDEX } from "../src/directory/status-page.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = join(ROOT, "web", "status");

export async function buildStatusPage(outDir = STATUS_PAGE_DIR): Promise<void> {
  // Built aside and moved in whole: a server starting meanwhile never reads half a page.
  const staging = `${outDir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { app: join(SOURCE, "main.ts"), style: join(SOURCE, "style.css") },
      outdir: staging,
      entryNames: "[name]-[hash]",
      bundle: true,
      format: "esm",
      platform: "browser",
      // BigInt (protobuf 64-bit fields), fetch streams (WatchConsensus), <dialog>.
      target: ["chrome111", "firefox115", "safari16.4"],
      minify: true,
      sourcemap: "linked",
      metafile: true,
      logLevel: "warning",
    });
    const output = (entry: string) => {
      const found = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint?.endsWith(entry));
      if (found === undefined) throw new Error(`esbuild produced no output for ${entry}`);
      return basename(found[0]);
    };
    const template = await readFile(join(SOURCE, STATUS_PAGE_INDEX), "utf8");
    if (!template.includes("%SCRIPT%") || !template.includes("%STYLE%")) throw new Error("web/status/index.html lost its %SCRIPT% or %STYLE% placeholder");
    await writeFile(join(staging, STATUS_PAGE_INDEX), template.replace("%SCRIPT%", output("main.ts")).replace("%STYLE%", output("style.css")));
    await rm(outDir, { recursive: true, force: true });
    await rename(staging, outDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildStatusPage();
}
