/**
 * The pool's records of circuits and streams, and how the ControlService shows them
 * (CircuitInfo, StreamInfo).
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ConsensusRelay } from "../../gen/meowonion/v1/consensus_pb.js";
import { type CircuitInfo, CircuitInfoSchema, CircuitPurpose, CircuitState, type StreamInfo, StreamInfoSchema, type StreamState } from "../../gen/meowonion/v1/control_pb.js";
import type { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import type { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { formatHostPort } from "../common/host-port.js";
import { destroyReasonName } from "../onion/reasons.js";
import { type ClientCircuit, relayTargetOf } from "./circuit.js";

export interface PooledCircuit {
  readonly id: bigint;
  /** GENERAL circuits carry exit streams; the others belong to an onion-service client or service. */
  readonly purpose: CircuitPurpose;
  /** For onion-service circuits, the service's `.meow` name. */
  readonly onionService: string | undefined;
  state: CircuitState;
  readonly path: ConsensusRelay[];
  /** Undefined while clean: the first stream's key claims it. */
  isolationKey: string | undefined;
  /** When the first stream was attached (or, for a circuit built for a key, when it opened). */
  dirtySince: number | undefined;
  /** No new streams (NewIdentity, a timed-out BEGIN, CloseCircuit while building). */
  retired: boolean;
  closeRequested: boolean;
  readonly createdAt: Date;
  circuit: ClientCircuit | undefined;
  /** Settles when the build does (never rejects). */
  built: Promise<void>;
  closeReason: DestroyReason;
  /** Hops reached when the build failed (for the path shown). */
  failedAtHop: number | undefined;
  readonly streams: Set<PooledStream>;
}

export interface PooledStream {
  readonly id: bigint;
  circuit: PooledCircuit | undefined;
  state: StreamState;
  readonly target: string;
  bytesSent: number;
  bytesReceived: number;
  endReason: EndReason;
}

/** Why a build failed, naming the hop. */
export function buildFailureText(pooled: PooledCircuit): string {
  const hop = pooled.failedAtHop ?? 0;
  const at = pooled.path[Math.min(hop, pooled.path.length - 1)];
  return `circuit build failed at hop ${hop} (${at.nickname}): ${destroyReasonName(pooled.closeReason)}`;
}

export function circuitInfo(pooled: PooledCircuit): CircuitInfo {
  // While building or after a failure: the hops reached plus the one being extended to.
  const reached = pooled.circuit?.hopCount ?? pooled.failedAtHop ?? 0;
  const shown = pooled.state === CircuitState.OPEN || pooled.state === CircuitState.CLOSED ? pooled.path : pooled.path.slice(0, reached + 1);
  const path = shown.map((r) => ({ nickname: r.nickname, identityKey: r.identityKey, address: formatHostPort(relayTargetOf(r).host, r.orPort) }));
  // Joined at the rendezvous point: the end-to-end hop (the service, or the client at a service).
  const endToEnd = pooled.circuit?.onionService;
  if (endToEnd !== undefined) path.push({ nickname: endToEnd, identityKey: new Uint8Array(0), address: "" });
  return create(CircuitInfoSchema, {
    id: pooled.id,
    purpose: pooled.purpose,
    onionService: pooled.onionService ?? "",
    state: pooled.state,
    path,
    createdAt: timestampFromDate(pooled.createdAt),
    buildMs: pooled.circuit?.buildMs ?? 0,
    streamCount: pooled.streams.size,
    bytesSent: BigInt(pooled.circuit?.bytesSent ?? 0),
    bytesReceived: BigInt(pooled.circuit?.bytesReceived ?? 0),
    closeReason: pooled.closeReason,
    isolationKey: pooled.isolationKey ?? "",
  });
}

export function streamInfo(record: PooledStream): StreamInfo {
  return create(StreamInfoSchema, {
    id: record.id,
    circuitId: record.circuit?.id ?? 0n,
    state: record.state,
    target: record.target,
    bytesSent: BigInt(record.bytesSent),
    bytesReceived: BigInt(record.bytesReceived),
    endReason: record.endReason,
  });
}
