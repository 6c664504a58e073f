/**
 * THE RULE of this folder: code under conformance/ imports only gen/ (the spec), @bufbuild/protobuf,
 * @connectrpc/*, node built-ins, the vectors and itself — never src/ (the implementation under test).
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

export interface Violation {
  file: string;
  line: number;
  specifier: string;
  why: string;
}

const IMPORT_RES = [
  // import … from …, export … from … (statements may span lines)
  /^\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gm,
  // side-effect imports
  /^\s*import\s+["']([^"']+)["']/gm,
  // dynamic import(…) and require(…) calls
  /(?<![\w$.])(?:import|require)\s*\(\s*["']([^"']+)["']\s*\)/g,
];

function allowedPackage(spec: string, file: string): boolean {
  if (spec.startsWith("node:") || builtinModules.includes(spec)) return true;
  if (spec === "@bufbuild/protobuf" || spec.startsWith("@bufbuild/protobuf/")) return true;
  if (spec.startsWith("@connectrpc/")) return true;
  // The vitest wrapper and the isolation test themselves need the test runner.
  if (spec === "vitest" && /\.test\.[cm]?[tj]s$/.test(file)) return true;
  return false;
}

/** Every import in every source file under `conformanceDir` that breaks the rule. */
export function findViolations(conformanceDir: string, repoRoot = resolve(conformanceDir, "..")): Violation[] {
  const out: Violation[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(c|m)?(t|j)sx?$/.test(name)) check(p);
    }
  };
  const check = (file: string) => {
    const text = readFileSync(file, "utf8");
    const rel = relative(repoRoot, file);
    for (const m of IMPORT_RES.flatMap((re) => [...text.matchAll(re)])) {
      const spec = m[1];
      const line = text.slice(0, m.index).split("\n").length;
      if (spec.startsWith(".") || spec.startsWith("/")) {
        const target = resolve(dirname(file), spec);
        const r = relative(repoRoot, target);
        if (r.startsWith("src/") || r === "src") out.push({ file: rel, line, specifier: spec, why: "imports the implementation under test (src/)" });
        else if (!(r.startsWith("conformance/") || r.startsWith("gen/"))) out.push({ file: rel, line, specifier: spec, why: `imports ${r}, outside conformance/ and gen/` });
      } else if (!allowedPackage(spec, file)) {
        out.push({ file: rel, line, specifier: spec, why: "package not allowed in conformance/ (only @bufbuild/protobuf, @connectrpc/*, node built-ins)" });
      }
    }
  };
  walk(conformanceDir);
  return out;
}
