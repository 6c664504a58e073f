/**
 * The MeowOnion terminal UI: the cat, bootstrap progress, live circuits, bandwidth, and the
 * seed paper's prompt (send a message to a destination, see the reply), now over a real
 * stream through the proxy's SOCKS port. Takes its clients as props so tests can run it
 * against a real proxy with ink-testing-library.
 */
import { Box, Text, useApp, useInput, useStdin } from "ink";
import { useCallback, useRef, useState } from "react";
import { BootstrapPhase } from "../../../gen/meowonion/v1/control_pb.js";
import { Bandwidth } from "./bandwidth.js";
import { Bootstrap } from "./bootstrap.js";
import { Cat, type CatMood } from "./cat.js";
import { Circuits } from "./circuits.js";
import type { ControlClient } from "./control.js";
import { ExchangeLog, Prompt, type Exchange } from "./prompt.js";
import { applyInput, initialPrompt, type PromptState } from "./prompt-state.js";
import { circuitRows, type ProxyView } from "./proxy-view.js";
import { exchangeMessage, type ExchangeResult } from "./exchange.js";
import { useProxyView } from "./use-proxy-view.js";

export type SendFn = (target: string, message: string) => Promise<ExchangeResult>;

export interface AppProps {
  control: ControlClient;
  /** The proxy's SOCKS listener, HOST:PORT. */
  socksAddress: string;
  /** Shown in the header only. */
  controlUrl?: string;
  /** How a message is sent; default: a stream through `socksAddress`. */
  send?: SendFn;
  /** Pre-filled destination (e.g. the local network's meow echo server). */
  defaultDestination?: string;
  /** Called when the user quits (q / Ctrl-C), after ink is told to exit. */
  onQuit?: () => void;
  pollMs?: number;
}

/** What the cat feels and says, from the proxy's state and the last message. */
export function catState(view: ProxyView, last: Exchange | undefined): { mood: CatMood; says: string } {
  if (view.error && !view.status) return { mood: "confused", says: "mrrp? I can't reach the proxy yet…" };
  if (view.error) return { mood: "confused", says: "mrrp? the proxy stopped answering" };
  if (last?.status === "sending") return { mood: "busy", says: `carrying your message to ${last.target}…` };
  if (last?.status === "error") return { mood: "upset", says: "hiss! that one did not get through" };
  if (last?.status === "ok") return { mood: "delighted", says: "purr! a reply came back through the onion" };
  const status = view.status;
  if (!status || status.phase !== BootstrapPhase.DONE) {
    return { mood: "sleepy", says: `yawn… waking up the network (${status?.progressPercent ?? 0}%)` };
  }
  return { mood: "happy", says: `meow! ready: ${status.openCircuits} circuit${status.openCircuits === 1 ? "" : "s"} open` };
}

export function App(props: AppProps) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const view = useProxyView(props.control, props.pollMs);
  const [prompt, setPrompt] = useState<PromptState>(() => initialPrompt(props.defaultDestination));
  const [exchanges, setExchanges] = useState<Exchange[]>([]);
  const nextId = useRef(1);
  const promptRef = useRef(prompt);
  promptRef.current = prompt;

  const send = useCallback(
    (target: string, message: string) => {
      const id = nextId.current++;
      const sendFn: SendFn = props.send ?? ((t, m) => exchangeMessage(props.socksAddress, t, m));
      setExchanges((xs) => [...xs.slice(-19), { id, target, message, status: "sending" }]);
      const update = (patch: Partial<Exchange>) =>
        setExchanges((xs) => xs.map((x) => (x.id === id ? { ...x, ...patch } : x)));
      sendFn(target, message).then(
        (r) => update({ status: "ok", reply: r.reply, ms: r.ms }),
        (err: unknown) => update({ status: "error", error: err instanceof Error ? err.message : String(err) }),
      );
    },
    [props.send, props.socksAddress],
  );

  useInput(
    (input, key) => {
      const { state, actions } = applyInput(promptRef.current, input, key);
      promptRef.current = state;
      setPrompt(state);
      for (const action of actions) {
        if (action.kind === "quit") {
          props.onQuit?.();
          exit();
          return;
        }
        if (action.kind === "send") send(action.target, action.message);
      }
    },
    { isActive: isRawModeSupported },
  );

  const last = exchanges[exchanges.length - 1];
  const cat = catState(view, last);
  return (
    <Box flexDirection="column" paddingX={1}>
      <Text>
        <Text bold color="magenta">{"=^.^= MeowOnion"}</Text>
        <Text dimColor>{"  onion proxy  "}</Text>
        <Text>{`socks ${props.socksAddress}`}</Text>
        {props.controlUrl ? <Text dimColor>{`  control ${props.controlUrl}`}</Text> : null}
      </Text>
      <Cat mood={cat.mood} says={cat.says} />
      {view.error ? <Text color="yellow">{`  ${view.error}`}</Text> : null}
      <Box marginTop={1}>
        <Bootstrap view={view.status} />
      </Box>
      <Box marginTop={1}>
        <Circuits circuits={circuitRows(view)} />
      </Box>
      <Box marginTop={1}>
        <Bandwidth samples={view.bandwidth} />
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Prompt state={prompt} enabled={isRawModeSupported} />
        <ExchangeLog exchanges={exchanges} />
      </Box>
    </Box>
  );
}
