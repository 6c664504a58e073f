/** Resource readings of a process from /proc (Linux): resident memory and open descriptors. */
import { readFile, readdir } from "node:fs/promises";

/** VmRSS in KiB. */
export async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Number of open file descriptors. */
export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

export async function snapshot(pid: number): Promise<{ rssKiB: number; fds: number }> {
  return { rssKiB: await rssKiB(pid), fds: await fdCount(pid) };
}
