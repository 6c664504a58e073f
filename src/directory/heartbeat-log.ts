/**
 * The authority's acceptance rules over a relay's log of recently accepted heartbeats:
 *   nonce not seen from this relay within the 60 s window    ALREADY_EXISTS
 *   at most 10 accepted per relay per minute                RESOURCE_EXHAUSTED
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { HeartbeatRequest } from "../../gen/meowonion/v1/directory_pb.js";
import { type DecodedHeartbeat, HEARTBEAT_WINDOW_MS } from "../netdoc/heartbeat.js";

export const HEARTBEAT_RATE_LIMIT = 10;
export const HEARTBEAT_RATE_WINDOW_MS = 60_000;

/** A heartbeat the authority accepted (kept while it matters for replays and the rate). */
export interface AcceptedHeartbeat {
  receivedAtMs: number;
  sentAtMs: number;
  nonceHex: string;
  /** The request as received, so a journal snapshot can rewrite it. */
  request: HeartbeatRequest;
}

/** Replay and rate checks against the relay's log; undefined when the heartbeat is acceptable. */
export function heartbeatLogRefusal(log: readonly AcceptedHeartbeat[], h: DecodedHeartbeat, nowMs: number): ConnectError | undefined {
  if (log.some((e) => e.nonceHex === h.nonceHex)) {
    return new ConnectError("heartbeat nonce was already used (replay)", Code.AlreadyExists);
  }
  const recent = log.filter((e) => e.receivedAtMs > nowMs - HEARTBEAT_RATE_WINDOW_MS).length;
  if (recent >= HEARTBEAT_RATE_LIMIT) {
    return new ConnectError(`more than ${HEARTBEAT_RATE_LIMIT} heartbeats a minute from this relay`, Code.ResourceExhausted);
  }
  return undefined;
}

/**
 * Drops entries that can no longer matter: a nonce only needs remembering while its sent_at is
 * inside the window (later copies are refused as stale), and the rate counts one minute. The
 * newest entry always stays: it says when the relay was last heard from.
 */
export function pruneHeartbeatLog(log: AcceptedHeartbeat[], nowMs: number): AcceptedHeartbeat[] {
  const keep = log.filter(
    (e, i) =>
      i === log.length - 1 ||
      e.sentAtMs >= nowMs - HEARTBEAT_WINDOW_MS ||
      e.receivedAtMs > nowMs - HEARTBEAT_RATE_WINDOW_MS,
  );
  return keep.length === log.length ? log : keep;
}
