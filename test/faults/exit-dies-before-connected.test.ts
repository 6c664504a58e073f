/**
 * Fault: the exit dies after BEGIN was sent and before it answered CONNECTED. The exit of
 * several ready circuits is frozen (SIGSTOP), SOCKS clients ask for streams that go out on
 * those circuits, then the frozen exit is SIGKILLed. Expect: the proxy retries each stream
 * on another exit and every SOCKS client gets SUCCEEDED and the right bytes, never an error:
 * the failure is invisible to the user (as Tor's stream retry for streams waiting for CONNECTED).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CircuitState, StreamState } from "../../gen/meowonion/v1/control_pb.js";
import { hex, recordEvents } from "../helpers/control.js";
import { type DestServer, expectedSha256, startDestServer } from "../helpers/dest-server.js";
import { type TestNetwork, controlClient, startTestNetwork } from "../helpers/network.js";
import { killAll, removeTempDirs, sleep, waitFor } from "../helpers/procs.js";
import { fetchGenerated } from "../helpers/socks-client.js";

describe("fault: exit dies before CONNECTED", () => {
  let net: TestNetwork;
  let dest: DestServer;

  beforeAll(async () => {
    dest = await startDestServer("127.0.0.1");
    net = await startTestNetwork({ relays: 5, exits: 2, exitPolicy: "accept 127.0.0.0/8:*" });
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await dest?.close();
    await removeTempDirs();
  });

  it("streams waiting for CONNECTED are retried on another exit, invisibly to SOCKS clients", async () => {
    const proxy = net.proxy!;
    const control = controlClient(proxy.controlUrl);
    const [exitA, exitB, g, m1, m2] = net.relays;
    const key = (r: { identity: string }) => Buffer.from(r.identity, "hex");
    // Ready circuits that all exit at A.
    const viaA = [];
    for (const path of [[g, m1, exitA], [m1, m2, exitA], [m2, g, exitA]]) {
      viaA.push((await control.buildCircuit({ path: path.map(key) })).circuit!);
    }
    const events = recordEvents(proxy.controlUrl);
    await sleep(200);
    exitA.proc.signal("SIGSTOP");
    const N = 4;
    const SIZE = 256 * 1024;
    const target = { proxyHost: proxy.socksHost, proxyPort: proxy.socksPort, host: "127.0.0.1", port: dest.port, timeoutMs: 60_000 };
    const fetches = Array.from({ length: N }, (_, i) => fetchGenerated({ ...target, username: `isolated${i}` }, SIZE, `exitdies-${i}`));

    const viaAIds = new Set(viaA.map((c) => c.id));
    // At least one stream is waiting for CONNECTED from the frozen exit.
    const stuck = await waitFor("a stream waiting on the frozen exit", 15_000, () =>
      events.streams.find((e) => e.info.state === StreamState.CONNECTING && viaAIds.has(e.info.circuitId)),
    );
    await sleep(300);
    exitA.proc.signal("SIGKILL");
    // The proxy must survive a DESTROY arriving while BEGIN waits for CONNECTED.
    const survived = await Promise.race([proxy.proc.exited.then(() => false), sleep(3000).then(() => true)]);
    expect(survived, `the proxy process died when the circuit was destroyed before CONNECTED:\n${proxy.proc.stderr.slice(-2500)}`).toBe(true);

    const results = await Promise.all(fetches.map((f) => f.catch((error: Error) => ({ error, complete: false, sha256: "", bytes: 0, intact: true }))));
    events.stop();
    const dump = () =>
      [
        ...events.circuits.map((e) => `${e.at} circuit ${e.info.id} ${CircuitState[e.info.state]} exit=${hex(e.info.path.at(-1)?.identityKey ?? new Uint8Array()).slice(0, 8)} reason=${e.info.closeReason}`),
        ...events.streams.map((e) => `${e.at} stream ${e.info.id} ${StreamState[e.info.state]} circuit=${e.info.circuitId} end=${e.info.endReason}`),
      ].sort().join("\n");
    if (results.some((r) => r.error !== undefined)) {
      console.log(`A=${exitA.identity.slice(0, 8)} B=${exitB.identity.slice(0, 8)} viaA=${[...viaA.map((c) => c.id)]} proxy alive=${proxy.proc.alive}\n${dump()}`);
      console.log((await control.listCircuits({}).catch(() => ({ circuits: [] }))).circuits.map((c) => `${c.id}: ${c.path.map((h) => h.nickname).join(",")}`).join("\n"));
      if (process.env.FAULT_DEBUG) for (const p of [proxy.proc, g.proc, m1.proc, m2.proc]) console.log(`---- ${p.name}\n${p.stderr.slice(-6000)}`);
    }
    for (const [i, r] of results.entries()) {
      expect(r.error).toBeUndefined();
      expect(r.complete).toBe(true);
      expect(r.sha256).toBe(expectedSha256(SIZE, `exitdies-${i}`));
    }
    // The stuck stream ended up OPEN on a circuit whose exit is not A.
    const { circuits } = await control.listCircuits({});
    const exitOf = new Map(circuits.map((c) => [c.id, hex(c.path.at(-1)!.identityKey)]));
    for (const e of events.circuits) exitOf.set(e.info.id, hex(e.info.path.at(-1)?.identityKey ?? new Uint8Array()));
    const opened = events.streams.filter((e) => e.info.id === stuck.info.id && e.info.state === StreamState.OPEN);
    expect(opened.length).toBeGreaterThan(0);
    expect(exitOf.get(opened[0].info.circuitId)).not.toBe(exitA.identity);
    expect([exitB.identity]).toContain(exitOf.get(opened[0].info.circuitId));
    const retried = new Set(events.streams.filter((e) => viaAIds.has(e.info.circuitId)).map((e) => e.info.id)).size;
    console.log(`exit-dies fault: ${retried} of ${N} streams were on the dying exit and were retried; all ${N} SOCKS clients got ${SIZE} correct bytes`);
  }, 180_000);
});
