/**
 * ControlService (proto/meowonion/v1/control.proto) over the shared RPC server: Connect, gRPC
 * and gRPC-Web on h2c and HTTP/1.1, with reflection for `buf curl`. A thin layer: the circuit
 * pool holds the state and emits the events; this maps them to RPCs and errors to Codes.
 */
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import {
  BandwidthEventSchema,
  type CircuitInfo,
  ControlService,
  file_meowonion_v1_control,
  type GetStatusResponse,
  type StreamInfo,
  type WatchEventsResponse,
  WatchEventsResponseSchema,
} from "../../gen/meowonion/v1/control_pb.js";
import type { Logger } from "../common/log.js";
import { toConnectError } from "../common/rpc-errors.js";
import { startRpcServer, type RpcServer } from "../common/rpc-server.js";
import { ED25519_KEY_LEN } from "../onion/signing.js";
import { checkHopCount } from "../onion/circuit-limits.js";
import type { CircuitPool } from "./pool.js";
import { parseHostPort } from "../common/host-port.js";
import { MeowOnionError } from "../onion/errors.js";
import type { OnionServicePort } from "./onion/service-targets.js";

const BANDWIDTH_INTERVAL_MS = 1_000;
/** Events buffered for one slow watcher before it is cut off. */
const MAX_QUEUED_EVENTS = 10_000;

/** The onion services a proxy runs, as the ControlService manages them. */
export interface OnionServiceHost {
  addOnionService(options: { ports: OnionServicePort[]; identitySeed?: Uint8Array }): Promise<{ address: string; identitySeed: Uint8Array }>;
  removeOnionService(address: string): void;
}

export function registerControlService(router: ConnectRouter, pool: CircuitPool, services: OnionServiceHost): void {
  router.service(ControlService, {
    getStatus: () => pool.status(),
    listCircuits: () => ({ circuits: pool.circuits() }),
    listStreams: () => ({ streams: pool.streams() }),
    buildCircuit: async (req) => {
      if (req.path.length > 0) {
        try {
          checkHopCount(req.path.length);
        } catch (err) {
          throw toConnectError(err);
        }
      }
      const bad = req.path.findIndex((k) => k.length !== ED25519_KEY_LEN);
      if (bad >= 0) throw new ConnectError(`path[${bad}] is not a ${ED25519_KEY_LEN}-byte identity key`, Code.InvalidArgument);
      try {
        return { circuit: await pool.buildCircuit(req.path) };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    closeCircuit: (req) => {
      try {
        pool.closeCircuit(req.id);
      } catch (err) {
        throw toConnectError(err);
      }
      return {};
    },
    newIdentity: () => ({ circuitsRetired: pool.newIdentity() }),
    watchEvents: (_req, ctx) => watchEvents(pool, ctx),
    addOnionService: async (req) => {
      try {
        if (req.identitySeed.length !== 0 && req.identitySeed.length !== ED25519_KEY_LEN) {
          throw new MeowOnionError("invalid-argument", `identity_seed must be empty or ${ED25519_KEY_LEN} bytes`);
        }
        const ports = req.ports.map((p) => ({ virtualPort: p.virtualPort, ...parseHostPort(p.target) }));
        const service = await services.addOnionService({ ports, identitySeed: req.identitySeed.length > 0 ? req.identitySeed : undefined });
        return { address: service.address, identitySeed: service.identitySeed };
      } catch (err) {
        throw toConnectError(err);
      }
    },
    removeOnionService: (req) => {
      try {
        services.removeOnionService(req.address);
      } catch (err) {
        throw toConnectError(err);
      }
      return {};
    },
  });
}

/** The current status first, then every pool event, and bandwidth once a second. */
async function* watchEvents(pool: CircuitPool, ctx: HandlerContext): AsyncGenerator<WatchEventsResponse> {
  const queue: WatchEventsResponse[] = [];
  let overflow = false;
  let wake: (() => void) | undefined;
  const push = (event: WatchEventsResponse["event"]) => {
    if (queue.length >= MAX_QUEUED_EVENTS) overflow = true;
    else queue.push(create(WatchEventsResponseSchema, { time: timestampNow(), event }));
    wake?.();
  };
  const onCircuit = (value: CircuitInfo) => push({ case: "circuit", value });
  const onStream = (value: StreamInfo) => push({ case: "stream", value });
  const onStatus = (value: GetStatusResponse) => push({ case: "status", value });
  pool.on("circuit", onCircuit);
  pool.on("stream", onStream);
  pool.on("status", onStatus);
  let read = pool.totalBytesReceived;
  let written = pool.totalBytesSent;
  const ticker = setInterval(() => {
    const value = create(BandwidthEventSchema, {
      bytesRead: BigInt(pool.totalBytesReceived - read),
      bytesWritten: BigInt(pool.totalBytesSent - written),
    });
    read = pool.totalBytesReceived;
    written = pool.totalBytesSent;
    push({ case: "bandwidth", value });
  }, BANDWIDTH_INTERVAL_MS);
  const onAbort = () => wake?.();
  ctx.signal.addEventListener("abort", onAbort);
  try {
    yield create(WatchEventsResponseSchema, { time: timestampNow(), event: { case: "status", value: pool.status() } });
    while (!ctx.signal.aborted) {
      if (overflow) throw new ConnectError("too many events queued: the watcher does not keep up", Code.ResourceExhausted);
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    clearInterval(ticker);
    ctx.signal.removeEventListener("abort", onAbort);
    pool.off("circuit", onCircuit);
    pool.off("stream", onStream);
    pool.off("status", onStatus);
  }
}

export function startControlServer(options: { host: string; port: number; pool: CircuitPool; services: OnionServiceHost; log?: Logger }): Promise<RpcServer> {
  return startRpcServer({
    host: options.host,
    port: options.port,
    register: (router) => registerControlService(router, options.pool, options.services),
    files: [file_meowonion_v1_control],
    log: options.log,
  });
}
