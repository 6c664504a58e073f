/**
 * Errors of the vocabulary (onion/errors.ts) as Connect errors, for the RPC services: the
 * kind picks the Code, so a caller sees the same failure the same way over SOCKS, RPC and the
 * library.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorKind, MeowOnionError } from "../onion/errors.js";

const CODES: Partial<Record<ErrorKind, Code>> = {
  "invalid-argument": Code.InvalidArgument,
  "invalid-target": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "already-exists": Code.AlreadyExists,
  "onion-service-bad-address": Code.InvalidArgument,
  "onion-service-not-found": Code.NotFound,
  "onion-service-introduction-timeout": Code.DeadlineExceeded,
  "no-consensus": Code.FailedPrecondition,
  "no-path": Code.FailedPrecondition,
  timeout: Code.DeadlineExceeded,
  "resource-limit": Code.ResourceExhausted,
  cancelled: Code.Canceled,
  "local-state": Code.Internal,
  internal: Code.Internal,
};

/** The Connect Code for an error kind (UNAVAILABLE for the network's own failures). */
export function connectCodeFor(kind: ErrorKind): Code {
  return CODES[kind] ?? Code.Unavailable;
}

/** A ConnectError as it is; any other error by its kind. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const typed = MeowOnionError.from(error);
  return new ConnectError(typed.message, connectCodeFor(typed.kind), undefined, undefined, error);
}
