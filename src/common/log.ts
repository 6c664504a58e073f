/**
 * Structured logging (pino). Loggers are injected: every start function and component takes
 * a Logger, and a caller that gives none gets a child of the process's root logger, made when
 * it is first asked for (never at import). Level from MEOWONION_LOG_LEVEL (default "info"; the
 * test runner's configuration sets "silent"). At info level nothing names a user's destination.
 */
import { destination, pino, type Logger } from "pino";

export type { Logger };

let root: Logger | undefined;

/** The process-wide logger, writing JSON lines to stderr (created on first use). */
export function rootLogger(): Logger {
  root ??= pino({ level: process.env.MEOWONION_LOG_LEVEL || "info", base: { pid: process.pid } }, destination(2));
  return root;
}

/**
 * The root logger for MeowOnion embedded in another program (the library client): warnings and
 * errors only, since the program's stderr is not ours, unless MEOWONION_LOG_LEVEL says otherwise.
 */
export function embeddedLogger(): Logger {
  return rootLogger().child({}, { level: process.env.MEOWONION_LOG_LEVEL || "warn" });
}

/** A logger that writes nothing (a terminal UI owns the screen). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** A logger for one component ("relay", "directory", "link", ...): a child of `parent` (default: the root logger). */
export function componentLogger(component: string, bindings: Record<string, unknown> = {}, parent: Logger = rootLogger()): Logger {
  return parent.child({ component, ...bindings });
}
