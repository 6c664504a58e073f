/**
 * Building a client circuit: a link to the first hop, then CREATE2 to it and EXTEND2 hop by hop,
 * an ntor handshake each time, all within one deadline. While a handshake travels, the client
 * does the half of its ntor work that does not need the reply, and starts the next hop's.
 * When an extension fails at a relay that keeps the circuit (TRUNCATED: the next relay could
 * not be reached, refused, or was not the relay named), the circuit still ends at that relay,
 * and the builder extends it to a substitute instead of throwing the whole circuit away.
 */
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import { checkHopCount } from "../onion/circuit-limits.js";
import { MAX_RELAY_EARLY } from "../onion/circuit-limits.js";
import { CircuitError } from "../onion/errors.js";
import { type EphemeralKeys, type NtorClientState, ntorClientFinish, ntorClientPrecompute, ntorClientStart, relayIdFromIdentity } from "../onion/ntor.js";
import { toDestroyReason } from "../onion/reasons.js";
import type { ClientChannelManager } from "./channels.js";
import { ClientCircuit, type RelayTarget } from "./circuit.js";

/** How long a whole build may take. */
export const DEFAULT_BUILD_TIMEOUT_MS = 10_000;

export interface BuildOptions {
  timeoutMs?: number;
  /** Ask a last hop that offers it for congestion control. Default true. */
  congestionControl?: boolean;
  /**
   * Extending to `path[hop]` failed (hop ≥ 1) and the circuit still ends at hop - 1: a relay
   * to try there instead, or undefined to give up. Called at most `maxReextends` times.
   */
  replaceHop?: (hop: number, failed: CircuitError) => RelayTarget | undefined;
  /** Substitutes per build. Default 2 (each costs a RELAY_EARLY cell, of 8 per circuit). */
  maxReextends?: number;
}

export const DEFAULT_MAX_REEXTENDS = 2;

/**
 * Build a circuit through `path` (first hop first). Rejects with a CircuitError naming the hop
 * that failed and why (OR_IDENTITY, CONNECTFAILED, TIMEOUT, PROTOCOL, or the reason a relay gave).
 */
export async function buildCircuit(channels: ClientChannelManager, initialPath: RelayTarget[], options: BuildOptions = {}): Promise<ClientCircuit> {
  const path = [...initialPath];
  try {
    checkHopCount(path.length);
  } catch (error) {
    throw new CircuitError(DestroyReason.INTERNAL, 0, (error as Error).message, { cause: error });
  }
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  const deadline = started + timeoutMs;
  let circuit: ClientCircuit | undefined;
  try {
    const channel = await beforeDeadline(channels.channel(path[0]), deadline, () => new CircuitError(DestroyReason.TIMEOUT, 0, `first hop not reached within ${timeoutMs} ms`)).catch(
      (error: unknown) => {
        if (error instanceof CircuitError) throw error;
        throw new CircuitError(toDestroyReason(error), 0, `cannot link to ${path[0].nickname}: ${(error as Error).message}`, { cause: error });
      },
    );
    if (channel.link.isClosed) throw new CircuitError(DestroyReason.CHANNEL_CLOSED, 0, `link to ${path[0].nickname} closed`);
    circuit = new ClientCircuit(channel, channels.context);
    const ephemerals = channels.context.ephemerals;
    let next = startHandshake(path[0], ephemerals);
    // EXTEND2s the circuit may still send: one RELAY_EARLY each.
    let reextends = Math.min(options.maxReextends ?? DEFAULT_MAX_REEXTENDS, MAX_RELAY_EARLY - (path.length - 1));
    for (let hop = 0; hop < path.length; hop++) {
      const { state, onionskin } = next;
      const reply = circuit.handshake(path[hop], onionskin);
      // While the onionskin travels: this hop's half of the ntor work and the next hop's start.
      ntorClientPrecompute(state);
      if (hop + 1 < path.length) next = startHandshake(path[hop + 1], ephemerals);
      let handshake: Uint8Array;
      try {
        handshake = await beforeDeadline(reply, deadline, () => new CircuitError(DestroyReason.TIMEOUT, hop, "circuit build timed out"));
      } catch (error) {
        const substitute = reextendable(circuit, hop, error) && reextends > 0 ? options.replaceHop?.(hop, error) : undefined;
        if (substitute === undefined) throw error;
        reextends--;
        path[hop] = substitute;
        next = startHandshake(substitute, ephemerals);
        hop--;
        continue;
      }
      circuit.addHop(path[hop], finishHandshake(state, handshake, path[hop], hop));
    }
    circuit.markBuilt(performance.now() - started);
    if ((options.congestionControl ?? true) && path[path.length - 1].congestionControl === true) circuit.requestCongestionControl();
    return circuit;
  } catch (error) {
    circuit?.destroy(error instanceof CircuitError && error.reason === DestroyReason.TIMEOUT ? DestroyReason.TIMEOUT : DestroyReason.PROTOCOL);
    if (error instanceof CircuitError) throw error;
    throw new CircuitError(DestroyReason.INTERNAL, circuit?.hopCount ?? 0, (error as Error).message, { cause: error });
  }
}

/** Whether a failed handshake left a circuit that ends at hop - 1 and may be extended again. */
function reextendable(circuit: ClientCircuit, hop: number, error: unknown): error is CircuitError {
  return hop >= 1 && !circuit.isClosed && circuit.hopCount === hop && error instanceof CircuitError && error.reason !== DestroyReason.TIMEOUT;
}

function startHandshake(target: RelayTarget, ephemerals: EphemeralKeys): { state: NtorClientState; onionskin: Uint8Array } {
  return ntorClientStart(relayIdFromIdentity(target.identityKey), target.ntorOnionKey, ephemerals);
}

function finishHandshake(state: NtorClientState, reply: Uint8Array, target: RelayTarget, hop: number): Uint8Array {
  try {
    return ntorClientFinish(state, reply);
  } catch (error) {
    throw new CircuitError(DestroyReason.PROTOCOL, hop, `ntor with ${target.nickname} failed: ${(error as Error).message}`, { cause: error });
  }
}

/** `promise`, or the error `late()` makes if it has not settled by `deadline` (performance.now() time). */
function beforeDeadline<T>(promise: Promise<T>, deadline: number, late: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(late()), Math.max(0, deadline - performance.now()));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Extend an open circuit by one hop to `target` (after `truncate`, to a relay other than the
 * one cut off). Rejects with a CircuitError; on TRUNCATED from the last hop the circuit stays
 * as it was, on anything else it is destroyed.
 */
export async function extendCircuit(circuit: ClientCircuit, target: RelayTarget, timeoutMs = DEFAULT_BUILD_TIMEOUT_MS): Promise<void> {
  const hop = circuit.hopCount;
  const { state, onionskin } = startHandshake(target, circuit.ephemerals);
  const reply = circuit.handshake(target, onionskin);
  ntorClientPrecompute(state);
  try {
    const handshake = await beforeDeadline(reply, performance.now() + timeoutMs, () => new CircuitError(DestroyReason.TIMEOUT, hop, "extension timed out"));
    circuit.addHop(target, finishHandshake(state, handshake, target, hop));
  } catch (error) {
    if (!reextendable(circuit, hop, error)) circuit.destroy(error instanceof CircuitError && error.reason === DestroyReason.TIMEOUT ? DestroyReason.TIMEOUT : DestroyReason.PROTOCOL);
    throw error;
  }
}
