// Two identities in one program: streams of isolated handles never share a circuit, and a
// new identity moves later streams to new circuits.
//   node examples/isolated-identities.mjs DIRECTORY_URL DIRECTORY_KEY HOST:PORT
// (HOST:PORT: any TCP destination, e.g. the network's echo server.)
// In a clone, `npm run build` first: "meowonion" resolves to this package's dist/.
import { MeowOnion } from "meowonion";

const [url, key, target] = process.argv.slice(2);
const { hostname, port } = new URL(`tcp://${target}`);
const client = await MeowOnion.createBootstrapped({
  directories: [{ url, key }],
  enforceDistinctSubnets: false, // where a local network's relays share 127.0.0.1 (not on Linux: docs/network.md)
  signal: AbortSignal.timeout(60_000),
});

/** The circuit a new stream of `handle` runs on. */
async function circuitOf(handle) {
  const socket = await handle.connect(hostname, Number(port));
  socket.destroy();
  return socket.circuitId;
}

try {
  const alice = client.isolated();
  const bob = client.isolated();
  const aliceCircuit = await circuitOf(alice);
  const bobCircuit = await circuitOf(bob);
  console.log(`alice: circuit ${aliceCircuit}, again ${await circuitOf(alice)}`);
  console.log(`bob: circuit ${bobCircuit}`);
  client.newIdentity();
  console.log(`alice after a new identity: circuit ${await circuitOf(alice)}`);
} finally {
  await client.close();
}
