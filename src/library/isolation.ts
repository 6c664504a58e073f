/**
 * Isolation tokens: streams opened with different tokens never share a circuit (Tor's
 * IsolateSOCKSAuth as an API, Arti's IsolationToken). A token is an opaque object; what the
 * circuit pool compares is the key made from it here.
 */
import { MeowOnionError } from "../onion/errors.js";

const ids = new WeakMap<IsolationToken, number>();
let lastId = 0;

/** A new token shares circuits with no other: give the same token to streams that may share. */
export class IsolationToken {
  constructor() {
    ids.set(this, ++lastId);
  }
}

/**
 * The pool's isolation key for a stream of the client handle holding `handle`, with the
 * stream's own `token` if any. SOCKS keys are percent-encoded credentials
 * (socks-protocol.ts isolationKeyFor), never containing '#': the library's never equal one.
 */
export function isolationKeyOf(handle: IsolationToken, token: IsolationToken | undefined): string {
  if (token !== undefined && !(token instanceof IsolationToken)) throw new MeowOnionError("invalid-argument", "isolation must be an IsolationToken");
  return `library#${ids.get(handle)}#${token === undefined ? "" : ids.get(token)}`;
}
