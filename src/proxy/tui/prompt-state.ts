/**
 * The prompt's editing logic as a pure function of (state, key) so it can be tested without a
 * terminal. Two fields, destination ("host:port") and message; Tab switches, Enter sends,
 * Ctrl-C quits, and 'q' quits when the field being edited is empty (otherwise it is a letter).
 */
import { parseHostPort } from "../../common/host-port.js";

/** The seed paper's limit: a message of at most 256 bytes. */
export const MAX_MESSAGE_BYTES = 256;

export type Field = "destination" | "message";

export interface PromptState {
  destination: string;
  message: string;
  focus: Field;
  /** Why the last Enter did not send, shown under the fields. */
  hint?: string;
}

/** The subset of ink's Key the prompt looks at. */
export interface KeyLike {
  tab?: boolean;
  shift?: boolean;
  return?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
  escape?: boolean;
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
}

export type PromptAction =
  | { kind: "none" }
  | { kind: "quit" }
  | { kind: "send"; target: string; message: string };

export function initialPrompt(destination = ""): PromptState {
  return { destination, message: "", focus: destination ? "message" : "destination" };
}

/** Checks a destination; returns an error message or undefined. */
export function destinationError(destination: string): string | undefined {
  try {
    const { port } = parseHostPort(destination.trim());
    return port === 0 ? "the destination port must be 1-65535" : undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function applyKey(state: PromptState, input: string, key: KeyLike): { state: PromptState; action: PromptAction } {
  const none = { kind: "none" } as const;
  if (key.ctrl && input === "c") return { state, action: { kind: "quit" } };
  const value = state[state.focus];
  if (key.tab || key.upArrow || key.downArrow) {
    return { state: { ...state, focus: state.focus === "destination" ? "message" : "destination", hint: undefined }, action: none };
  }
  if (key.return) {
    const target = state.destination.trim();
    const err = destinationError(target);
    if (err) return { state: { ...state, focus: "destination", hint: `destination: ${err}` }, action: none };
    if (state.message.length === 0) return { state: { ...state, focus: "message", hint: "type a message first" }, action: none };
    return {
      state: { ...state, message: "", focus: "message", hint: undefined },
      action: { kind: "send", target, message: state.message },
    };
  }
  // Terminals send DEL (0x7f) for Backspace, which ink reports as `delete`: both erase left.
  if (key.backspace || key.delete) {
    return { state: { ...state, [state.focus]: value.slice(0, -1), hint: undefined }, action: none };
  }
  if (key.escape) return { state: { ...state, [state.focus]: "", hint: undefined }, action: none };
  if (key.ctrl || key.meta || key.leftArrow || key.rightArrow) return { state, action: none };
  if (input === "q" && value.length === 0) return { state, action: { kind: "quit" } };
  // Printable characters only (a paste may deliver several at once; newlines end a paste).
  // eslint-disable-next-line no-control-regex
  const text = input.replace(/[\x00-\x1f\x7f]/g, "");
  if (text.length === 0) return { state, action: none };
  let next = value + text;
  if (state.focus === "message") {
    while (Buffer.byteLength(next, "utf8") > MAX_MESSAGE_BYTES) next = next.slice(0, -1);
  } else {
    next = next.replace(/\s/g, "").slice(0, 262);
  }
  return { state: { ...state, [state.focus]: next, hint: undefined }, action: none };
}

/**
 * Like applyKey, for one chunk of terminal input: a paste (or keys sent in one write, as
 * `tmux send-keys "text" Enter` does) arrives as one string, and each line break in it is an
 * Enter. Returns every action in order.
 */
export function applyInput(state: PromptState, input: string, key: KeyLike): { state: PromptState; actions: PromptAction[] } {
  if (input.length <= 1 || !/[\r\n]/.test(input)) {
    const r = applyKey(state, input, key);
    return { state: r.state, actions: r.action.kind === "none" ? [] : [r.action] };
  }
  const actions: PromptAction[] = [];
  let s = state;
  for (const part of input.split(/(\r\n|\r|\n)/)) {
    if (part.length === 0) continue;
    const r = /^[\r\n]+$/.test(part) ? applyKey(s, "\r", { return: true }) : applyKey(s, part, {});
    s = r.state;
    if (r.action.kind !== "none") actions.push(r.action);
    if (r.action.kind === "quit") break;
  }
  return { state: s, actions };
}
