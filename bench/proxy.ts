/**
 * Proxy figures on a real local network in this process (one authority, five relays, the
 * proxy): 3-hop circuit build time as the ControlService reports it (first CREATE2 to last
 * EXTENDED2, links already open), and the time to first byte of a new stream on an existing
 * circuit to a local TCP echo server (open → CONNECTED → 1 byte out → 1 byte back), both
 * through the pool directly and through the SOCKS5 port.
 */
import net from "node:net";
import { CircuitState } from "../gen/meowonion/v1/control_pb.js";
import { FIVE_RELAYS, startInProcessNetwork } from "../test/helpers/in-process-network.js";

const BUILDS = 60;
const STREAMS = 100;
const WARMUP = 5;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const value = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return Math.round(value * 1000) / 1000;
}

function firstByte(socket: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => socket.once("data", () => resolve()));
}

export async function benchProxy(): Promise<Record<string, number>> {
  const network = await startInProcessNetwork({ relays: FIVE_RELAYS });
  const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;
  try {
    const { pool } = network.proxy;
    await network.proxy.ready;

    const builds: number[] = [];
    for (let i = 0; i < WARMUP + BUILDS; i++) {
      const circuit = await pool.buildCircuit();
      if (i >= WARMUP) builds.push(circuit.buildMs);
      pool.closeCircuit(circuit.id);
    }

    // Streams reuse the key's circuit: every stream after the first is new on an existing circuit.
    const direct: number[] = [];
    for (let i = 0; i < WARMUP + STREAMS; i++) {
      const started = performance.now();
      const { stream } = await pool.openStream("127.0.0.1", echoPort, "bench");
      const back = firstByte(stream);
      stream.write("m");
      await back;
      if (i >= WARMUP) direct.push(performance.now() - started);
      stream.destroy();
    }
    if (pool.circuits().filter((c) => c.isolationKey === "bench" && c.state === CircuitState.OPEN).length !== 1) {
      throw new Error("bench streams did not share one circuit");
    }

    const viaSocks: number[] = [];
    for (let i = 0; i < WARMUP + STREAMS; i++) {
      const started = performance.now();
      const socket = net.connect({ host: "127.0.0.1", port: network.proxy.socksPort, noDelay: true });
      // Greeting, CONNECT and the payload in one write: the proxy keeps early data for the stream.
      socket.write(Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff, 0x6d]));
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        socket.on("data", (c: Buffer) => {
          got += c.length;
          if (got >= 2 + 10 + 1) resolve();
        });
        socket.once("error", reject);
      });
      if (i >= WARMUP) viaSocks.push(performance.now() - started);
      socket.destroy();
    }

    return {
      circuit_build_ms_p50: percentile(builds, 50),
      circuit_build_ms_p90: percentile(builds, 90),
      stream_first_byte_ms_p50: percentile(direct, 50),
      socks_stream_first_byte_ms_p50: percentile(viaSocks, 50),
    };
  } finally {
    await new Promise((resolve) => echo.close(resolve));
    await network.close();
  }
}
