/** THE RULE: nothing under conformance/ may import src/ (or packages beyond the spec's runtime). */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findViolations } from "./lib/isolation.js";

const here = dirname(fileURLToPath(import.meta.url));

describe("conformance isolation", () => {
  it("no file under conformance/ imports src/ or a disallowed package", () => {
    const v = findViolations(here);
    expect(v.map((x) => `${x.file}:${x.line} ${x.specifier}: ${x.why}`)).toEqual([]);
  });

  it("the check catches a file that imports src/", () => {
    const root = mkdtempSync(join(tmpdir(), "conformance-isolation-"));
    try {
      mkdirSync(join(root, "conformance", "lib"), { recursive: true });
      // Built by concatenation so that this file does not itself contain the patterns it plants.
      const imp = "imp" + "ort";
      const bad = [
        `${imp} { x } from "../../src/onion/ntor.js";`,
        `const y = await ${imp}("../../src/relay/relay.js");`,
        `${imp} "@peculiar/x509";`,
        `${imp} {\n  ok,\n} from "../../gen/meowonion/v1/link_pb.js";`,
        `const cmd = ["--${imp}", "tsx"];`,
      ].join("\n");
      writeFileSync(join(root, "conformance", "lib", "bad.ts"), bad);
      const v = findViolations(join(root, "conformance"), root);
      expect(v.map((x) => x.specifier).sort()).toEqual(["../../src/onion/ntor.js", "../../src/relay/relay.js", "@peculiar/x509"].sort());
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
