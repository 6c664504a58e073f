// Preloaded into a relay process by the idle-circuit memory benchmark (bench/idle-circuits.ts)
// through NODE_OPTIONS="--expose-gc --import …". On SIGUSR2 it runs full garbage collections
// and writes the process's memory figures as JSON to $MEOWONION_BENCH_MEM_FILE (atomically,
// with a sequence number so the benchmark knows the answer is to its signal); with
// $MEOWONION_BENCH_HEAP_SNAPSHOT_DIR set it also writes a V8 heap snapshot there (profiling).
// Nothing happens without MEOWONION_BENCH_MEM_FILE.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";

const file = process.env.MEOWONION_BENCH_MEM_FILE;
if (file) {
  let seq = 0;
  process.on("SIGUSR2", () => {
    seq++;
    // Several passes: weak callbacks and finalizers of the first free more on the next.
    for (let i = 0; i < 4; i++) globalThis.gc?.();
    const usage = process.memoryUsage();
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
    const snapshotDir = process.env.MEOWONION_BENCH_HEAP_SNAPSHOT_DIR;
    const snapshot = snapshotDir ? writeHeapSnapshot(join(snapshotDir, `relay-${process.pid}-${seq}.heapsnapshot`)) : undefined;
    const out = {
      seq,
      gc: typeof globalThis.gc === "function",
      rss: kb("VmRSS") * 1024,
      heapUsed: usage.heapUsed,
      heapTotal: usage.heapTotal,
      external: usage.external,
      arrayBuffers: usage.arrayBuffers,
      // Per V8 heap space: bytes in use and committed (the young generation grows with the
      // allocation rate and stays grown, whatever the number of circuits).
      spaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size }])),
      ...(snapshot ? { snapshot } : {}),
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(out));
    renameSync(`${file}.tmp`, file);
  });
}
