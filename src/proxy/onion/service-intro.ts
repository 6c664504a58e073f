/**
 * One introduction point of an onion service (onion_service.proto INTRODUCTION AND
 * RENDEZVOUS, step 1 and 4): its keys, its circuit and ESTABLISH_INTRO, and the opening of the
 * INTRODUCE2s it relays, with a replay cache for as long as the point lives.
 */
import { fromBinary, create, toBinary } from "@bufbuild/protobuf";
import type { ConsensusRelay } from "../../../gen/meowonion/v1/consensus_pb.js";
import { CircuitPurpose } from "../../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../../gen/meowonion/v1/link_pb.js";
import {
  type Introduce1,
  Introduce1Schema,
  type IntroducePlaintext,
  IntroducePlaintextSchema,
  type IntroPoint,
  IntroPointSchema,
} from "../../../gen/meowonion/v1/onion_service_pb.js";
import { RelayCommand } from "../../../gen/meowonion/v1/relay_pb.js";
import { formatHostPort } from "../../common/host-port.js";
import { signEstablishIntro } from "../../netdoc/establish-intro.js";
import { MeowOnionError, OnionError } from "../../onion/errors.js";
import { sha3 } from "../../onion/hs/hash.js";
import { type HsNtorServiceState, hsNtorServiceOpen } from "../../onion/hs/hs-ntor.js";
import { generateX25519KeyPair, type X25519KeyPair } from "../../onion/ntor.js";
import { destroyReasonName } from "../../onion/reasons.js";
import { type Ed25519KeyPair, generateEd25519KeyPair } from "../../onion/signing.js";
import type { PooledCircuit } from "../pool-view.js";
import type { CircuitPool } from "../pool.js";
import { nextOnionServiceMessage } from "./messages.js";

const COOKIE_LEN = 20;

/** An introduction, opened: where the client waits, and the handshake to answer it with. */
export interface OpenedIntroduction {
  plaintext: IntroducePlaintext;
  state: HsNtorServiceState;
}

export class ServiceIntroPoint {
  readonly authKey: Ed25519KeyPair = generateEd25519KeyPair();
  readonly encKey: X25519KeyPair = generateX25519KeyPair();
  /** H(encrypted) of every INTRODUCE2 seen through this point. */
  readonly #seen = new Set<string>();
  introductions = 0;
  pooled: PooledCircuit | undefined;
  #retirement: NodeJS.Timeout | undefined;

  constructor(readonly relay: ConsensusRelay) {}

  /** The point as the descriptor lists it. */
  descriptorEntry(): IntroPoint {
    const relay = this.relay;
    return create(IntroPointSchema, {
      linkSpecifiers: [
        { specifier: { case: "address", value: formatHostPort(relay.ipv4Address || relay.ipv6Address, relay.orPort) } },
        { specifier: { case: "identityKey", value: relay.identityKey } },
      ],
      ntorOnionKey: relay.ntorOnionKey,
      authKey: this.authKey.publicKey,
      encKey: this.encKey.publicKey,
    });
  }

  /**
   * Build the intro circuit and register there (ESTABLISH_INTRO, then INTRO_ESTABLISHED).
   * From then on INTRODUCE2s go to `onIntroduce2`. Rejects when the build or the registration fails.
   */
  async establish(pool: CircuitPool, address: string, timeoutMs: number, onIntroduce2: (message: Introduce1) => void): Promise<void> {
    const pooled = await pool.buildOnionServiceCircuit({ purpose: CircuitPurpose.SERVICE_INTRO, lastHop: this.relay, chosenByPeer: false, onionService: address });
    const circuit = pooled.circuit!;
    this.pooled = pooled;
    const established = nextOnionServiceMessage(circuit, RelayCommand.INTRO_ESTABLISHED, timeoutMs, {
      late: () => new MeowOnionError("timeout", `${this.relay.nickname} did not confirm the intro point within ${timeoutMs} ms`),
      gone: (reason) => new MeowOnionError("circuit-collapsed", `intro circuit to ${this.relay.nickname} closed: ${destroyReasonName(reason)}`),
    });
    circuit.sendOnionServiceMessage({ command: RelayCommand.ESTABLISH_INTRO, streamId: 0, body: signEstablishIntro(this.authKey, circuit.lastHopNonce) });
    try {
      await established;
    } catch (error) {
      circuit.destroy(DestroyReason.FINISHED);
      throw error;
    }
    circuit.handleOnionServiceMessages((message) => {
      if (message.command === RelayCommand.INTRODUCE2) onIntroduce2(message.body);
      else circuit.destroy(DestroyReason.PROTOCOL);
    });
  }

  /**
   * Check and open an INTRODUCE2 under any of `subcredentials` (the periods the service has
   * descriptors out for). Throws OnionError for a replay, a MAC that does not check under any
   * of them (not for this service, altered, or stale), or a plaintext that does not decode.
   */
  open(message: Introduce1, subcredentials: readonly Uint8Array[]): OpenedIntroduction {
    const replayKey = sha3(message.encrypted).toString("hex");
    if (this.#seen.has(replayKey)) throw new OnionError("handshake-failed", "a replayed INTRODUCE2");
    const header = toBinary(Introduce1Schema, create(Introduce1Schema, { authKey: message.authKey }));
    const opened = hsNtorServiceOpen(
      { ntorKeyPair: this.encKey, authKey: this.authKey.publicKey, subcredentials },
      header,
      { clientPublicKey: message.clientPublicKey, encrypted: message.encrypted, mac: message.mac },
    );
    // Only an authentic introduction takes room in the cache.
    this.#seen.add(replayKey);
    this.introductions++;
    let plaintext: IntroducePlaintext;
    try {
      plaintext = fromBinary(IntroducePlaintextSchema, opened.plaintext);
    } catch (cause) {
      throw new OnionError("body-malformed", "the introduction's plaintext does not decode", { cause });
    }
    if (plaintext.cookie.length !== COOKIE_LEN) throw new OnionError("body-malformed", `a rendezvous cookie is ${COOKIE_LEN} bytes`);
    return { plaintext, state: opened.state };
  }

  /** Call `retire` after `ms` (intro points are rotated, so none serves a service for long). */
  retireAfter(ms: number, retire: () => void): void {
    this.#retirement = setTimeout(retire, ms).unref();
  }

  close(): void {
    clearTimeout(this.#retirement);
    this.pooled?.circuit?.destroy(DestroyReason.FINISHED);
  }
}
