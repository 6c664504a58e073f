/** Waiting for the onion-service messages of a circuit's last hop (onion_service.proto). */
import { DestroyReason } from "../../../gen/meowonion/v1/link_pb.js";
import { RelayCommand } from "../../../gen/meowonion/v1/relay_pb.js";
import type { RelayMessage } from "../../onion/relay-cell.js";
import type { ClientCircuit } from "../circuit.js";

export type MessageOf<C extends RelayCommand> = Extract<RelayMessage, { command: C }>;

/**
 * The next onion-service message of `circuit`, which must be `command`: rejects with `late()`
 * after `timeoutMs`, with `gone()` if the circuit closes first; another command is a protocol
 * violation that destroys the circuit.
 */
export function nextOnionServiceMessage<C extends RelayCommand>(
  circuit: ClientCircuit,
  command: C,
  timeoutMs: number,
  errors: { late: () => Error; gone: (reason: DestroyReason) => Error },
): Promise<MessageOf<C>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      circuit.off("close", onClose);
    };
    const onClose = (reason: DestroyReason) => {
      done();
      reject(errors.gone(reason));
    };
    const timer = setTimeout(() => {
      done();
      reject(errors.late());
    }, timeoutMs);
    if (circuit.isClosed) {
      onClose(DestroyReason.FINISHED);
      return;
    }
    circuit.once("close", onClose);
    circuit.handleOnionServiceMessages((message) => {
      done();
      if (message.command === command) {
        resolve(message as MessageOf<C>);
        return;
      }
      circuit.destroy(DestroyReason.PROTOCOL);
      reject(errors.gone(DestroyReason.PROTOCOL));
    });
  });
}
