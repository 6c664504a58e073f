/** Pure formatting helpers for the terminal UI (no React, easy to test). */

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number | bigint): string {
  let v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Bytes per second → "1.5 KiB/s". */
export function formatRate(bytesPerSecond: number | bigint): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Milliseconds → "3.2 ms" / "41 ms" / "1.2 s"; "-" for 0 (not built yet). */
export function formatMs(ms: number): string {
  if (!(ms > 0)) return "-";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

const BARS = "▁▂▃▄▅▆▇█";

/** A sparkline of the last `width` values, scaled to the largest one. */
export function sparkline(values: readonly number[], width: number): string {
  const tail = values.slice(-width);
  const max = Math.max(1, ...tail);
  const line = tail.map((v) => (v <= 0 ? " " : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * BARS.length))])).join("");
  return line.padStart(width, " ");
}

/** A progress bar: "██████░░░░" for `percent` of `width` cells. */
export function progressBar(percent: number, width: number): string {
  const p = Math.max(0, Math.min(100, percent));
  const full = Math.round((p / 100) * width);
  return "█".repeat(full) + "░".repeat(width - full);
}

/** Cuts `s` to `width` columns with an ellipsis. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return "";
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}
