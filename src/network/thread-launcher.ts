/**
 * The worker-thread mode of `startNetwork()`: every node still in this process, but the
 * directory authorities and the relays run in `threads` worker threads (thread-host.ts), each
 * node on the thread with the least work so far, so that a large network uses every core
 * instead of one event loop. The proxy and the onion services run on the main thread
 * (inProcessLauncher): they start once the network is ready and need nothing from the workers.
 *
 * Why the authorities too: three authorities listing a thousand relays took 29 CPU-seconds of
 * the main thread's start-up, each worker's 500 relays 14; with them on the workers a 1,000-relay
 * network came up in 42–44 s instead of 47–51 s on 2 cores (docs/network.md).
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../common/log.js";
import { MeowOnionError } from "../onion/errors.js";
import { COMPILED } from "./child.js";
import { inProcessLauncher } from "./in-process.js";
import type { Launcher, NodeHandle, ScaledTiming } from "./launcher.js";
import type { HostData, HostReply, HostRequest } from "./thread-host.js";

type StartRequest = Extract<HostRequest, { kind: "directory" | "relay" }>;

/** A worker thread running nodes, and the requests it has not answered yet. */
interface Host {
  worker: Worker;
  pending: Map<number, { resolve: (reply: HostReply) => void; reject: (err: Error) => void }>;
  /** Set once it failed or exited: its nodes are gone, requests to it fail at once. */
  dead?: Error;
}

/**
 * Compiled (dist/), the worker runs thread-host.js. From TypeScript (tsx, vitest), a worker
 * does not inherit the parent's loader: it registers tsx first, then imports thread-host.ts.
 */
function startWorker(workerData: HostData): Worker {
  if (COMPILED) return new Worker(new URL("./thread-host.js", import.meta.url), { workerData });
  const hostUrl = new URL("./thread-host.ts", import.meta.url).href;
  const code = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(hostUrl)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * An authority's start-up work for each relay of the network, in units of one relay's own
 * start-up work (publication, heartbeats, reachability test, listing; measured at 1,000 relays
 * on 2 threads: ≈ 7 CPU-s per authority, ≈ 43 CPU-ms per relay).
 */
const AUTHORITY_WORK_PER_RELAY = 1 / 5;

/**
 * Runs the authorities and relays on `threads` worker threads, the proxy and onion services on
 * this one. `relays`: how many relays the network will have, to weigh the authorities' work.
 */
export function threadLauncher(
  threads: number,
  readyTimeoutMs: number,
  logger: Logger,
  timing: ScaledTiming,
  relays = 0,
): Launcher & { close(): Promise<void> } {
  if (!Number.isInteger(threads) || threads < 1) throw new MeowOnionError("invalid-argument", `threadLauncher: threads must be at least 1, got ${threads}`);
  const local = inProcessLauncher(readyTimeoutMs, logger, timing);
  let closing = false;
  let nextId = 1;

  const fail = (host: Host, err: Error) => {
    if (host.dead) return;
    host.dead = err;
    if (!closing) logger.error({ err }, "network: a worker thread failed; its nodes are gone");
    for (const { reject } of host.pending.values()) reject(err);
    host.pending.clear();
  };
  const hosts: Host[] = Array.from({ length: threads }, (_, i) => {
    const host: Host = { worker: startWorker({ readyTimeoutMs, timing, logLevel: logger.level }), pending: new Map() };
    host.worker.on("message", (reply: HostReply) => {
      const waiting = host.pending.get(reply.id);
      host.pending.delete(reply.id);
      waiting?.resolve(reply);
    });
    const failed = (why: string, cause?: Error) => fail(host, new MeowOnionError("internal", `worker thread ${i + 1} ${why}`, { cause }));
    host.worker.on("error", (err) => failed(`failed: ${err.message}`, err));
    host.worker.on("messageerror", (err) => failed(`sent an unreadable message: ${err.message}`, err));
    host.worker.on("exit", (code) => failed(`exited (code ${code})`));
    return host;
  });

  const ask = (host: Host, request: HostRequest): Promise<HostReply> => {
    if (host.dead) return Promise.reject(host.dead);
    return new Promise((resolve, reject) => {
      host.pending.set(request.id, { resolve, reject });
      host.worker.postMessage(request);
    });
  };
  // Each node goes to the host with the least work: an authority counts as the share of the
  // relays' work it does for them, so the relays fill in around the authorities; a node's work
  // leaves with it (the authorities' key-generation runs stop before the real ones start).
  const work = hosts.map(() => 0);
  const authorityWeight = Math.max(1, relays * AUTHORITY_WORK_PER_RELAY);
  const start = async (weight: number, request: StartRequest): Promise<NodeHandle> => {
    const index = work.indexOf(Math.min(...work));
    const host = hosts[index];
    work[index] += weight;
    let reply: HostReply;
    try {
      reply = await ask(host, request);
      if (reply.error !== undefined) throw new MeowOnionError(reply.error.kind, reply.error.message);
    } catch (error) {
      work[index] -= weight;
      throw error;
    }
    let held = weight;
    return {
      fields: reply.fields ?? {},
      // A node of a dead worker is already gone.
      stop: async () => {
        work[index] -= held;
        held = 0;
        if (host.dead) return;
        const stopped = await ask(host, { id: nextId++, kind: "stop", node: request.id }).catch(() => undefined);
        if (stopped?.error !== undefined) throw new MeowOnionError(stopped.error.kind, stopped.error.message);
      },
    };
  };

  return {
    directory: (o) => start(authorityWeight, { id: nextId++, kind: "directory", options: o }),
    relay: (o) => start(1, { id: nextId++, kind: "relay", options: o }),
    proxy: (o) => local.proxy(o),
    service: (o) => local.service(o),
    close: async () => {
      closing = true;
      await Promise.all(hosts.map((h) => h.worker.terminate()));
    },
  };
}
