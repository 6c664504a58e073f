/** The live list of circuits: id, state, what for, path by relay nickname, build time, bytes, streams. */
import { Box, Text } from "ink";
import { CircuitPurpose, CircuitState } from "../../../gen/meowonion/v1/control_pb.js";
import { formatBytes, formatMs, truncate } from "./format.js";

/** What the list needs of a circuit (a subset of CircuitInfo, so tests can pass plain objects). */
export interface CircuitRow {
  id: bigint;
  state: CircuitState;
  purpose: CircuitPurpose;
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

/** What a circuit is for, in a word: exit streams, or a part in reaching (or running) an onion service. */
const PURPOSE: Record<number, string> = {
  [CircuitPurpose.GENERAL]: "exit",
  [CircuitPurpose.HSDIR]: "hsdir",
  [CircuitPurpose.CLIENT_INTRO]: "intro",
  [CircuitPurpose.CLIENT_RENDEZVOUS]: "rendez",
  [CircuitPurpose.SERVICE_INTRO]: "s-intro",
  [CircuitPurpose.SERVICE_RENDEZVOUS]: "s-rend",
};

export function purposeLabel(purpose: CircuitPurpose): string {
  return PURPOSE[purpose] ?? "?";
}

/** The end-to-end hop of a joined rendezvous circuit: the service (its name, shortened) or, at a service, the client. */
function endToEndLabel(nickname: string): string {
  return nickname.endsWith(".meow") ? `${nickname.slice(0, 8)}….meow` : nickname;
}

/**
 * "Whiskers → Mittens → Tabby" (guard to exit); a joined rendezvous circuit names its far end
 * first, so that it survives truncation: "⇄ abcdefgh….meow via Whiskers → Mittens → Tabby".
 */
export function pathLabel(path: { nickname: string }[], purpose?: CircuitPurpose): string {
  if (path.length === 0) return "(no hops yet)";
  const joined = purpose === CircuitPurpose.CLIENT_RENDEZVOUS || purpose === CircuitPurpose.SERVICE_RENDEZVOUS;
  const relays = joined && path.length > 1 && (path.at(-1)!.nickname.endsWith(".meow") || path.at(-1)!.nickname === "client") ? path.slice(0, -1) : path;
  const label = relays.map((h) => h.nickname || "?").join(" → ");
  return relays === path ? label : `⇄ ${endToEndLabel(path.at(-1)!.nickname)} via ${label}`;
}

/** Open and building first (newest first), then the recently failed/closed ones. */
export function sortCircuits<T extends CircuitRow>(rows: T[]): T[] {
  const rank = (s: CircuitState) => (s === CircuitState.OPEN ? 0 : s === CircuitState.BUILDING ? 1 : 2);
  return [...rows].sort((a, b) => rank(a.state) - rank(b.state) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function Circuits(props: { circuits: CircuitRow[]; maxRows?: number; pathWidth?: number }) {
  const maxRows = props.maxRows ?? 6;
  const pathWidth = props.pathWidth ?? 36;
  const rows = sortCircuits(props.circuits);
  const shown = rows.slice(0, maxRows);
  const open = rows.filter((c) => c.state === CircuitState.OPEN).length;
  return (
    <Box flexDirection="column">
      <Text bold>
        {`Circuits (${open} open${rows.length > open ? `, ${rows.length} listed` : ""})`}
      </Text>
      <Text dimColor>
        {`${"id".padStart(5)}  ${"state".padEnd(8)}  ${"for".padEnd(7)}  ${"path (guard → middle → exit)".padEnd(pathWidth)}  ${"build".padStart(7)}  ${"sent".padStart(9)}  ${"recv".padStart(9)}  str`}
      </Text>
      {shown.length === 0 ? <Text dimColor>{"   (no circuits yet)"}</Text> : null}
      {shown.map((c) => {
        const st = STATE[c.state] ?? STATE[CircuitState.UNSPECIFIED];
        return (
          <Text key={String(c.id)}>
            {`${String(c.id).padStart(5)}  `}
            <Text color={st.color}>{st.label.padEnd(8)}</Text>
            {"  "}
            <Text color={c.purpose === CircuitPurpose.GENERAL ? undefined : "magenta"}>{purposeLabel(c.purpose).padEnd(7)}</Text>
            {`  ${truncate(pathLabel(c.path, c.purpose), pathWidth).padEnd(pathWidth)}  ${formatMs(c.buildMs).padStart(7)}  ${formatBytes(c.bytesSent).padStart(9)}  ${formatBytes(c.bytesReceived).padStart(9)}  ${String(c.streamCount).padStart(3)}`}
          </Text>
        );
      })}
      {rows.length > shown.length ? <Text dimColor>{`   … and ${rows.length - shown.length} more`}</Text> : null}
    </Box>
  );
}
