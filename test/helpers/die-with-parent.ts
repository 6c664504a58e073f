/**
 * Preloaded (`node --import`) into every process the test helpers start: if the test process
 * that started it disappears without its teardown (killed, crashed, a closed pipe), the child
 * kills itself within a second instead of running on as an orphan.
 */
const parent = Number(process.env.MEOWONION_TEST_PARENT_PID);
if (Number.isInteger(parent) && parent > 1) {
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      process.kill(process.pid, "SIGKILL");
    }
  }, 1000).unref();
}
