/** The prompt (two fields) and the log of messages sent and replies received. */
import { Box, Text } from "ink";
import { formatMs, truncate } from "./format.js";
import { MAX_MESSAGE_BYTES, type PromptState } from "./prompt-state.js";

export interface Exchange {
  id: number;
  target: string;
  message: string;
  status: "sending" | "ok" | "error";
  reply?: string;
  error?: string;
  ms?: number;
}

function Field(props: { label: string; value: string; focused: boolean; placeholder: string; suffix?: string }) {
  return (
    <Text>
      <Text color={props.focused ? "cyan" : undefined} bold={props.focused}>
        {`${props.focused ? "›" : " "} ${props.label.padEnd(12)}`}
      </Text>
      {props.value.length > 0 ? <Text>{props.value}</Text> : <Text dimColor>{props.placeholder}</Text>}
      {props.focused ? <Text inverse>{" "}</Text> : null}
      {props.suffix ? <Text dimColor>{`  ${props.suffix}`}</Text> : null}
    </Text>
  );
}

export function Prompt(props: { state: PromptState; enabled: boolean }) {
  const { state } = props;
  return (
    <Box flexDirection="column">
      <Text bold>Send a message through the onion</Text>
      <Field
        label="destination"
        value={state.destination}
        focused={state.focus === "destination"}
        placeholder="host:port"
      />
      <Field
        label="message"
        value={state.message}
        focused={state.focus === "message"}
        placeholder="say something to the cat at the other end"
        suffix={`${Buffer.byteLength(state.message, "utf8")}/${MAX_MESSAGE_BYTES}`}
      />
      {state.hint ? <Text color="red">{`  ${state.hint}`}</Text> : null}
      <Text dimColor>
        {props.enabled
          ? "  [Tab] switch field  [Enter] send  [Esc] clear field  [q] quit (empty field)  [Ctrl-C] quit"
          : "  (keyboard input unavailable: stdin is not a terminal)"}
      </Text>
    </Box>
  );
}

export function ExchangeLog(props: { exchanges: Exchange[]; maxEntries?: number; width?: number }) {
  const shown = props.exchanges.slice(-(props.maxEntries ?? 4));
  const width = props.width ?? 90;
  if (shown.length === 0) return null;
  return (
    <Box flexDirection="column">
      {shown.map((x) => (
        <Box key={x.id} flexDirection="column">
          <Text>
            <Text color="cyan">{"  you → "}</Text>
            <Text dimColor>{`${x.target}: `}</Text>
            {truncate(x.message, width)}
          </Text>
          {x.status === "sending" ? (
            <Text color="yellow">{"  … the cat is carrying it through three relays"}</Text>
          ) : x.status === "ok" ? (
            <Text>
              <Text color="green">{"  ← "}</Text>
              {truncate((x.reply ?? "").replace(/\s+$/, "").replace(/\r?\n/g, " ⏎ "), width)}
              <Text dimColor>{`  (${formatMs(x.ms ?? 0)})`}</Text>
            </Text>
          ) : (
            <Text color="red">{`  ✗ ${truncate(x.error ?? "failed", width)}`}</Text>
          )}
        </Box>
      ))}
    </Box>
  );
}
