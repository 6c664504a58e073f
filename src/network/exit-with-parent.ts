/**
 * Preloaded (`node [--import tsx] --import <this file> src/cli.(ts|js) …`) into every node process
 * that `meowonion network --processes` starts, so that no node outlives the network: the
 * parent holds the write end of the child's stdin pipe, and when the parent goes away — even
 * by SIGKILL — the pipe closes, this module sees end-of-file and stops the node the way
 * SIGTERM does (its own graceful shutdown), with a hard exit 5 s later.
 *
 * Only active when MEOWONION_EXIT_WITH_PARENT=1 and stdin is a pipe; stdin is unref'd, so
 * watching it never keeps a finished process alive.
 */
const HARD_EXIT_MS = 5_000;

if (process.env.MEOWONION_EXIT_WITH_PARENT === "1" && !process.stdin.isTTY) {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), HARD_EXIT_MS).unref();
    process.kill(process.pid, "SIGTERM");
  };
  const stdin = process.stdin;
  stdin.on("end", stop);
  stdin.on("close", stop);
  stdin.on("error", stop);
  stdin.on("data", () => undefined); // nothing is ever written; drain anyway
  stdin.resume();
  (stdin as unknown as { unref?: () => void }).unref?.();
}

export {};
