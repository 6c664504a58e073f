/** Bootstrap progress: consensus → first circuit → ready, as a bar like Tor's "Bootstrapped 100%". */
import { Box, Text } from "ink";
import { BootstrapPhase } from "../../../gen/meowonion/v1/control_pb.js";
import { progressBar } from "./format.js";

export interface BootstrapView {
  phase: BootstrapPhase;
  progressPercent: number;
  relaysKnown: number;
}

const STEPS: { phase: BootstrapPhase; label: string }[] = [
  { phase: BootstrapPhase.CONSENSUS, label: "consensus" },
  { phase: BootstrapPhase.CIRCUIT, label: "first circuit" },
  { phase: BootstrapPhase.DONE, label: "ready" },
];

/** One line describing the current phase. */
export function bootstrapSummary(view: BootstrapView | undefined): string {
  if (!view) return "connecting to the proxy's control port…";
  switch (view.phase) {
    case BootstrapPhase.CONSENSUS:
      return "fetching and verifying the consensus";
    case BootstrapPhase.CIRCUIT:
      return `consensus with ${view.relaysKnown} relays; building the first circuit`;
    case BootstrapPhase.DONE:
      return `ready: ${view.relaysKnown} relays known, circuits open`;
    default:
      return "starting";
  }
}

export function Bootstrap(props: { view: BootstrapView | undefined; width?: number }) {
  const { view } = props;
  const percent = view?.progressPercent ?? 0;
  const phase = view?.phase ?? BootstrapPhase.UNSPECIFIED;
  const done = phase === BootstrapPhase.DONE;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Bootstrapped </Text>
        <Text color={done ? "green" : "yellow"}>{progressBar(percent, props.width ?? 30)}</Text>
        <Text bold>{` ${String(percent).padStart(3)}%`}</Text>
        <Text dimColor>{`  ${bootstrapSummary(view)}`}</Text>
      </Text>
      <Text>
        {STEPS.map((step, i) => {
          const reached = phase >= step.phase && phase !== BootstrapPhase.UNSPECIFIED;
          const current = phase === step.phase && !done;
          const mark = reached && !current ? "✔" : current ? "…" : "·";
          return (
            <Text key={step.label} color={reached && !current ? "green" : current ? "yellow" : "gray"}>
              {`${i > 0 ? "  →  " : ""}${mark} ${step.label}`}
            </Text>
          );
        })}
      </Text>
    </Box>
  );
}
