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

/** One import statement (or dynamic import / require) in a source file. */
export interface SourceImport {
  /** The importing file, relative to the repository root. */
  file: string;
  line: number;
  specifier: string;
  /** For a relative specifier: the imported path, relative to the repository root. */
  target: string | undefined;
}

/** Every import in every source file under `dir` (node_modules and dot-folders skipped). */
export function sourceImports(dir: string, repoRoot: string): SourceImport[] {
  const out: SourceImport[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(c|m)?(t|j)sx?$/.test(name)) scan(p);
    }
  };
  const scan = (file: string) => {
    const text = readFileSync(file, "utf8");
    for (const m of IMPORT_RES.flatMap((re) => [...text.matchAll(re)])) {
      const specifier = m[1];
      const relative_ = specifier.startsWith(".") || specifier.startsWith("/");
      out.push({
        file: relative(repoRoot, file),
        line: text.slice(0, m.index).split("\n").length,
        specifier,
        target: relative_ ? relative(repoRoot, resolve(dirname(file), specifier)) : undefined,
      });
    }
  };
  walk(dir);
  return out;
}

/** Every import in every source file under `conformanceDir` that breaks the rule. */
export function findViolations(conformanceDir: string, repoRoot = resolve(conformanceDir, "..")): Violation[] {
  const out: Violation[] = [];
  for (const { file, line, specifier, target } of sourceImports(conformanceDir, repoRoot)) {
    if (target !== undefined) {
      if (target.startsWith("src/") || target === "src") out.push({ file, line, specifier, why: "imports the implementation under test (src/)" });
      else if (!(target.startsWith("conformance/") || target.startsWith("gen/"))) out.push({ file, line, specifier, why: `imports ${target}, outside conformance/ and gen/` });
    } else if (!allowedPackage(specifier, file)) {
      out.push({ file, line, specifier, why: "package not allowed in conformance/ (only @bufbuild/protobuf, @connectrpc/*, node built-ins)" });
    }
  }
  return out;
}
