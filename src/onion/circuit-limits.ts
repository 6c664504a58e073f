/** Limits of a circuit's shape that follow from the protocol (link.proto, relay.proto). */
import { MeowOnionError } from "./errors.js";

/** Tor's limit of RELAY_EARLY cells per circuit: a relay destroys a circuit that sends more. */
export const MAX_RELAY_EARLY = 8;

/** The most hops a circuit can have: its first hop is CREATE2, every further one an EXTEND2 in RELAY_EARLY. */
export const MAX_HOPS = MAX_RELAY_EARLY + 1;

/** Throws "invalid-argument" unless `hops` is a whole number of hops a circuit can have. */
export function checkHopCount(hops: number): void {
  if (!Number.isInteger(hops) || hops < 1 || hops > MAX_HOPS) {
    throw new MeowOnionError("invalid-argument", `a circuit has 1..${MAX_HOPS} hops, got ${hops}`);
  }
}
