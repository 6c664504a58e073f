/**
 * THE RULE of src/: layers, lowest first, each importing only from layers below it and from
 * its own folder:
 *
 *   onion ← common ← link ← netdoc ← edge ← { relay, proxy, directory } ← { network, library } ← cli
 *
 * The three roles sit side by side and never import each other, and so do the local network
 * and the library; the onion core imports no
 * module that does I/O. Tests (*.test.ts) are exempt: they may drive any layer. The import
 * scanner is the one that keeps conformance/ away from src/ (conformance/lib/isolation.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sourceImports } from "../conformance/lib/isolation.js";

const LAYERS: readonly (readonly string[])[] = [["onion"], ["common"], ["link"], ["netdoc"], ["edge"], ["relay", "proxy", "directory"], ["network", "library"], ["cli"]];
/** Node modules that do I/O: the onion core (codecs and crypto) must not need them. */
const IO_MODULES = ["net", "tls", "fs", "fs/promises", "http", "http2", "https", "dgram", "dns", "dns/promises", "child_process", "worker_threads"];

/** The layer of a path under src/: its folder, or "cli" for the files at the top (cli.ts, index.ts …). */
function layerOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? parts[1] : "cli";
}

function rank(layer: string): number {
  const i = LAYERS.findIndex((l) => l.includes(layer));
  if (i < 0) throw new Error(`src/${layer}/ is in no layer: add it to LAYERS`);
  return i;
}

/** Every import of a non-test file under `<root>/src` that breaks the rule. */
export function layeringViolations(repoRoot: string): string[] {
  const out: string[] = [];
  for (const { file, line, specifier, target } of sourceImports(join(repoRoot, "src"), repoRoot)) {
    if (/\.test\.tsx?$/.test(file)) continue;
    const from = layerOf(file);
    const where = `${file}:${line} ${specifier}`;
    if (target === undefined) {
      const bare = specifier.replace(/^node:/, "");
      if (from === "onion" && IO_MODULES.includes(bare)) out.push(`${where}: the onion core does no I/O`);
      continue;
    }
    if (target.startsWith("gen/")) continue;
    if (!target.startsWith("src/")) {
      out.push(`${where}: product code imports ${target}, outside src/ and gen/`);
      continue;
    }
    const to = layerOf(target);
    if (to === from) continue;
    if (rank(to) === rank(from)) out.push(`${where}: ${from} imports ${to} sideways (layers of one rank sit side by side)`);
    else if (rank(to) > rank(from)) out.push(`${where}: ${from} imports ${to}, a layer above it`);
  }
  return out;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

describe("src/ layering", () => {
  it("no product module imports upward or sideways between roles", () => {
    expect(layeringViolations(repoRoot)).toEqual([]);
  });

  it("the check catches an upward, a sideways and an I/O import", () => {
    const root = mkdtempSync(join(tmpdir(), "meowonion-layering-"));
    try {
      const plant = (path: string, text: string) => {
        mkdirSync(dirname(join(root, path)), { recursive: true });
        writeFileSync(join(root, path), text);
      };
      // Built by concatenation so that this file does not itself contain the imports it plants.
      const imp = "imp" + "ort";
      plant("src/link/bad.ts", `${imp} { x } from "../proxy/pool.js";\n${imp} { y } from "../onion/frame.js";\n`);
      plant("src/relay/bad.ts", `${imp} { z } from "../proxy/circuit.js";\n${imp} { w } from "../link/link.js";\n`);
      plant("src/onion/bad.ts", `${imp} net from "node:net";\n${imp} { createHash } from "node:crypto";\n`);
      plant("src/proxy/fine.test.ts", `${imp} { a } from "../relay/relay.js";\n`);
      const found = layeringViolations(root);
      expect(found).toEqual([
        expect.stringContaining("src/link/bad.ts:1 ../proxy/pool.js: link imports proxy, a layer above it"),
        expect.stringContaining("src/onion/bad.ts:1 node:net: the onion core does no I/O"),
        expect.stringContaining("src/relay/bad.ts:1 ../proxy/circuit.js: relay imports proxy sideways"),
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
