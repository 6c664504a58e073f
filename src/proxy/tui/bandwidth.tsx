/** Bandwidth per second (the proxy's BandwidthEvent, once a second) with a small history. */
import { Box, Text } from "ink";
import { formatRate, sparkline } from "./format.js";

export interface BandwidthSample {
  read: number;
  written: number;
}

export function Bandwidth(props: { samples: BandwidthSample[]; width?: number }) {
  const width = props.width ?? 30;
  const last = props.samples[props.samples.length - 1] ?? { read: 0, written: 0 };
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Bandwidth </Text>
        <Text color="cyan">{`↓ ${formatRate(last.read).padStart(11)}`}</Text>
        <Text dimColor>{"  "}</Text>
        <Text color="blue">{`↑ ${formatRate(last.written).padStart(11)}`}</Text>
      </Text>
      <Text>
        <Text dimColor>{"     in  "}</Text>
        <Text color="cyan">{sparkline(props.samples.map((s) => s.read), width)}</Text>
      </Text>
      <Text>
        <Text dimColor>{"    out  "}</Text>
        <Text color="blue">{sparkline(props.samples.map((s) => s.written), width)}</Text>
      </Text>
    </Box>
  );
}
