/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`, one .cpuprofile per process): where each
 * of our processes spent its time, by function self time. Used with `--profile DIR`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface HotFunction {
  name: string;
  /** Share of this process's busy (non-idle) samples, 0..1. */
  share: number;
  ms: number;
}

export interface ProfileSummary {
  file: string;
  pid: number;
  totalMs: number;
  /** Share of samples that were not idle (program + GC + code). */
  busyShare: number;
  top: HotFunction[];
}

/** "CPU.20240101.120000.1234.0.001.cpuprofile" → 1234. */
export function pidFromProfileName(file: string): number | undefined {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Self time per function of one profile, the top `n` (idle excluded), with a readable name. */
export function summarizeProfile(profile: CpuProfile, n: number, root = ""): Omit<ProfileSummary, "file" | "pid"> {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const counts = new Map<number, number>();
  if (profile.samples) {
    for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  } else {
    for (const x of profile.nodes) counts.set(x.id, x.hitCount ?? 0);
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0) || 1;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const perName = new Map<string, number>();
  let idle = 0;
  for (const [id, c] of counts) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    if (f.functionName === "(idle)") {
      idle += c;
      continue;
    }
    const where = f.url ? `${relative(root, f.url.replace(/^file:\/\//, "")) || f.url}:${f.lineNumber + 1}` : "";
    const name = `${f.functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    perName.set(name, (perName.get(name) ?? 0) + c);
  }
  const busy = total - idle || 1;
  const top = [...perName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, c]) => ({ name, share: c / busy, ms: (c / total) * totalMs }));
  return { totalMs, busyShare: 1 - idle / total, top };
}

/** Every .cpuprofile in a directory, summarized. */
export function summarizeProfiles(dir: string, n = 8, root = ""): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort()) {
    try {
      const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
      out.push({ file, pid: pidFromProfileName(file) ?? -1, ...summarizeProfile(p, n, root) });
    } catch {
      /* partial file: skip */
    }
  }
  return out;
}
