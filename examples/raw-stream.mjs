// A raw stream through MeowOnion, as a net.Socket: send a line to the network's meow echo
// server, half-close, and read the reply until the server closes its side.
//   node examples/raw-stream.mjs DIRECTORY_URL DIRECTORY_KEY HOST:PORT
// (`npx meowonion network` prints the echo server as echo=HOST:PORT.)
// In a clone, `npm run build` first: "meowonion" resolves to this package's dist/.
import { MeowOnion } from "meowonion";

const [url, key, target] = process.argv.slice(2);
const { hostname, port } = new URL(`tcp://${target}`);
const client = await MeowOnion.createBootstrapped({
  directories: [{ url, key }],
  enforceDistinctSubnets: false, // where a local network's relays share 127.0.0.1 (not on Linux: docs/network.md)
  signal: AbortSignal.timeout(60_000),
});
try {
  const socket = await client.connect(hostname, Number(port));
  socket.setTimeout(10_000, () => socket.destroy(new Error("no reply within 10 s")));
  socket.end("hello cat\n"); // END DONE after the line: the reply still comes back
  let reply = "";
  for await (const chunk of socket) reply += chunk;
  console.log(`circuit ${socket.circuitId}: ${reply.trim()}`);
} catch (error) {
  // A MeowOnionError: `kind` is one of ERROR_KINDS, `code` the END reason if the exit gave one.
  console.error(`stream failed (${error.kind ?? "?"}, ${error.code ?? "?"}): ${error.message}`);
  process.exitCode = 1;
} finally {
  await client.close();
}
