/**
 * The test destination server as its own process (multi-host tests run it in a namespace):
 *   node --import tsx test/helpers/dest-main.ts HOST PORT
 * prints "dest ready addr=HOST:PORT".
 */
import { startDestServer } from "./dest-server.js";

const [host = "127.0.0.1", port = "0"] = process.argv.slice(2);
const server = await startDestServer(host, Number(port));
process.stdout.write(`dest ready addr=${server.host}:${server.port}\n`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
