/**
 * Errors the proxy reports for a stream request, in the spec's vocabulary (EndReason), so
 * the SOCKS and HTTP front ends can map them to reply codes without knowing their cause.
 */
import { EndReason } from "../../gen/meowonion/v1/relay_pb.js";

export class ProxyStreamError extends Error {
  override readonly name = "ProxyStreamError";
  constructor(
    readonly reason: EndReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The EndReason an error stands for: MISC for anything that is not a ProxyStreamError. */
export function endReasonOf(err: unknown): EndReason {
  return err instanceof ProxyStreamError ? err.reason : EndReason.MISC;
}

export function endReasonName(reason: EndReason): string {
  return EndReason[reason] ?? `REASON_${reason}`;
}
