// Preloaded into every process of our network by `bench:compare --profile DIR` (through
// NODE_OPTIONS="--import …": Node 20 does not allow --cpu-prof there). Samples the CPU with
// the inspector's profiler and writes DIR/CPU.<ms>.0.<pid>.0.001.cpuprofile when the process
// exits normally (process.exit or an empty event loop), the same format as --cpu-prof.
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.MEOWONION_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 500 });
  session.post("Profiler.start");
  let written = false;
  process.on("exit", () => {
    if (written) return;
    written = true;
    // The in-thread session answers synchronously, so this works in an 'exit' handler.
    session.post("Profiler.stop", (err, result) => {
      if (err || !result) return;
      try {
        writeFileSync(join(dir, `CPU.${Date.now()}.0.${process.pid}.0.001.cpuprofile`), JSON.stringify(result.profile));
      } catch {
        // nowhere to report it
      }
    });
  });
}
