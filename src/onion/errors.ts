/**
 * Typed errors of the onion core. Every decoder and crypto check in src/onion throws only
 * OnionError, so callers can map `reason` to a DESTROY/END reason or a Connect Code.
 */
export type OnionErrorReason =
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

export class OnionError extends Error {
  override readonly name = "OnionError";

  constructor(
    readonly reason: OnionErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
