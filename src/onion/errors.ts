/**
 * The error vocabulary of MeowOnion. Every error the code raises on purpose is a
 * MeowOnionError with a `kind` from one closed set (as Arti's ErrorKind or Connect's Code):
 * what went wrong, in terms a caller can act on, whichever layer found it. Subclasses add the
 * protocol detail (the DESTROY or END reason, the hop, the decoder's reason), and
 * reasons.ts maps any error to END / DESTROY reasons, SOCKS replies and HTTP statuses.
 */
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";

export const ERROR_KINDS = [
  /** A peer broke the protocol: a malformed or unexpected frame, cell or message, a failed handshake. */
  "protocol-violation",
  /** A relay did not prove the identity it was expected to have. */
  "relay-identity",
  /** A relay could not be reached. */
  "relay-unreachable",
  /** Something did not happen in time. */
  "timeout",
  /** A limit was reached (ours or a peer's): too many circuits, streams, queued bytes, requests. */
  "resource-limit",
  /** The link or circuit under this circuit or stream went away (DESTROY, a closed link). */
  "circuit-collapsed",
  /** The exit's policy does not allow the destination. */
  "exit-policy",
  /** The destination refused or reset the connection. */
  "connection-refused",
  /** The destination's name did not resolve. */
  "host-not-found",
  /** No route to the destination. */
  "host-unreachable",
  /** The exit failed the stream without saying why. */
  "exit-failure",
  /** The destination asked for is not valid (a malformed host name, port 0, a `.meow` address that does not check). */
  "invalid-target",
  /** No valid consensus yet: the client has not bootstrapped. */
  "no-consensus",
  /** No path fits the rules with the relays listed. */
  "no-path",
  /** No directory authority gave a usable answer. */
  "directory-failure",
  /** What was asked for does not exist (a circuit id, a relay). */
  "not-found",
  /** What was asked to be made exists already (an onion service this proxy runs). */
  "already-exists",
  /** The caller's request or configuration is invalid. */
  "invalid-argument",
  /** Something stored locally (a key file, saved state) is unusable. */
  "local-state",
  /** A `.meow` name whose length, encoding, checksum, version or key is wrong. */
  "onion-service-bad-address",
  /** No HSDir had a descriptor for the onion service. */
  "onion-service-not-found",
  /** The onion service's descriptor does not verify, decrypt or decode. */
  "onion-service-descriptor-invalid",
  /** No introduction point of the onion service relayed the introduction. */
  "onion-service-introduction-failed",
  /** The onion service never answered at the rendezvous point. */
  "onion-service-rendezvous-failed",
  /** The introduction (or the rendezvous after it) took too long. */
  "onion-service-introduction-timeout",
  /** The caller cancelled the operation. */
  "cancelled",
  /** The node is shutting down. */
  "shutting-down",
  /** A bug: something that should not happen. */
  "internal",
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The base of every error MeowOnion raises on purpose. */
export class MeowOnionError extends Error {
  override readonly name: string = "MeowOnionError";

  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The most specific reason, for logs and metrics: the subclass's own reason, else the kind. */
  get code(): string {
    return this.kind;
  }

  /**
   * Any thrown value as a MeowOnionError: ours as they are, the platform's by their codes
   * (socket errors, aborts), anything else as "internal" with the original as cause.
   */
  static from(error: unknown): MeowOnionError {
    if (error instanceof MeowOnionError) return error;
    if (error instanceof Error) {
      const reason = endReasonOfSocketError(error);
      const kind = reason !== EndReason.MISC ? kindOfEndReason(reason) : error.name === "AbortError" ? "cancelled" : error.name === "TimeoutError" ? "timeout" : "internal";
      return new MeowOnionError(kind, error.message, { cause: error });
    }
    return new MeowOnionError("internal", String(error), { cause: error });
  }
}

/** The END reason an exit gives for a destination socket's error (MISC for codes it does not know). */
export function endReasonOfSocketError(error: unknown): EndReason {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case "ECONNREFUSED":
      return EndReason.CONNECTREFUSED;
    case "ECONNRESET":
    case "EPIPE":
      return EndReason.CONNRESET;
    case "ETIMEDOUT":
      return EndReason.TIMEOUT;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return EndReason.NOROUTE;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return EndReason.RESOLVEFAILED;
    default:
      return EndReason.MISC;
  }
}

/**
 * Why an onion-service address (`<56 base32 characters>.meow`) was refused. All of them are one
 * answer to a SOCKS client (Tor's proposal-304 "bad address"); the reason says which check failed.
 */
export const BAD_ADDRESS_REASONS = [
  "bad-address-length",
  "bad-address-encoding",
  "bad-address-version",
  "bad-address-checksum",
  "bad-address-key",
] as const;

export type BadAddressReason = (typeof BAD_ADDRESS_REASONS)[number];

export type OnionErrorReason =
  | BadAddressReason
  | "bad-descriptor"
  | "frame-too-large"
  | "frame-truncated"
  | "frame-malformed"
  | "cell-malformed"
  | "cell-unrecognized"
  | "body-malformed"
  | "handshake-failed"
  | "bad-key"
  | "bad-signature"
  | "key-file"
  | "flow-control";

/**
 * Errors of the onion core: every decoder and crypto check in src/onion throws only these.
 * A bad key file is local state, a bad onion-service address an invalid target; everything
 * else is a peer breaking the protocol.
 */
export class OnionError extends MeowOnionError {
  override readonly name = "OnionError";

  constructor(
    readonly reason: OnionErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(kindOfOnionErrorReason(reason), message, options);
  }

  override get code(): string {
    return this.reason;
  }
}

function kindOfOnionErrorReason(reason: OnionErrorReason): ErrorKind {
  if (reason === "key-file") return "local-state";
  if ((BAD_ADDRESS_REASONS as readonly string[]).includes(reason)) return "onion-service-bad-address";
  return "protocol-violation";
}

/** A circuit could not be built, or died: `reason` is the DESTROY reason, `hop` the 0-based hop concerned. */
export class CircuitError extends MeowOnionError {
  override readonly name = "CircuitError";

  constructor(
    readonly reason: DestroyReason,
    readonly hop: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(kindOfDestroyReason(reason), message, options);
  }

  override get code(): string {
    return DestroyReason[this.reason] ?? `DESTROY_${this.reason}`;
  }
}

/** A stream could not be opened, or failed: `reason` is the END reason (DESTROY if its circuit died). */
export class StreamError extends MeowOnionError {
  override readonly name = "StreamError";

  constructor(
    readonly reason: EndReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(kindOfEndReason(reason), message, options);
  }

  override get code(): string {
    return EndReason[this.reason] ?? `END_${this.reason}`;
  }
}

/** What a DESTROY reason means for the circuit's user. */
export function kindOfDestroyReason(reason: DestroyReason): ErrorKind {
  switch (reason) {
    case DestroyReason.PROTOCOL:
      return "protocol-violation";
    case DestroyReason.OR_IDENTITY:
      return "relay-identity";
    case DestroyReason.CONNECTFAILED:
      return "relay-unreachable";
    case DestroyReason.TIMEOUT:
      return "timeout";
    case DestroyReason.RESOURCELIMIT:
      return "resource-limit";
    case DestroyReason.INTERNAL:
      return "internal";
    case DestroyReason.HIBERNATING:
      return "shutting-down";
    case DestroyReason.NOSUCHSERVICE:
      return "not-found";
    default:
      return "circuit-collapsed";
  }
}

/** What an END reason means for the stream's user. */
export function kindOfEndReason(reason: EndReason): ErrorKind {
  switch (reason) {
    case EndReason.RESOLVEFAILED:
      return "host-not-found";
    case EndReason.CONNECTREFUSED:
    case EndReason.CONNRESET:
      return "connection-refused";
    case EndReason.EXITPOLICY:
      return "exit-policy";
    case EndReason.DESTROY:
      return "circuit-collapsed";
    case EndReason.TIMEOUT:
      return "timeout";
    case EndReason.NOROUTE:
      return "host-unreachable";
    case EndReason.HIBERNATING:
      return "shutting-down";
    case EndReason.INTERNAL:
      return "internal";
    case EndReason.RESOURCELIMIT:
      return "resource-limit";
    case EndReason.TORPROTOCOL:
      return "protocol-violation";
    default:
      return "exit-failure";
  }
}
