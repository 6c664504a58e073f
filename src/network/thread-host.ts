/**
 * A worker thread of the `threads` mode of `startNetwork()` (thread-launcher.ts): runs the
 * directory authorities and relays the main thread sends it, through inProcessLauncher, in
 * this thread's own event loop. Requests and replies are plain messages on `parentPort`.
 */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { componentLogger, rootLogger } from "../common/log.js";
import { type ErrorKind, MeowOnionError } from "../onion/errors.js";
import { inProcessLauncher } from "./in-process.js";
import type { Launcher, NodeHandle, ScaledTiming } from "./launcher.js";

/** What the launcher gives each worker at start. */
export interface HostData {
  readyTimeoutMs: number;
  timing: ScaledTiming;
  /** The main thread's logger level (workers have their own root logger). */
  logLevel: string;
}

/**
 * Main thread → worker: start a node, or stop node `node` (the id of the request that
 * started it). Every request's id is unique and its reply carries it.
 */
export type HostRequest =
  | { id: number; kind: "directory"; options: Parameters<Launcher["directory"]>[0] }
  | { id: number; kind: "relay"; options: Parameters<Launcher["relay"]>[0] }
  | { id: number; kind: "stop"; node: number };

/** Worker → main thread: the started node's ready fields, a stop done (no fields), or why not. */
export type HostReply = { id: number; fields?: Record<string, string>; error?: { kind: ErrorKind; message: string } };

const port = parentPort;
if (port === null) throw new Error("thread-host.ts runs only as a worker thread");
const data = workerData as HostData;
const logger = componentLogger("thread-host", { thread: threadId }, rootLogger().child({}, { level: data.logLevel }));
const launcher = inProcessLauncher(data.readyTimeoutMs, logger, data.timing);
const nodes = new Map<number, NodeHandle>();

async function handle(request: HostRequest): Promise<Record<string, string> | undefined> {
  switch (request.kind) {
    case "directory":
    case "relay": {
      const node = request.kind === "directory" ? await launcher.directory(request.options) : await launcher.relay(request.options);
      nodes.set(request.id, node);
      return node.fields;
    }
    case "stop": {
      const node = nodes.get(request.node);
      nodes.delete(request.node);
      await node?.stop();
      return undefined;
    }
  }
}

port.on("message", (request: HostRequest) => {
  handle(request).then(
    (fields) => port.postMessage({ id: request.id, fields } satisfies HostReply),
    (err: unknown) => {
      const { kind, message } = MeowOnionError.from(err);
      port.postMessage({ id: request.id, error: { kind, message } } satisfies HostReply);
    },
  );
});
