/** Watching and steering a proxy through its ControlService (Connect over HTTP/1.1). */
import { ConnectError } from "@connectrpc/connect";
import { CircuitState, type CircuitInfo, type StreamInfo } from "../../gen/meowonion/v1/control_pb.js";
import { controlClient } from "./network.js";

export interface EventLog {
  circuits: { at: number; info: CircuitInfo }[];
  streams: { at: number; info: StreamInfo }[];
  stop(): void;
}

/** Records every circuit and stream event from WatchEvents until stop(). */
export function recordEvents(controlUrl: string): EventLog {
  const client = controlClient(controlUrl);
  const abort = new AbortController();
  const log: EventLog = { circuits: [], streams: [], stop: () => abort.abort() };
  void (async () => {
    try {
      for await (const event of client.watchEvents({}, { signal: abort.signal })) {
        if (event.event.case === "circuit") log.circuits.push({ at: Date.now(), info: event.event.value });
        if (event.event.case === "stream") log.streams.push({ at: Date.now(), info: event.event.value });
      }
    } catch (error) {
      if (!abort.signal.aborted && !(error instanceof ConnectError)) throw error;
    }
  })();
  return log;
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Open circuits with at least one stream, most streams first. */
export async function busyCircuits(controlUrl: string): Promise<CircuitInfo[]> {
  const { circuits } = await controlClient(controlUrl).listCircuits({});
  return circuits.filter((c) => c.state === CircuitState.OPEN && c.streamCount > 0).sort((a, b) => b.streamCount - a.streamCount);
}
