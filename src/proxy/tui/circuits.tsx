/** The live list of circuits: id, state, path by relay nickname, build time, bytes, streams. */
import { Box, Text } from "ink";
import { CircuitState } from "../../../gen/meowonion/v1/control_pb.js";
import { formatBytes, formatMs, truncate } from "./format.js";

/** What the list needs of a circuit (a subset of CircuitInfo, so tests can pass plain objects). */
export interface CircuitRow {
  id: bigint;
  state: CircuitState;
  path: { nickname: string }[];
  buildMs: number;
  streamCount: number;
  bytesSent: bigint;
  bytesReceived: bigint;
}

const STATE: Record<number, { label: string; color: string }> = {
  [CircuitState.UNSPECIFIED]: { label: "?", color: "gray" },
  [CircuitState.BUILDING]: { label: "BUILDING", color: "yellow" },
  [CircuitState.OPEN]: { label: "OPEN", color: "green" },
  [CircuitState.FAILED]: { label: "FAILED", color: "red" },
  [CircuitState.CLOSED]: { label: "CLOSED", color: "gray" },
};

/** "Whiskers → Mittens → Tabby" (the hops from guard to exit). */
export function pathLabel(path: { nickname: string }[]): string {
  return path.length === 0 ? "(no hops yet)" : path.map((h) => h.nickname || "?").join(" → ");
}

/** Open and building first (newest first), then the recently failed/closed ones. */
export function sortCircuits<T extends CircuitRow>(rows: T[]): T[] {
  const rank = (s: CircuitState) => (s === CircuitState.OPEN ? 0 : s === CircuitState.BUILDING ? 1 : 2);
  return [...rows].sort((a, b) => rank(a.state) - rank(b.state) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function Circuits(props: { circuits: CircuitRow[]; maxRows?: number; pathWidth?: number }) {
  const maxRows = props.maxRows ?? 6;
  const pathWidth = props.pathWidth ?? 40;
  const rows = sortCircuits(props.circuits);
  const shown = rows.slice(0, maxRows);
  const open = rows.filter((c) => c.state === CircuitState.OPEN).length;
  return (
    <Box flexDirection="column">
      <Text bold>
        {`Circuits (${open} open${rows.length > open ? `, ${rows.length} listed` : ""})`}
      </Text>
      <Text dimColor>
        {`${"id".padStart(5)}  ${"state".padEnd(8)}  ${"path (guard → middle → exit)".padEnd(pathWidth)}  ${"build".padStart(7)}  ${"sent".padStart(9)}  ${"recv".padStart(9)}  str`}
      </Text>
      {shown.length === 0 ? <Text dimColor>{"   (no circuits yet)"}</Text> : null}
      {shown.map((c) => {
        const st = STATE[c.state] ?? STATE[CircuitState.UNSPECIFIED];
        return (
          <Text key={String(c.id)}>
            {`${String(c.id).padStart(5)}  `}
            <Text color={st.color}>{st.label.padEnd(8)}</Text>
            {`  ${truncate(pathLabel(c.path), pathWidth).padEnd(pathWidth)}  ${formatMs(c.buildMs).padStart(7)}  ${formatBytes(c.bytesSent).padStart(9)}  ${formatBytes(c.bytesReceived).padStart(9)}  ${String(c.streamCount).padStart(3)}`}
          </Text>
        );
      })}
      {rows.length > shown.length ? <Text dimColor>{`   … and ${rows.length - shown.length} more`}</Text> : null}
    </Box>
  );
}
