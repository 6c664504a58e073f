/**
 * From the error vocabulary (errors.ts) to the codes each protocol speaks: END reasons for
 * streams, DESTROY reasons for circuits, SOCKS5 replies and HTTP statuses for the proxy's
 * clients. One home for these rules, so that the relay, the proxy and the library agree.
 */
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";
import { CircuitError, type ErrorKind, MeowOnionError, StreamError } from "./errors.js";

const END_REASONS: Partial<Record<ErrorKind, EndReason>> = {
  "protocol-violation": EndReason.TORPROTOCOL,
  "invalid-target": EndReason.TORPROTOCOL,
  timeout: EndReason.TIMEOUT,
  "resource-limit": EndReason.RESOURCELIMIT,
  "circuit-collapsed": EndReason.DESTROY,
  "exit-policy": EndReason.EXITPOLICY,
  "connection-refused": EndReason.CONNECTREFUSED,
  "host-not-found": EndReason.RESOLVEFAILED,
  "host-unreachable": EndReason.NOROUTE,
  "shutting-down": EndReason.HIBERNATING,
  internal: EndReason.INTERNAL,
};

/** The END reason that reports `error` for a stream: a StreamError's own, else by kind (MISC if none fits). */
export function toEndReason(error: unknown): EndReason {
  if (error instanceof StreamError) return error.reason;
  return END_REASONS[MeowOnionError.from(error).kind] ?? EndReason.MISC;
}

const DESTROY_REASONS: Partial<Record<ErrorKind, DestroyReason>> = {
  "protocol-violation": DestroyReason.PROTOCOL,
  "relay-identity": DestroyReason.OR_IDENTITY,
  "relay-unreachable": DestroyReason.CONNECTFAILED,
  timeout: DestroyReason.TIMEOUT,
  "resource-limit": DestroyReason.RESOURCELIMIT,
  "circuit-collapsed": DestroyReason.CHANNEL_CLOSED,
  "shutting-down": DestroyReason.HIBERNATING,
};

/**
 * The DESTROY (or TRUNCATED) reason that reports `error` for a circuit: a CircuitError's own,
 * else by kind (INTERNAL if none fits). A link that could not be opened to a hop is
 * CONNECTFAILED, or OR_IDENTITY when the peer proved another identity.
 */
export function toDestroyReason(error: unknown): DestroyReason {
  if (error instanceof CircuitError) return error.reason;
  return DESTROY_REASONS[MeowOnionError.from(error).kind] ?? DestroyReason.INTERNAL;
}

/** SOCKS5 reply codes (RFC 1928 §6), and Tor's extended codes for onion services (proposal 304). */
export const Socks5Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
  ONION_SERVICE_NOT_FOUND: 0xf0,
  ONION_SERVICE_DESCRIPTOR_INVALID: 0xf1,
  ONION_SERVICE_INTRODUCTION_FAILED: 0xf2,
  ONION_SERVICE_RENDEZVOUS_FAILED: 0xf3,
  ONION_SERVICE_MISSING_CLIENT_AUTH: 0xf4,
  ONION_SERVICE_BAD_CLIENT_AUTH: 0xf5,
  ONION_SERVICE_BAD_ADDRESS: 0xf6,
  ONION_SERVICE_INTRODUCTION_TIMEOUT: 0xf7,
} as const;

/** Onion-service failures have SOCKS codes of their own (proposal 304), whatever their END reason. */
const ONION_SERVICE_REPLIES: Partial<Record<ErrorKind, Socks5Reply>> = {
  "onion-service-not-found": Socks5Reply.ONION_SERVICE_NOT_FOUND,
  "onion-service-descriptor-invalid": Socks5Reply.ONION_SERVICE_DESCRIPTOR_INVALID,
  "onion-service-introduction-failed": Socks5Reply.ONION_SERVICE_INTRODUCTION_FAILED,
  "onion-service-rendezvous-failed": Socks5Reply.ONION_SERVICE_RENDEZVOUS_FAILED,
  "onion-service-bad-address": Socks5Reply.ONION_SERVICE_BAD_ADDRESS,
  "onion-service-introduction-timeout": Socks5Reply.ONION_SERVICE_INTRODUCTION_TIMEOUT,
};

export type Socks5Reply = (typeof Socks5Reply)[keyof typeof Socks5Reply];

/** The SOCKS5 reply for a failed stream (as Tor's stream_end_reason_to_socks5_response). */
export function socks5ReplyFor(error: unknown): Socks5Reply {
  const onionServiceReply = ONION_SERVICE_REPLIES[MeowOnionError.from(error).kind];
  if (onionServiceReply !== undefined) return onionServiceReply;
  switch (toEndReason(error)) {
    case EndReason.EXITPOLICY:
      return Socks5Reply.NOT_ALLOWED;
    case EndReason.CONNECTREFUSED:
    case EndReason.CONNRESET:
      return Socks5Reply.CONNECTION_REFUSED;
    case EndReason.RESOLVEFAILED:
    case EndReason.NOROUTE:
      return Socks5Reply.HOST_UNREACHABLE;
    case EndReason.TIMEOUT:
      return Socks5Reply.TTL_EXPIRED;
    default:
      return Socks5Reply.GENERAL_FAILURE;
  }
}

/** What a SOCKS5 reply says went wrong (for SOCKS clients: the reverse of socks5ReplyFor). */
export function kindOfSocks5Reply(reply: number): ErrorKind {
  switch (reply) {
    case Socks5Reply.NOT_ALLOWED:
      return "exit-policy";
    case Socks5Reply.NETWORK_UNREACHABLE:
    case Socks5Reply.HOST_UNREACHABLE:
      return "host-unreachable";
    case Socks5Reply.CONNECTION_REFUSED:
      return "connection-refused";
    case Socks5Reply.TTL_EXPIRED:
      return "timeout";
    case Socks5Reply.COMMAND_NOT_SUPPORTED:
    case Socks5Reply.ADDRESS_TYPE_NOT_SUPPORTED:
      return "invalid-argument";
    default: {
      const onionService = (Object.keys(ONION_SERVICE_REPLIES) as ErrorKind[]).find((kind) => ONION_SERVICE_REPLIES[kind] === reply);
      return onionService ?? "exit-failure";
    }
  }
}

/** The HTTP status for a failed CONNECT tunnel. */
export function httpStatusFor(error: unknown): number {
  const kind = MeowOnionError.from(error).kind;
  if (kind === "onion-service-bad-address") return 400;
  if (kind === "onion-service-not-found") return 404;
  if (kind === "onion-service-introduction-timeout") return 504;
  switch (toEndReason(error)) {
    case EndReason.EXITPOLICY:
      return 403;
    case EndReason.TIMEOUT:
      return 504;
    default:
      return 502;
  }
}

/** "EXITPOLICY", "TIMEOUT"… for messages. */
export function endReasonName(reason: EndReason): string {
  return EndReason[reason] ?? `REASON_${reason}`;
}

/** "PROTOCOL", "OR_IDENTITY"… for messages. */
export function destroyReasonName(reason: DestroyReason): string {
  return DestroyReason[reason] ?? `REASON_${reason}`;
}
