/**
 * Fault: a relay is SIGKILLed, drops out of the consensus (no heartbeats), and is started again
 * from its data directory. Expect: the same identity key, listed again, usable in circuits.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitState } from "../../gen/meowonion/v1/control_pb.js";
import { type TestNetwork, controlClient, fetchConsensusFrom, restartRelayNode, startTestNetwork, waitForConsensus } from "../helpers/network.js";
import { killAll, removeTempDirs, waitFor } from "../helpers/procs.js";

describe("fault: a relay restarts", () => {
  let net: TestNetwork;

  beforeAll(async () => {
    net = await startTestNetwork({ relays: 4, exits: 2, exitPolicy: "accept 127.0.0.0/8:*", heartbeatTimeoutS: 16 });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await removeTempDirs();
  });

  it("comes back with the same identity and is listed and used again", async () => {
    const victim = net.relays[3];
    victim.proc.signal("SIGKILL");
    await victim.proc.exited;
    await waitFor("the dead relay dropped from the consensus", 60_000, async () => {
      const c = await fetchConsensusFrom(net.dir);
      return c && !c.relays.some((r) => Buffer.from(r.identityKey).toString("hex") === victim.identity) ? true : undefined;
    }, 500);

    const back = await restartRelayNode(victim);
    expect(back.identity).toBe(victim.identity);
    expect(back.or).toBe(victim.or);
    await waitForConsensus(net.dir, net.relays.map((r) => r.identity), 60_000, true);

    // A circuit through it (as middle) builds once the proxy has the new consensus.
    const control = controlClient(net.proxy!.controlUrl);
    const key = (r: { identity: string }) => Buffer.from(r.identity, "hex");
    const circuit = await waitFor("a circuit through the restarted relay", 60_000, async () => {
      const res = await control.buildCircuit({ path: [key(net.relays[2]), key(back), key(net.relays[0])] });
      return res.circuit?.state === CircuitState.OPEN ? res.circuit : undefined;
    }, 1000);
    expect(Buffer.from(circuit.path[1].identityKey).toString("hex")).toBe(victim.identity);
    net.relays[3] = back;
  }, 180_000);
});
