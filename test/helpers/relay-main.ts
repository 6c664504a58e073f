/**
 * A relay process with test-chosen resource limits (the command line keeps the documented
 * defaults; fault tests need small ones to reach the out-of-memory policy quickly):
 *   node --import tsx test/helpers/relay-main.ts --listen H:P --directory URL --directory-key HEX
 *        --data-dir DIR --nickname N [--exit-policy P] [--heartbeat S] [--metrics H:P]
 * with MEOWONION_TEST_RELAY_LIMITS='{"maxQueuedBytes": 8388608, ...}' (src/relay/limits.ts).
 * Prints the same ready line as `meowonion relay`, plus "metrics=PORT" when enabled.
 */
import { parseArgs } from "node:util";
import { startRelay } from "../../src/relay/relay.js";

const { values } = parseArgs({
  options: {
    listen: { type: "string" },
    advertise: { type: "string" },
    directory: { type: "string" },
    "directory-key": { type: "string" },
    "data-dir": { type: "string" },
    nickname: { type: "string" },
    "exit-policy": { type: "string" },
    heartbeat: { type: "string" },
    metrics: { type: "string" },
  },
});
const hostPort = (text: string) => {
  const i = text.lastIndexOf(":");
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
};
const listen = hostPort(values.listen!);
const relay = await startRelay({
  host: listen.host,
  port: listen.port,
  advertiseHost: values.advertise,
  dataDir: values["data-dir"]!,
  directories: [{ url: values.directory!, key: Buffer.from(values["directory-key"]!, "hex") }],
  nickname: values.nickname,
  exitPolicy: values["exit-policy"],
  heartbeatSeconds: values.heartbeat ? Number(values.heartbeat) : undefined,
  metrics: values.metrics ? hostPort(values.metrics) : undefined,
  limits: JSON.parse(process.env.MEOWONION_TEST_RELAY_LIMITS ?? "{}"),
});
process.stdout.write(
  `relay ready or=${relay.host}:${relay.port} identity=${Buffer.from(relay.identityKey).toString("hex")} nickname=${relay.nickname}` +
    (relay.metricsPort ? ` metrics=${relay.metricsPort}` : "") +
    "\n",
);
const stop = async () => {
  await relay.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.once("SIGINT", () => void stop());
