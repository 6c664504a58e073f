/**
 * What the TUI knows about the proxy, folded from ControlService answers and events by a pure
 * reducer (testable without a proxy). Closed and failed circuits stay visible for a few
 * seconds, then drop off the list.
 */
import { CircuitState, type CircuitInfo, type GetStatusResponse } from "../../../gen/meowonion/v1/control_pb.js";
import type { BandwidthSample } from "./bandwidth.js";
import type { CircuitRow } from "./circuits.js";

export const GONE_CIRCUIT_LINGER_MS = 5_000;
export const BANDWIDTH_HISTORY = 120;

export interface StatusView {
  phase: number;
  progressPercent: number;
  relaysKnown: number;
  openCircuits: number;
  openStreams: number;
  socksAddress: string;
}

export interface ProxyView {
  status?: StatusView;
  circuits: Map<string, { row: CircuitRow; goneSince?: number }>;
  bandwidth: BandwidthSample[];
  /** Set while the control port cannot be reached. */
  error?: string;
}

export type ProxyViewAction =
  | { type: "status"; status: GetStatusResponse | StatusView }
  | { type: "circuits"; circuits: CircuitRow[]; now: number }
  | { type: "circuit"; circuit: CircuitRow; now: number }
  | { type: "bandwidth"; read: number; written: number }
  | { type: "error"; message: string | undefined }
  | { type: "prune"; now: number };

export const initialProxyView: ProxyView = { circuits: new Map(), bandwidth: [] };

export function toRow(c: CircuitInfo | CircuitRow): CircuitRow {
  return {
    id: c.id,
    state: c.state,
    purpose: c.purpose,
    path: c.path.map((h) => ({ nickname: h.nickname })),
    buildMs: c.buildMs,
    streamCount: c.streamCount,
    bytesSent: c.bytesSent,
    bytesReceived: c.bytesReceived,
  };
}

function toStatus(s: GetStatusResponse | StatusView): StatusView {
  return {
    phase: s.phase,
    progressPercent: s.progressPercent,
    relaysKnown: s.relaysKnown,
    openCircuits: s.openCircuits,
    openStreams: s.openStreams,
    socksAddress: s.socksAddress,
  };
}

const isGone = (s: CircuitState) => s === CircuitState.CLOSED || s === CircuitState.FAILED;

export function proxyViewReducer(view: ProxyView, action: ProxyViewAction): ProxyView {
  switch (action.type) {
    case "status":
      return { ...view, status: toStatus(action.status), error: undefined };
    case "error":
      return view.error === action.message ? view : { ...view, error: action.message };
    case "bandwidth": {
      const bandwidth = [...view.bandwidth, { read: action.read, written: action.written }];
      if (bandwidth.length > BANDWIDTH_HISTORY) bandwidth.splice(0, bandwidth.length - BANDWIDTH_HISTORY);
      return { ...view, bandwidth };
    }
    case "circuit": {
      const circuits = new Map(view.circuits);
      const key = String(action.circuit.id);
      const prev = circuits.get(key);
      const row = toRow(action.circuit);
      // An event may carry a circuit without its counters; keep the largest seen.
      if (prev) {
        if (row.bytesSent < prev.row.bytesSent) row.bytesSent = prev.row.bytesSent;
        if (row.bytesReceived < prev.row.bytesReceived) row.bytesReceived = prev.row.bytesReceived;
        if (row.path.length === 0) row.path = prev.row.path;
      }
      circuits.set(key, { row, goneSince: isGone(row.state) ? (prev?.goneSince ?? action.now) : undefined });
      return { ...view, circuits };
    }
    case "circuits": {
      const circuits = new Map<string, { row: CircuitRow; goneSince?: number }>();
      const listed = new Set<string>();
      for (const c of action.circuits) {
        const key = String(c.id);
        listed.add(key);
        const prev = view.circuits.get(key);
        const row = toRow(c);
        circuits.set(key, { row, goneSince: isGone(row.state) ? (prev?.goneSince ?? action.now) : undefined });
      }
      // A circuit no longer listed has closed: show it as CLOSED for a little while.
      for (const [key, entry] of view.circuits) {
        if (listed.has(key)) continue;
        const goneSince = entry.goneSince ?? action.now;
        if (action.now - goneSince < GONE_CIRCUIT_LINGER_MS) {
          const state = isGone(entry.row.state) ? entry.row.state : CircuitState.CLOSED;
          circuits.set(key, { row: { ...entry.row, state }, goneSince });
        }
      }
      return { ...view, circuits, error: undefined };
    }
    case "prune": {
      let changed = false;
      const circuits = new Map(view.circuits);
      for (const [key, entry] of circuits) {
        if (entry.goneSince !== undefined && action.now - entry.goneSince >= GONE_CIRCUIT_LINGER_MS) {
          circuits.delete(key);
          changed = true;
        }
      }
      return changed ? { ...view, circuits } : view;
    }
  }
}

export function circuitRows(view: ProxyView): CircuitRow[] {
  return [...view.circuits.values()].map((e) => e.row);
}
