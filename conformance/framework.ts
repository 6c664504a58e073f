/**
 * The conformance framework: test cases with stable ids, spec clauses and levels, features,
 * known failures, and reports (table, JUnit XML, closing line).
 */
import type { Target } from "./target.js";

export type Level = "MUST" | "SHOULD";

/** What an implementation may declare (features file). */
export type Feature =
  | "directory"
  | "relay"
  | "exit"
  | "extend"
  | "proxy"
  | "httpConnect"
  | "congestionControl"
  | "vectorCheck"
  | "onionService"
  | "addOnionService";

export interface TestContext {
  target: Target;
  /** Register cleanup, run after the test whatever its outcome (last registered first). */
  defer(fn: () => unknown): void;
  /** Progress notes, shown with --verbose and in the failure details. */
  note(msg: string): void;
  /** Multiply a base timeout by the run's --timeout-scale. */
  ms(base: number): number;
  signal: AbortSignal;
  /** A resource shared by the tests of one run (made on first use, disposed at the end). */
  resource<T>(name: string, make: () => Promise<T>, dispose: (t: T) => Promise<void> | void): Promise<T>;
}

export interface TestCase {
  /** Stable path-like id, e.g. relay/link/identity-proof. */
  id: string;
  /** The spec clause: proto file + message (+ section). */
  clause: string;
  level: Level;
  /** Features the implementation must declare for this test to run. */
  requires: Feature[];
  /** What it checks, one line. */
  title: string;
  timeoutMs?: number;
  run(ctx: TestContext): Promise<void>;
}

/** A failed expectation; `message` is the one-line explanation printed on failure. */
export class Failure extends Error {
  constructor(
    message: string,
    readonly expected?: string,
    readonly actual?: string,
  ) {
    super(message);
  }
}

/** A test that cannot run against this target (e.g. needs two relays); reported as skipped. */
export class Skip extends Error {}

export function fail(message: string, expected?: string, actual?: string): never {
  throw new Failure(message, expected, actual);
}

export function check(cond: unknown, message: string, expected?: string, actual?: string): asserts cond {
  if (!cond) fail(message, expected, actual);
}

export function skip(reason: string): never {
  throw new Skip(reason);
}

export type Outcome = "passed" | "failed" | "skipped" | "xfail" | "xpass";

export interface TestResult {
  id: string;
  clause: string;
  level: Level;
  outcome: Outcome;
  ms: number;
  message?: string;
  expected?: string;
  actual?: string;
  notes: string[];
}

export interface SuiteSummary {
  results: TestResult[];
  passed: number;
  failed: number;
  skipped: number;
  xfail: number;
  xpass: number;
  /** Failures that count: failed (not known) + xpass (stale known-failure entries). */
  ok: boolean;
  ms: number;
}

/** Glob with `*` (any run of characters except '/'), `**` (anything) and `?`. A bare prefix also matches a subtree. */
export function globMatch(glob: string, id: string): boolean {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        re += ".*";
        i++;
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(id) || (!/[*?]/.test(glob) && (id === glob || id.startsWith(glob.endsWith("/") ? glob : `${glob}/`)));
}

export function summarize(results: TestResult[], ms: number): SuiteSummary {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  const s = { results, passed: count("passed"), failed: count("failed"), skipped: count("skipped"), xfail: count("xfail"), xpass: count("xpass"), ms, ok: false };
  s.ok = s.failed === 0 && s.xpass === 0;
  return s;
}

/** The plain closing line: `N passed, N failed[, N skipped] [(N failed as expected)]`. */
export function closingLine(s: SuiteSummary): string {
  let line = `${s.passed} passed, ${s.failed + s.xpass} failed`;
  if (s.skipped) line += `, ${s.skipped} skipped`;
  if (s.xfail) line += ` (${s.xfail} failed as expected)`;
  return line;
}

const LABEL: Record<Outcome, string> = {
  passed: "PASS",
  failed: "FAIL",
  skipped: "SKIP",
  xfail: "XFAIL",
  xpass: "XPASS",
};

export function table(s: SuiteSummary): string {
  const w = Math.max(4, ...s.results.map((r) => r.id.length));
  const lines = [`${"test id".padEnd(w)}  result  level   time`, `${"-".repeat(w)}  ------  ------  -------`];
  for (const r of s.results) {
    lines.push(`${r.id.padEnd(w)}  ${LABEL[r.outcome].padEnd(6)}  ${r.level.padEnd(6)}  ${(r.ms / 1000).toFixed(2).padStart(6)}s`);
    if (r.outcome === "failed" || r.outcome === "xfail" || r.outcome === "xpass") {
      lines.push(`${" ".repeat(w)}    ${r.outcome === "xpass" ? "passed but listed in the known-failures file (remove it)" : r.message}`);
      lines.push(`${" ".repeat(w)}    spec: ${r.clause}`);
      if (r.expected !== undefined) lines.push(`${" ".repeat(w)}    expected: ${r.expected}`);
      if (r.actual !== undefined) lines.push(`${" ".repeat(w)}    actual:   ${r.actual}`);
    } else if (r.outcome === "skipped") lines.push(`${" ".repeat(w)}    ${r.message}`);
  }
  return lines.join("\n");
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");
}

export function junit(s: SuiteSummary, name = "meowonion-conformance"): string {
  const byGroup = new Map<string, TestResult[]>();
  for (const r of s.results) {
    const g = r.id.split("/").slice(0, 2).join("/");
    byGroup.set(g, [...(byGroup.get(g) ?? []), r]);
  }
  const out = [`<?xml version="1.0" encoding="UTF-8"?>`, `<testsuites name="${xml(name)}" tests="${s.results.length}" failures="${s.failed + s.xpass}" skipped="${s.skipped}" time="${(s.ms / 1000).toFixed(3)}">`];
  for (const [g, rs] of byGroup) {
    const f = rs.filter((r) => r.outcome === "failed" || r.outcome === "xpass").length;
    const sk = rs.filter((r) => r.outcome === "skipped").length;
    out.push(`  <testsuite name="${xml(g)}" tests="${rs.length}" failures="${f}" skipped="${sk}" time="${(rs.reduce((n, r) => n + r.ms, 0) / 1000).toFixed(3)}">`);
    for (const r of rs) {
      out.push(`    <testcase classname="${xml(g)}" name="${xml(r.id)}" time="${(r.ms / 1000).toFixed(3)}">`);
      out.push(`      <properties><property name="clause" value="${xml(r.clause)}"/><property name="level" value="${r.level}"/></properties>`);
      if (r.outcome === "failed") out.push(`      <failure message="${xml(r.message ?? "")}">${xml([`spec: ${r.clause}`, r.expected !== undefined ? `expected: ${r.expected}` : "", r.actual !== undefined ? `actual: ${r.actual}` : "", ...r.notes].filter(Boolean).join("\n"))}</failure>`);
      if (r.outcome === "xpass") out.push(`      <failure message="passed but listed as a known failure (stale known-failures entry)"/>`);
      if (r.outcome === "xfail") out.push(`      <skipped message="${xml(`failed as expected: ${r.message ?? ""}`)}"/>`);
      if (r.outcome === "skipped") out.push(`      <skipped message="${xml(r.message ?? "")}"/>`);
      out.push(`    </testcase>`);
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`);
  return out.join("\n") + "\n";
}
