/**
 * Bugs the fuzzers found in other modules and that are reported (see README.threat-model.md,
 * "Known defects found by testing"). Each has a failing test in test/fuzz/regressions.test.ts;
 * the fuzz targets recognise them so that a run keeps searching for new bugs meanwhile.
 * Remove an entry once its fix lands: the fuzzers then treat it as a failure again.
 */
import { ConnectError, Code } from "@connectrpc/connect";

export const KNOWN_BUGS = {
  /** src/directory/client.ts verifySignedConsensus: `new Date(validUntil).toISOString()` throws RangeError for a valid_until outside ±8.64e15 ms. */
  "consensus-expired-range-error": (error: unknown) => error instanceof RangeError && /Invalid time value/.test(error.message),
  /** connect-es answers INTERNAL ("parse binary: ...") for a request body that is not protobuf; directory.proto promises INVALID_ARGUMENT. src/common/rpc-server.ts must map it. */
  "rpc-undecodable-body-internal": (error: unknown) =>
    (error instanceof ConnectError && error.code === Code.Internal && /parse binary/.test(error.rawMessage)) ||
    (error instanceof Error && /code=internal: .*parse binary/.test(error.message)) ||
    (error instanceof Error && /code=grpc:13\b/.test(error.message) && /parse binary/.test(error.message)),
  /** src/directory/service.ts getVote: `new Date(periodMs).toISOString()` throws RangeError (answered INTERNAL) for a valid_after outside the Date range. */
  "getvote-range-error-internal": (error: unknown) =>
    error instanceof Error && /GetVote.* code=(internal|grpc:13)\b/.test(error.message) && !/parse binary/.test(error.message),
} as const;

export type KnownBugId = keyof typeof KNOWN_BUGS;

export function knownBugOf(...ids: KnownBugId[]): (error: unknown) => string | undefined {
  return (error) => ids.find((id) => KNOWN_BUGS[id](error));
}
