/**
 * Structured logging (pino). One root logger per process; components take a child with
 * `component` set. Level from MEOWONION_LOG_LEVEL (default "info"; tests default to "silent"
 * so their output stays readable). At info level nothing names a user's destination.
 */
import { destination, pino, type Logger } from "pino";

export type { Logger };

function defaultLevel(): string {
  if (process.env.MEOWONION_LOG_LEVEL) return process.env.MEOWONION_LOG_LEVEL;
  return process.env.VITEST ? "silent" : "info";
}

let root: Logger | undefined;

/** The process-wide logger, writing JSON lines to stderr. */
export function rootLogger(): Logger {
  root ??= pino({ level: defaultLevel(), base: { pid: process.pid } }, destination(2));
  return root;
}

/** A logger for one component ("relay", "directory", "link", ...), with extra bindings. */
export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
