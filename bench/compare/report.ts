/**
 * The figures, their summaries across runs, ratios against Tor's better configuration, and
 * the output: a Markdown table and the JSON object.
 */
import { oursWins, pickBest, ratio, round, summarize, type Better, type Summary } from "./stats.js";

export interface FigureDef {
  key: string;
  label: string;
  unit: string;
  better: Better;
}

/** Every figure, in table order (REQUIRED_KEYS below are the JSON keys the issues ask for). */
export const FIGURES: FigureDef[] = [
  { key: "bulk_mb_per_s", label: "Bulk, one stream", unit: "MB/s", better: "higher" },
  { key: "concurrent_mb_per_s", label: "20 concurrent streams, aggregate", unit: "MB/s", better: "higher" },
  { key: "rtt_ms_p50", label: "Round trip on an open stream, spaced 20 ms, p50", unit: "ms", better: "lower" },
  { key: "rtt_ms_p90", label: "Round trip, spaced, p90", unit: "ms", better: "lower" },
  { key: "rtt_b2b_ms_p50", label: "Round trip, back to back, p50", unit: "ms", better: "lower" },
  { key: "rtt_b2b_ms_p90", label: "Round trip, back to back, p90", unit: "ms", better: "lower" },
  { key: "circuit_build_ms_p50", label: "Circuit build (control API), p50", unit: "ms", better: "lower" },
  { key: "circuit_build_ms_p90", label: "Circuit build, p90", unit: "ms", better: "lower" },
  { key: "fresh_circuit_first_byte_ms_p50", label: "Fresh circuit + first byte, p50", unit: "ms", better: "lower" },
  { key: "fresh_circuit_first_byte_ms_p90", label: "Fresh circuit + first byte, p90", unit: "ms", better: "lower" },
  { key: "onion_service_connect_ms_p50", label: "Onion service: fresh client to first byte, p50", unit: "ms", better: "lower" },
  { key: "onion_service_connect_ms_p90", label: "Onion service: fresh client to first byte, p90", unit: "ms", better: "lower" },
  { key: "onion_service_bulk_mb_per_s", label: "Onion service: bulk, one stream", unit: "MB/s", better: "higher" },
  { key: "ready_ms", label: "Start to usable (first byte via SOCKS)", unit: "ms", better: "lower" },
  { key: "cpu_s_per_100mb", label: "CPU per 100 MB, all network processes", unit: "CPU-s", better: "lower" },
  { key: "peak_rss_mb_relay", label: "Peak memory, largest relay", unit: "MB", better: "lower" },
  { key: "peak_rss_mb_client", label: "Peak memory, client (Tor client / our proxy)", unit: "MB", better: "lower" },
  { key: "peak_rss_mb_authority", label: "Peak memory, directory authority", unit: "MB", better: "lower" },
  { key: "relay_idle_circuit_bytes", label: "Memory per idle circuit at a relay (RSS; it is the last hop)", unit: "bytes", better: "lower" },
  { key: "relay_idle_middle_circuit_bytes", label: "Memory per idle circuit at a relay (RSS; first of 2 hops)", unit: "bytes", better: "lower" },
  { key: "relay_idle_circuit_heap_bytes", label: "… of it JS heap + external (ours only)", unit: "bytes", better: "lower" },
  { key: "relay_idle_middle_circuit_heap_bytes", label: "… of it JS heap + external, first of 2 hops", unit: "bytes", better: "lower" },
];

export const REQUIRED_KEYS = [
  "bulk_mb_per_s",
  "concurrent_mb_per_s",
  "rtt_ms_p50",
  "circuit_build_ms_p50",
  "fresh_circuit_first_byte_ms_p50",
  "ready_ms",
  "cpu_s_per_100mb",
  "onion_service_connect_ms_p50",
  "onion_service_bulk_mb_per_s",
] as const;

/** One run's values: figure key → value (absent or NaN if the workload failed). */
export type RunValues = Record<string, number>;

/** All runs of one network (or configuration). */
export interface SideResult {
  available: boolean;
  /** Why not, if unavailable. */
  reason?: string;
  /** One per round, in order (`{}` for a run that failed): run i of every network came in round i. */
  runs: RunValues[];
  /** Per node (process name): peak memory per run, MB. */
  nodesPeakRssMb: Record<string, number[]>;
  /** Per node: CPU use during the bulk transfer per run, in cores. */
  bulkCpuCores: Record<string, number[]>;
  errors: string[];
  notes: string[];
}

export type SideSummary = Record<string, Summary>;

export function summarizeSide(side: SideResult): SideSummary {
  const out: SideSummary = {};
  for (const f of FIGURES) {
    const s = summarize(side.runs.map((r) => r[f.key] ?? Number.NaN));
    if (s) out[f.key] = s;
  }
  return out;
}

export interface Comparison {
  ours: SideSummary;
  torDefault: SideSummary;
  torVanilla: SideSummary;
  /** The Node.js TLS floor (./floor.ts): empty if it was not run. */
  floor: SideSummary;
  /** Tor's better configuration for each figure, and which one it was. */
  tor: Record<string, Summary & { config: "default" | "vanilla" }>;
  ratio: Record<string, number>;
  /** Ours / the floor, of the medians. */
  ratioToFloor: Record<string, number>;
  /**
   * Ours / Tor's better configuration round by round (run i of each against run i of the
   * other, which shared the machine's state of that moment): how far the ratio moves, and how
   * many rounds ours won. Empty without `rounds`.
   */
  ratioByRound: Record<string, Summary>;
}

/** Each network's runs by round, as in `SideResult.runs`. */
export interface Rounds {
  ours: RunValues[];
  torDefault: RunValues[];
  torVanilla: RunValues[];
}

export function compare(
  ours: SideSummary,
  torDefault: SideSummary,
  torVanilla: SideSummary,
  floor: SideSummary = {},
  rounds?: Rounds,
): Comparison {
  const tor: Comparison["tor"] = {};
  const r: Record<string, number> = {};
  const toFloor: Record<string, number> = {};
  const byRound: Record<string, Summary> = {};
  for (const f of FIGURES) {
    const best = pickBest(torDefault[f.key], torVanilla[f.key], f.better);
    if (best) tor[f.key] = { ...best.summary, config: best.which === 0 ? "default" : "vanilla" };
    const q = ratio(ours[f.key], best?.summary);
    if (q !== undefined) r[f.key] = q;
    const qf = ratio(ours[f.key], floor[f.key]);
    if (qf !== undefined) toFloor[f.key] = qf;
    if (rounds && best) {
      const torRuns = best.which === 0 ? rounds.torDefault : rounds.torVanilla;
      // A figure missing on either side is NaN, a zero of Tor's Infinity: summarize drops both.
      const perRound = summarize(rounds.ours.map((run, i) => (run[f.key] ?? Number.NaN) / (torRuns[i]?.[f.key] ?? Number.NaN)));
      if (perRound) byRound[f.key] = perRound;
    }
  }
  return { ours, torDefault, torVanilla, floor, tor, ratio: r, ratioToFloor: toFloor, ratioByRound: byRound };
}

function fmt(s: Summary | undefined): string {
  if (!s) return "n/a";
  if (s.runs.length === 1 || s.min === s.max) return `${round(s.median)}`;
  return `${round(s.median)} (${round(s.min)}–${round(s.max)})`;
}

/** The rounds' ratios of a figure when there were several to compare, else undefined. */
function severalRounds(byRound: Summary | undefined): Summary | undefined {
  return byRound && byRound.runs.length >= 2 ? byRound : undefined;
}

function verdict(r: number | undefined, better: Better, byRound: Summary | undefined): string {
  const w = oursWins(r, better);
  if (w === undefined || r === undefined) return "";
  const x = better === "higher" ? r : 1 / r;
  const text = w ? `ours ${round(x)}× better` : `Tor ${round(1 / x)}× better`;
  if (!byRound) return text;
  const won = byRound.runs.filter((q) => oursWins(q, better)).length;
  return `${text}; ours won ${won} of ${byRound.runs.length} rounds`;
}

/** The ratio of the medians, and its range over the rounds when there were several. */
function ratioCell(r: number | undefined, byRound: Summary | undefined): string {
  if (r === undefined) return "n/a";
  if (!byRound) return `${round(r)}`;
  return `${round(r)} (${round(byRound.min)}–${round(byRound.max)})`;
}

/** The Markdown table: one row per figure; the floor's column only if it was run. */
export function markdownTable(c: Comparison, oursLabel = "MeowOnion"): string {
  const withFloor = Object.keys(c.floor).length > 0;
  const rows = [
    `| figure | unit | ${oursLabel} | Tor defaults (KIST) | Tor \`Schedulers Vanilla\` | ours / Tor best | |${withFloor ? " Node.js TLS floor | ours / floor |" : ""}`,
    `|---|---|---|---|---|---|---|${withFloor ? "---|---|" : ""}`,
  ];
  for (const f of FIGURES) {
    const t = c.tor[f.key];
    const star = (which: "default" | "vanilla", s: Summary | undefined) =>
      s && t && t.config === which && c.torDefault[f.key] && c.torVanilla[f.key] ? `**${fmt(s)}**` : fmt(s);
    const q = c.ratio[f.key];
    const byRound = severalRounds(c.ratioByRound[f.key]);
    rows.push(
      `| ${f.label} | ${f.unit} | ${fmt(c.ours[f.key])} | ${star("default", c.torDefault[f.key])} | ${star("vanilla", c.torVanilla[f.key])} | ${ratioCell(q, byRound)} | ${verdict(q, f.better, byRound)} |` +
        (withFloor ? ` ${fmt(c.floor[f.key])} | ${c.ratioToFloor[f.key] === undefined ? "n/a" : round(c.ratioToFloor[f.key]!)} |` : ""),
    );
  }
  return rows.join("\n");
}

function plain(s: SideSummary): Record<string, Summary> {
  const out: Record<string, Summary> = {};
  for (const [k, v] of Object.entries(s)) {
    out[k] = { median: round(v.median), min: round(v.min), max: round(v.max), runs: v.runs.map(round) };
  }
  return out;
}

/**
 * The --json object. Figures are { median, min, max, runs }; ratio is ours/Tor-best of the
 * medians, ratio_by_round the same figure form over the rounds' ratios.
 */
export function jsonReport(
  c: Comparison,
  extra: {
    machine: Record<string, unknown>;
    date: string;
    params: Record<string, unknown>;
    sides: { ours: SideResult; tor_default: SideResult; tor_vanilla: SideResult; node_floor?: SideResult };
  },
): Record<string, unknown> {
  const tor: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.tor)) tor[k] = { ...plain({ [k]: v })[k], config: v.config };
  const ratioOut: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.ratio)) ratioOut[k] = round(v);
  const toFloor: Record<string, number> = {};
  for (const [k, v] of Object.entries(c.ratioToFloor)) toFloor[k] = round(v);
  const nodes = (s: SideResult) => Object.fromEntries(Object.entries(s.nodesPeakRssMb).map(([k, v]) => [k, v.map(round)]));
  const side = (s: SideResult, sum: SideSummary) => ({
    available: s.available,
    ...(s.reason ? { reason: s.reason } : {}),
    ...plain(sum),
    nodes_peak_rss_mb: nodes(s),
    bulk_cpu_cores: Object.fromEntries(Object.entries(s.bulkCpuCores).map(([k, v]) => [k, v.map(round)])),
    errors: s.errors,
    notes: s.notes,
  });
  return {
    ours: side(extra.sides.ours, c.ours),
    tor,
    ratio: ratioOut,
    ratio_by_round: plain(c.ratioByRound),
    tor_default: side(extra.sides.tor_default, c.torDefault),
    tor_vanilla: side(extra.sides.tor_vanilla, c.torVanilla),
    ...(extra.sides.node_floor ? { node_floor: side(extra.sides.node_floor, c.floor), ratio_to_floor: toFloor } : {}),
    machine: extra.machine,
    date: extra.date,
    params: extra.params,
    units: Object.fromEntries(FIGURES.map((f) => [f.key, { unit: f.unit, better: f.better, label: f.label }])),
  };
}

/** "Peak memory per node" lines: each process's VmHWM, median over runs, per network. */
export function nodeMemoryLines(sides: Record<string, SideResult>): string {
  const out = ["Peak memory per process (VmHWM, MB, median over runs):", ""];
  for (const [name, s] of Object.entries(sides)) {
    const entries = Object.entries(s.nodesPeakRssMb);
    if (entries.length === 0) continue;
    const parts = entries.map(([node, v]) => `${node} ${round(summarize(v)?.median ?? Number.NaN)}`);
    out.push(`- ${name}: ${parts.join(", ")}`);
  }
  return out.join("\n");
}

/** CPU use of each process during the bulk transfer (which one is the bottleneck). */
export function bulkCpuLines(sides: Record<string, SideResult>): string {
  const out = ["CPU during the bulk transfer, per process (cores; 1 = one core fully busy; median over runs):", ""];
  for (const [name, s] of Object.entries(sides)) {
    const entries = Object.entries(s.bulkCpuCores);
    if (entries.length === 0) continue;
    out.push(`- ${name}: ${entries.map(([node, v]) => `${node} ${round(summarize(v)?.median ?? Number.NaN)}`).join(", ")}`);
  }
  return out.join("\n");
}
