/**
 * Circuit pool behaviour on a real local network: maximum dirtiness, rebuilding after a relay
 * dies, build errors as Connect codes, and life without a consensus.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type CircuitInfo, CircuitState, StreamState } from "../../gen/meowonion/v1/control_pb.js";
import { DestroyReason } from "../../gen/meowonion/v1/link_pb.js";
import type { CircuitPool } from "./pool.js";
import { startProxy } from "./proxy.js";
import { LOCAL_EXIT_POLICY, type InProcessNetwork, startInProcessNetwork } from "../../test/helpers/in-process-network.js";

const relays = [
  { nickname: "Exit1", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Exit2", exitPolicy: LOCAL_EXIT_POLICY },
  { nickname: "Middle3" },
  { nickname: "Middle4" },
  { nickname: "Middle5" },
];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function network(proxy: Parameters<typeof startInProcessNetwork>[0]["proxy"] = {}): Promise<InProcessNetwork> {
  const n = await startInProcessNetwork({ relays, proxy });
  cleanups.push(() => n.close());
  return n;
}

async function echoServer(): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as net.AddressInfo).port;
}

/** The first circuit event matching `test` (from now on). */
function nextCircuit(pool: CircuitPool, test: (c: CircuitInfo) => boolean): Promise<CircuitInfo> {
  return new Promise((resolve) => {
    const on = (c: CircuitInfo) => {
      if (!test(c)) return;
      pool.off("circuit", on);
      resolve(c);
    };
    pool.on("circuit", on);
  });
}

async function connectJson(url: string, method: string, body: unknown = {}): Promise<any> {
  const res = await fetch(`${url}/meowonion.v1.ControlService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

async function openAndClose(pool: CircuitPool, port: number): Promise<bigint> {
  let circuitId = 0n;
  const onStream = (s: { state: StreamState; circuitId: bigint }) => {
    if (s.state === StreamState.OPEN) circuitId = s.circuitId;
  };
  pool.on("stream", onStream);
  const { stream } = await pool.openStream("localhost", port, "");
  pool.off("stream", onStream);
  stream.resume();
  stream.end();
  await new Promise((resolve) => stream.on("close", resolve));
  return circuitId;
}

describe("circuit pool", () => {
  it("stops using a circuit after the maximum dirtiness and closes it", async () => {
    const n = await network({ circuits: { maxDirtinessMs: 300 } });
    await n.proxy.ready;
    const port = await echoServer();
    const first = await openAndClose(n.proxy.pool, port);
    const finished = await nextCircuit(n.proxy.pool, (c) => c.id === first && c.state === CircuitState.CLOSED);
    expect(finished.closeReason).toBe(DestroyReason.FINISHED);
    const second = await openAndClose(n.proxy.pool, port);
    expect(second).not.toBe(first);
  });

  it("rebuilds a ready circuit when a relay of the old one dies", async () => {
    const n = await network({ circuits: { backoffInitialMs: 50 } });
    await n.proxy.ready;
    const clean = n.proxy.pool.circuits().find((c) => c.state === CircuitState.OPEN)!;
    const victim = n.relays.find((r) => r.nickname === clean.path[2].nickname)!;
    const replaced = nextCircuit(
      n.proxy.pool,
      (c) => c.state === CircuitState.OPEN && c.isolationKey === "" && !c.path.some((h) => h.nickname === victim.nickname),
    );
    const closed = nextCircuit(n.proxy.pool, (c) => c.id === clean.id && c.state === CircuitState.CLOSED);
    await victim.close();
    await closed;
    expect((await replaced).id).not.toBe(clean.id);
  });

  it("maps build failures to UNAVAILABLE naming the hop, and the build timeout to DEADLINE_EXCEEDED", async () => {
    const n = await network();
    await n.proxy.ready;
    const [m3, m5, e1] = ["Middle3", "Middle5", "Exit1"].map((name) => n.relays.find((r) => r.nickname === name)!);
    await m5.close();
    const path = [m3, m5, e1].map((r) => Buffer.from(r.identityKey).toString("base64"));
    const failed = await connectJson(n.proxy.controlUrl!, "BuildCircuit", { path });
    expect(failed.code).toBe("unavailable");
    expect(failed.message).toContain("hop 1 (Middle5)");

    const slow = await network({ circuits: { buildTimeoutMs: 1, preemptiveCircuits: 0 } });
    while (slow.proxy.pool.status().relaysKnown === 0) await new Promise((resolve) => slow.proxy.pool.once("status", resolve));
    const timedOut = await connectJson(slow.proxy.controlUrl!, "BuildCircuit");
    expect(timedOut.code).toBe("deadline_exceeded");
  });

  it("without a consensus: bootstrap stays at CONSENSUS, BuildCircuit is FAILED_PRECONDITION, SOCKS says general failure", async () => {
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise((resolve) => dead.close(resolve));
    const proxy = await startProxy({
      directories: [{ url: `http://127.0.0.1:${deadPort}`, key: new Uint8Array(32) }],
      socks: { host: "127.0.0.1", port: 0 },
      control: { host: "127.0.0.1", port: 0 },
      circuits: { streamTimeoutMs: 200 },
      consensus: { backoffInitialMs: 50 },
    });
    cleanups.push(() => proxy.close());
    expect(await connectJson(proxy.controlUrl!, "GetStatus")).toMatchObject({ phase: "BOOTSTRAP_PHASE_CONSENSUS", progressPercent: 10 });
    expect((await connectJson(proxy.controlUrl!, "BuildCircuit")).code).toBe("failed_precondition");
    const socket = net.connect(proxy.socksPort, "127.0.0.1");
    socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 3, 9, ...Buffer.from("localhost"), 0, 80]));
    const reply = await new Promise<Buffer>((resolve) => {
      let got = Buffer.alloc(0);
      socket.on("data", (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (got.length >= 12) resolve(got);
      });
    });
    socket.destroy();
    expect(reply[3]).toBe(0x01);
  });
});
