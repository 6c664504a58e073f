/** What a stream may be opened to (relay.proto, Begin and Resolve): one rule for the proxy and the exit. */
import { isIP } from "node:net";

const MAX_HOST_BYTES = 255;
/** Labels of letters, digits and '-', joined by single dots, with at most one dot at the end. */
const DNS_NAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/;

/**
 * Whether BEGIN and RESOLVE may name `host`: an IPv4 or IPv6 literal (no brackets), or a DNS
 * name of 1..255 bytes made of labels of letters, digits and '-' (no empty label: "a..b" is
 * not a name). A proxy refuses anything else before building; an exit answers it with END
 * TORPROTOCOL.
 */
export function isValidBeginHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  return host.length > 0 && host.length <= MAX_HOST_BYTES && DNS_NAME.test(host);
}
