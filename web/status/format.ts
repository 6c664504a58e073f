/** Human-readable numbers and times for the page. */

const RATE_UNITS = ["B/s", "KB/s", "MB/s", "GB/s", "TB/s"];

/** Decimal units, as relays advertise them (100 MB/s = 100,000,000 B/s). */
export function formatRate(bytesPerSecond: bigint | undefined): string {
  if (bytesPerSecond === undefined) return "—";
  let value = Number(bytesPerSecond);
  let unit = 0;
  while (value >= 1000 && unit < RATE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${RATE_UNITS[unit]}`;
}

/** "3 d 4 h", "2 h 05 min", "4 min 10 s", "9 s". */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined) return "—";
  const d = Math.floor(seconds / 86_400);
  const hrs = Math.floor((seconds % 86_400) / 3_600);
  const min = Math.floor((seconds % 3_600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${String(min).padStart(2, "0")} min`;
  if (min > 0) return `${min} min ${s} s`;
  return `${s} s`;
}

/** Local date and time to the second, e.g. "2026-11-25 13:30:05". */
export function formatTime(date: Date | undefined): string {
  if (date === undefined) return "—";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/** Clock time only, for chart axes: "13:35", or "13:35:20" for short spans. */
export function formatClock(date: Date, seconds = false): string {
  return formatTime(date).slice(11, seconds ? 19 : 16);
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
