/**
 * `npm test` runs the conformance self-test: the suite against MeowOnion's own network (started
 * through src/cli.ts, black box), against the clean reference, and against every mutant, each of
 * which must be caught. Set MEOWONION_SKIP_CONFORMANCE=1 to skip it locally.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stopAll } from "./lib/process.js";
import { MUTANTS } from "./mutants/catalog.js";
import { type SelftestLine, selftest } from "./selftest.js";

const skip = process.env.MEOWONION_SKIP_CONFORMANCE === "1";

describe.skipIf(skip)("conformance suite", () => {
  let lines: SelftestLine[] = [];

  beforeAll(async () => {
    const res = await selftest({ concurrency: 3 });
    lines = res.lines;
    for (const l of lines) process.stdout.write(`${l.ok ? "ok  " : "FAIL"}  ${l.name}  ${l.text.slice(0, 300)}\n`);
  }, 900_000);

  afterAll(async () => {
    await stopAll();
  });

  it("MeowOnion passes the conformance suite (black box, through src/cli.ts)", () => {
    const ours = lines.find((l) => l.name.startsWith("meowonion"));
    expect(ours?.text).toBeDefined();
    expect(ours!.ok, ours!.text).toBe(true);
  });

  it("the clean reference implementation passes (the suite does not fail correct code)", () => {
    const ref = lines.find((l) => l.name.startsWith("reference"));
    expect(ref?.ok, ref?.text).toBe(true);
  });

  it(`every one of the ${MUTANTS.length} faulty implementations is caught`, () => {
    const missed = lines.filter((l) => l.kind === "mutant" && !l.ok).map((l) => `${l.name}: ${l.text}`);
    expect(lines.filter((l) => l.kind === "mutant").length).toBe(MUTANTS.length);
    expect(missed).toEqual([]);
  });
});
